"""The residual formulation: the words are the match engine's direct path, the model adds the scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.diffusion import Stylizer, StylizerConfig, StylizerPipeline, save_checkpoint
from engine.diffusion.checkpoint import checkpoint_formulation
from engine.stylize.crossover import CROSSOVER_BAND_HZ, power_crossover
from engine.restyle import restyle
from engine.settings import Settings
from presets.store import load_preset

from tests.diffusion.conftest import jitter_, make_wave
from tests.stylize.test_renderer import FACTORY, speech


@pytest.fixture(scope="module")
def residual_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = StylizerConfig.named("tiny", "residual")
    path = tmp_path_factory.mktemp("ckpt") / "residual"
    save_checkpoint(jitter_(Stylizer(config)), config, path)
    return path


def test_config_switch_names_the_stems() -> None:
    full, residual = StylizerConfig.named("tiny"), StylizerConfig.named("tiny", "residual")
    assert full.stem_names == ("mix",) and residual.stem_names == ("reverb", "ambience")
    assert residual.unet.noisy_channels == 2 * full.unet.noisy_channels
    assert StylizerConfig.from_dict(residual.to_dict()) == residual
    with pytest.raises(ValueError, match="formulation"):
        StylizerConfig.named("tiny", "halfway")


def test_pipeline_renders_one_wave_per_stem() -> None:
    torch.manual_seed(0)
    model = jitter_(Stylizer(StylizerConfig.named("tiny", "residual")))
    pipe = StylizerPipeline.from_stylizer(model)
    wave = make_wave(1.28)
    condition = pipe.encode_condition(make_wave(1.28, seed=1), torch.full((1, 3, 64, 64), 0.5))
    out = pipe(wave, condition, steps=2, guidance_scale=1.0)
    assert out.wave.shape == (1, 2, wave.shape[-1]) and out.mel.shape[:2] == (1, 2)
    assert not torch.allclose(out.wave[:, 0], out.wave[:, 1])  # two stems, not one copied


def test_power_crossover_keeps_diffuse_sound_flat() -> None:
    low, high = power_crossover(48000)
    assert len(low) == len(high) and len(low) % 2 == 1
    np.testing.assert_allclose(low, low[::-1], atol=1e-12)  # linear phase: both delay by (taps - 1) / 2
    f = np.fft.rfftfreq(1 << 16, 1 / 48000)
    power = np.abs(np.fft.rfft(low, 1 << 16)) ** 2 + np.abs(np.fft.rfft(high, 1 << 16)) ** 2
    band = (f > 1000) & (f < 20000)
    assert np.max(np.abs(10 * np.log10(power[band]))) < 0.2
    lo_gain = np.abs(np.fft.rfft(low, 1 << 16))
    assert lo_gain[f < CROSSOVER_BAND_HZ[0] - 300].min() > 0.97 and lo_gain[f > CROSSOVER_BAND_HZ[1] + 300].max() < 0.03


@pytest.mark.parametrize("rate,channels", [(48000, 2), (16000, 1)])
def test_dialogue_stem_is_the_match_engines_and_stems_sum_to_the_mix(residual_checkpoint, monkeypatch, rate,
                                                                     channels) -> None:
    from engine.audio import resample

    monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(residual_checkpoint))
    assert checkpoint_formulation() == "residual"
    preset = load_preset(FACTORY / "restaurant")
    x = np.repeat(resample(speech(3.1), 48000, rate), channels, axis=1)[:-5]
    out = restyle(x, rate, preset, Settings(engine="diffusion", steps=2, stems=True, seed=1))
    match = restyle(x, rate, preset, Settings(engine="match", stems=True, seed=1))
    assert out.mix.shape == x.shape and np.all(np.isfinite(out.mix))
    # The words are not re-rendered: the same direct-path filter and level gain, run by another
    # convolver (the match engine's single pass filters on its loudness meter's FFTs, the diffusion
    # engine through MatchRenderer's block convolver), so equal within float32 rounding.
    peak = float(np.max(np.abs(match.dialogue)))
    assert float(np.max(np.abs(out.dialogue - match.dialogue))) <= 1e-6 * peak
    np.testing.assert_allclose(out.dialogue + out.reverb + out.ambience, out.mix, atol=1e-6)
    assert np.sqrt(np.mean(out.reverb ** 2)) > 0 and np.sqrt(np.mean(out.ambience ** 2)) > 0
    assert not np.allclose(out.reverb, match.reverb, atol=1e-4)  # the model's scene, not the match engine's
    quiet = restyle(x, rate, preset, Settings(engine="diffusion", steps=2, stems=True, seed=1, trim_db=-12.0,
                                              wet_db=-6.0))
    # The faders act on the model's stems as on the match engine's: the ambience by trim, the reverb
    # by wet relative to the dialogue (whose level the speech-level stage sets, identically).
    quiet_match = restyle(x, rate, preset, Settings(engine="match", stems=True, seed=1, trim_db=-12.0, wet_db=-6.0))
    assert float(np.max(np.abs(quiet.dialogue - quiet_match.dialogue))) <= 1e-6 * peak
    db = lambda a, b: 10 * np.log10(np.mean(a ** 2) / np.mean(b ** 2))  # noqa: E731
    assert abs(db(quiet.ambience, out.ambience) + 12) < 0.5
    assert abs(db(quiet.reverb, out.reverb) - db(quiet.dialogue, out.dialogue) + 6) < 0.5


def test_level_join_continues_the_models_level_above_the_crossover() -> None:
    from engine.stylize.crossover import LevelJoin

    rng = np.random.default_rng(0)
    join = LevelJoin(48000, 2)
    assert join.gain == 1.0  # nothing heard yet: unity
    gains = [join(rng.standard_normal(4800) * 0.4, rng.standard_normal((4800, 2)) * 0.1) for _ in range(100)]
    assert gains[0] == 1.0 and abs(20 * np.log10(gains[-1]) - 12.0) < 0.5  # the model is 12 dB louder
    assert np.all(np.abs(np.diff(20 * np.log10(gains[20:]))) < 0.1)  # it settles, it does not ride


def test_the_packages_stem_calibration_is_applied_before_the_faders(residual_checkpoint, tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from engine.audio import resample
    from engine.diffusion import load_checkpoint

    model, config = load_checkpoint(residual_checkpoint)
    calibrated = replace(config, stem_gain_db=(6.0, -6.0))
    model.config = calibrated
    save_checkpoint(model, calibrated, tmp_path / "calibrated")
    with pytest.raises(ValueError, match="stem_gain_db"):
        replace(config, stem_gain_db=(1.0,))
    preset = load_preset(FACTORY / "restaurant")
    x = resample(speech(2.7), 48000, 16000)
    renders = {}
    for name, path in (("plain", residual_checkpoint), ("calibrated", tmp_path / "calibrated")):
        monkeypatch.setenv("ROOMTONE_CHECKPOINT", str(path))
        renders[name] = restyle(x, 16000, preset, Settings(engine="diffusion", steps=2, stems=True, seed=1))
    a, b = renders["plain"], renders["calibrated"]
    np.testing.assert_array_equal(a.dialogue, b.dialogue)
    db = lambda u, v: 10 * np.log10(np.mean(u ** 2) / np.mean(v ** 2))  # noqa: E731
    assert abs(db(b.reverb, a.reverb) - 6.0) < 0.05 and abs(db(b.ambience, a.ambience) + 6.0) < 0.05
