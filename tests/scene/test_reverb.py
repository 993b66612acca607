"""Blind RT60 and DRR against kit truth on synthetic scenes (real voices and ambiences)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scene import reverb
from engine.scene.profile import OCTAVE_BANDS_HZ
from tests.scene.scenes import FEMALE, MALE, make_scene

MID = [2, 3, 4, 5]  # 500-4000 Hz


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("rt60_s,seed", [(0.3, 11), (0.9, 12), (2.0, 13)])
def test_rt60_recovered_mid_bands(rt60_s: float, seed: int, rate: int) -> None:
    scene = make_scene(rt60_s, rate, seconds=20.0, seed=seed, ambience="rain", snr_db=25.0,
                       speaker=MALE if seed % 2 else FEMALE)
    bands = reverb.band_decays(scene.mix[:, 0], rate, OCTAVE_BANDS_HZ)
    est = np.array([b.rt60_s for b in bands])
    err = est[MID] / scene.rt60_band_s[MID] - 1.0
    # Measured tolerance: median error over 500-4000 Hz <= 25 %, 1-4 kHz each within 40 %
    # (500 Hz is the weak band in live rooms: it can read up to ~70 % short).
    assert np.all(np.isfinite(err)), est
    assert np.median(np.abs(err)) <= 0.25, (est, scene.rt60_band_s)
    assert np.max(np.abs(err[1:])) <= 0.4, (est, scene.rt60_band_s)


def test_drr_tracks_truth_loosely() -> None:
    # Honest bound: the blind DRR is biased towards ~-2 dB; this asserts what it achieves today.
    scene = make_scene(0.4, 48000, seconds=20.0, seed=3, ambience="rain", snr_db=25.0)
    bands = reverb.band_decays(scene.mix[:, 0], 48000, OCTAVE_BANDS_HZ)
    drr = reverb.broadband_drr_db(bands, 48000)
    assert np.isfinite(drr)
    assert abs(drr - scene.drr_db) <= 10.0
