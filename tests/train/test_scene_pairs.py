"""Supervised scene pairs: a real (tiny) bank of pyroomacoustics rooms and espeak voices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.kit.speech import espeak_available
from engine.train.scene_pairs import BankConfig, PairConfig, SceneBank, ScenePairs, build_bank, render_example, \
    split_direct

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> SceneBank:
    folder = tmp_path_factory.mktemp("bank")
    build_bank(folder, BankConfig(rooms=3, talkers=2, lines_per_talker=2, seed=3))
    return SceneBank(folder)


def test_bank_resumes_and_refuses_other_settings(bank: SceneBank) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in bank.folder.glob("*.npz")}
    build_bank(bank.folder, BankConfig(rooms=3, talkers=2, lines_per_talker=2, seed=3))  # nothing left to do
    assert {p.name: p.stat().st_mtime_ns for p in bank.folder.glob("*.npz")} == before
    assert len(bank.rooms) == 3 and len(bank.talkers) == 2 and all(len(r) == 2 for r in bank.rooms)
    with pytest.raises(ValueError, match="other settings"):
        build_bank(bank.folder, BankConfig(rooms=4, talkers=2, lines_per_talker=2, seed=3))


def test_split_direct_is_exact() -> None:
    h = np.zeros(2000)
    h[100], h[103], h[900] = 1.0, 0.3, 0.2
    direct, rest = split_direct(h, 16000)
    assert np.array_equal(direct + rest, h)
    assert direct[100] == 1.0 and direct[103] == 0.3 and rest[900] == 0.2 and not np.any(direct[200:])


def test_examples_are_a_function_of_the_index_and_the_stems_sum_to_the_target(bank: SceneBank) -> None:
    config = PairConfig(no_ambience_share=0.0)
    a, b, c = (render_example(bank, config, i) for i in (5, 5, 6))
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["target"], c["target"])
    n = int(round(config.window_s * bank.sample_rate_hz))
    assert all(a[k].shape == (n,) for k in ("enhanced", "reverb", "ambience", "target", "condition"))
    assert a["image"].shape == (3, config.image_px, config.image_px) and 0 <= a["image"].min() <= a["image"].max() <= 1
    # The target is the direct path plus the residual's stems: what is left is the line through
    # the direct sound only (a delay and a colouration), so it matches the dry line at some lag
    # far better than the bed does.
    direct = a["target"] - a["reverb"] - a["ambience"]
    assert _best_lag_correlation(direct, a["enhanced"]) > 0.6 > _best_lag_correlation(a["ambience"], a["enhanced"])
    assert np.sqrt(np.mean(a["ambience"] ** 2)) > 0 and np.sqrt(np.mean(a["reverb"] ** 2)) > 0


def test_data_set_batches_for_the_training_loop(bank: SceneBank) -> None:
    ds = ScenePairs(bank, PairConfig(examples=10))
    batch = ds.batch([0, 3])
    assert len(ds) == 10
    assert batch["reverb"].shape == (2, ds.window_samples) and batch["image"].dtype == torch.float32


def _best_lag_correlation(x: np.ndarray, y: np.ndarray, max_lag: int = 4000) -> float:
    from scipy.signal import correlate

    c = correlate(x.astype(np.float64), y.astype(np.float64), mode="full", method="fft")
    mid = len(y) - 1
    return float(np.max(np.abs(c[mid: mid + max_lag])) / np.sqrt(np.dot(x, x) * np.dot(y, y)))


def test_calibration_measures_each_stem_and_writes_it_into_the_package(bank: SceneBank, tmp_path) -> None:
    from engine.diffusion import Stylizer, StylizerConfig, load_checkpoint, save_checkpoint
    from engine.train.calibrate import calibrate_package

    config = StylizerConfig.named("tiny", "residual")
    torch.manual_seed(0)
    save_checkpoint(Stylizer(config), config, tmp_path / "pkg")
    _, gains = calibrate_package(tmp_path / "pkg", bank.folder, tmp_path / "out", examples=2, steps=2)
    assert len(gains) == 2 and all(np.isfinite(gains))
    assert load_checkpoint(tmp_path / "out")[1].stem_gain_db == gains
