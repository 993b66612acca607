"""Ground-truth measures must recover known decays and ratios from synthetic responses."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kit.acoustics import OCTAVE_BANDS_HZ, band_rt60_s, direct_index, drr_db, energy_decay_curve_db

FS = 16000


def _exponential_noise_rir(band_rt60_s: dict[float, float], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Direct impulse + per-band exponentially decaying noise, built independently of the kit."""
    from scipy import signal

    n = int(seconds * FS)
    t = np.arange(n) / FS
    h = np.zeros(n)
    for band_hz, rt60 in band_rt60_s.items():
        sos = signal.butter(4, [band_hz / 1.6, band_hz * 1.6], btype="bandpass", fs=FS, output="sos")
        band = signal.sosfiltfilt(sos, rng.standard_normal(n))
        h += band * np.exp(-6.908 * t / rt60)
    h[0] = 10.0 * np.max(np.abs(h))
    return h


@pytest.mark.parametrize("rt60_s", [0.3, 1.0, 2.5])
def test_band_rt60_recovers_a_flat_exponential_decay(rt60_s: float) -> None:
    rng = np.random.default_rng(1)
    n = int(1.2 * rt60_s * FS)
    t = np.arange(n) / FS
    h = rng.standard_normal(n) * np.exp(-6.908 * t / rt60_s)
    bands = (250, 500, 1000, 2000, 4000)
    measured = band_rt60_s(h, FS, bands)
    np.testing.assert_allclose(measured, rt60_s, rtol=0.10)


def test_band_rt60_recovers_band_specific_decays() -> None:
    truth = {250: 1.6, 1000: 1.0, 4000: 0.5}
    h = _exponential_noise_rir(truth, 2.0, np.random.default_rng(2))
    measured = band_rt60_s(h, FS, tuple(truth))
    np.testing.assert_allclose(measured, list(truth.values()), rtol=0.10)


def test_band_rt60_is_nan_above_nyquist_and_for_silence() -> None:
    h = np.random.default_rng(0).standard_normal(FS) * np.exp(-np.arange(FS) / 2000)
    assert np.isnan(band_rt60_s(h, 8000, (125, 8000))[1])
    assert np.all(np.isnan(band_rt60_s(np.zeros(FS), FS, (500, 1000))))
    assert len(band_rt60_s(h, FS)) == len(OCTAVE_BANDS_HZ)


def test_band_rt60_ignores_a_noise_floor() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(2 * FS) / FS
    h = rng.standard_normal(t.size) * np.exp(-6.908 * t / 0.6)
    h += 10 ** (-50 / 20) * rng.standard_normal(t.size)  # floor 50 dB down, long flat run
    np.testing.assert_allclose(band_rt60_s(h, FS, (500, 1000, 2000)), 0.6, rtol=0.10)


@pytest.mark.parametrize("target_db", [-12.0, 0.0, 9.0])
def test_drr_of_direct_plus_tail_of_known_energy(target_db: float) -> None:
    rng = np.random.default_rng(4)
    h = np.zeros(FS)
    h[200] = 1.0
    tail = rng.standard_normal(FS - 400) * np.exp(-np.arange(FS - 400) / 3000)
    tail *= np.sqrt(10 ** (-target_db / 10) / np.sum(tail**2))
    h[400:] = tail
    assert drr_db(h, FS) == pytest.approx(target_db, abs=0.5)
    assert direct_index(h) == 200


def test_drr_is_infinite_for_a_pure_impulse_and_accepts_column_vectors() -> None:
    h = np.zeros((100, 1), dtype=np.float32)
    h[10, 0] = 1.0
    assert drr_db(h, FS) == float("inf")


def test_energy_decay_curve_starts_at_zero_db_and_falls() -> None:
    edc = energy_decay_curve_db(np.exp(-np.arange(1000) / 100.0))
    assert edc[0] == pytest.approx(0.0)
    assert np.all(np.diff(edc) <= 0)
