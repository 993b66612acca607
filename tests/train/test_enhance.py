"""Enhancement H: each flag does what it says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.train.enhance import EnhanceConfig, enhance

RATE = 16000


def _scene(seconds: float = 2.0):
    from engine.kit.rooms import RoomConfig
    from engine.kit.scene import SceneSpec, render_scene

    spec = SceneSpec(room=RoomConfig(rt60_s=0.9), ambience="proc:rain", snr_db=5.0, seed=11)
    return render_scene(spec, seconds, RATE)


def test_clean_is_identity():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    config = EnhanceConfig.clean()
    assert config.is_identity
    y = enhance(x, RATE, config, np.random.default_rng(1))
    assert y.dtype == np.float32 and np.array_equal(y, x) and y is not x


@pytest.mark.parametrize("sigma", [1e-3, 0.05])
def test_noise_has_the_requested_std(sigma):
    x = np.sin(np.arange(4 * RATE) / 10.0).astype(np.float32) * 0.3
    y = enhance(x, RATE, replace(EnhanceConfig.clean(), noise_std=sigma), np.random.default_rng(2))
    assert np.std(y.astype(np.float64) - x) == pytest.approx(sigma, rel=0.02)


def test_separation_removes_the_ambience_and_keeps_the_speech():
    rec = _scene()
    config = EnhanceConfig.separation_only()

    def level_db(x):
        return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))

    ambience, wet = rec.ambience[:, 0], rec.wet[:, 0]
    y = enhance(rec.mix[:, 0], RATE, config, np.random.default_rng(0))
    assert y.shape == wet.shape and np.isfinite(y).all()
    assert level_db(enhance(ambience, RATE, config, np.random.default_rng(0))) < level_db(ambience) - 20.0
    assert abs(level_db(y) - level_db(wet)) < 10.0


def test_dereverberation_only_changes_the_signal_and_keeps_length():
    wet = _scene().wet[:, 0]
    config = EnhanceConfig(separate=False, dereverberate=True, noise_std=0.0)
    y = enhance(wet, RATE, config, np.random.default_rng(0))
    assert y.shape == wet.shape and np.isfinite(y).all()
    assert not np.allclose(y, wet, atol=1e-4)
    assert np.array_equal(y, enhance(wet, RATE, config, np.random.default_rng(5)))  # deterministic without noise


def test_configs_have_distinct_cache_keys():
    keys = {EnhanceConfig().key(), EnhanceConfig.clean().key(), EnhanceConfig.separation_only().key()}
    assert len(keys) == 3
    with pytest.raises(ValueError):
        EnhanceConfig(noise_std=-1.0)
