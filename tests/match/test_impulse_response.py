"""The synthetic room response must measure back to the profile it was built from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.match import ImpulseResponse, synthesise_ir
from tests.match.match_measure import band_rt60_s, drr_db
from tests.conftest import hand_profile

CHANNELS = 4  # ISO 3382 averages several positions; our channels are independent positions


def _measurable(bands_hz, sample_rate_hz):
    return [i for i, b in enumerate(bands_hz) if b * np.sqrt(2) < 0.95 * sample_rate_hz / 2]


@pytest.mark.parametrize("sample_rate_hz", [16000, 44100, 48000, 96000])
def test_rt60_and_drr_measure_back(sample_rate_hz):
    profile = hand_profile(rt60_s=0.8, drr_db=3.0)
    ir = synthesise_ir(profile, sample_rate_hz, CHANNELS, seed=1)
    for i in _measurable(profile.bands_hz, sample_rate_hz):
        measured = band_rt60_s(ir.full, sample_rate_hz, profile.bands_hz[i])
        assert measured == pytest.approx(profile.rt60_s[i], rel=0.10), profile.bands_hz[i]
    for ch in range(CHANNELS):
        assert drr_db(ir.full[:, ch], sample_rate_hz) == pytest.approx(profile.drr_db, abs=1.0)


@pytest.mark.parametrize(
    "rt60_s, drr",
    [((0.4, 0.6, 1.2, 2.0, 1.5, 0.8, 0.3), 0.0), ((3.0, 2.8, 2.5, 2.4, 2.2, 1.8, 1.3), -4.0), ((0.35,) * 7, 8.0)],
)
def test_uneven_and_extreme_rooms_measure_back(rt60_s, drr):
    sr = 48000
    profile = replace(hand_profile(), rt60_s=rt60_s, drr_db=drr)
    ir = synthesise_ir(profile, sr, CHANNELS, seed=2)
    for i in _measurable(profile.bands_hz, sr):
        assert band_rt60_s(ir.full, sr, profile.bands_hz[i]) == pytest.approx(rt60_s[i], rel=0.10)
    assert drr_db(ir.full[:, 0], sr) == pytest.approx(drr, abs=1.0)


def test_structure_length_and_determinism():
    profile = hand_profile(rt60_s=1.0)
    ir = synthesise_ir(profile, 48000, 2, seed=5)
    assert isinstance(ir, ImpulseResponse)
    assert ir.direct.dtype == np.float32 and ir.late.dtype == np.float32
    assert len(ir) == round(1.2 * max(profile.rt60_s) * 48000)
    np.testing.assert_array_equal(ir.direct[0], [1.0, 1.0])  # no pre-delay, same direct path
    assert not np.any(ir.direct[1:])
    assert not np.any(ir.late[: int(0.003 * 48000)])  # nothing inside the direct-sound window
    np.testing.assert_allclose(ir.full, ir.direct + ir.late)
    again = synthesise_ir(profile, 48000, 2, seed=5)
    np.testing.assert_array_equal(ir.late, again.late)
    other = synthesise_ir(profile, 48000, 2, seed=6)
    assert not np.array_equal(ir.late, other.late)
    # decorrelated channels
    rho = np.corrcoef(ir.late[:, 0], ir.late[:, 1])[0, 1]
    assert abs(rho) < 0.1


def test_wet_db_scales_only_the_reverberant_part():
    profile = hand_profile()
    dry = synthesise_ir(profile, 48000, 1, seed=3, wet_db=0.0)
    wet = synthesise_ir(profile, 48000, 1, seed=3, wet_db=-6.0)
    np.testing.assert_allclose(wet.late, dry.late * 10 ** (-6 / 20), atol=1e-6)
    np.testing.assert_array_equal(wet.direct, dry.direct)


def test_length_is_capped():
    profile = replace(hand_profile(), rt60_s=(12.0,) * 7)
    ir = synthesise_ir(profile, 8000, 1, seed=0)
    assert len(ir) == 12 * 8000


def _top_vs_8k_db(rt60_s: float, lo_hz: float, hi_hz: float) -> float:
    ir = synthesise_ir(hand_profile(rt60_s=rt60_s), 96000, 1, seed=0)
    spec = np.abs(np.fft.rfft(ir.late[:, 0])) ** 2
    f = np.fft.rfftfreq(len(ir.late), 1 / 96000)
    return float(10 * np.log10(spec[(f > lo_hz) & (f < hi_hz)].mean() / spec[(f > 6000) & (f < 8000)].mean()))


def test_air_darkens_the_tail_above_8k_more_the_longer_the_room():
    """Air absorption (~0.1 dB/m at 8 kHz, ~f^2): a booth's 16 kHz tail stays near its 8 kHz
    level (a full-band line keeps its air), a church's falls far, and ultrasound dies in both."""
    booth, hall, church = (_top_vs_8k_db(rt, 14000, 18000) for rt in (0.3, 1.0, 4.0))
    assert -3.5 < booth < -0.5
    assert church < hall - 3.0 and hall < booth - 2.0
    assert _top_vs_8k_db(0.3, 30000, 40000) < -6 and _top_vs_8k_db(4.0, 30000, 40000) < -25


@pytest.mark.parametrize("rt60, drr, c50", [(1.5, 0.0, 7.0), (0.9, -3.0, 1.0), (1.8, -6.0, -4.0), (0.6, 2.0, 14.0)])
def test_clarity_measures_back_and_leaves_drr_and_decay_alone(rt60, drr, c50):
    """A room that puts its reverberant energy early (a close talker's floor and desk reflections)
    reads clearer than an exponential tail with the same DRR: the C50 asked for comes back, the DRR
    and the late decay rate stay the profile's."""
    from engine.kit.acoustics import clarity_c50_db

    sr = 48000
    plain = replace(hand_profile(rt60_s=rt60), drr_db=drr)
    shaped = replace(plain, c50_db=c50)
    a = synthesise_ir(plain, sr, CHANNELS, seed=3)
    b = synthesise_ir(shaped, sr, CHANNELS, seed=3)
    plain_c50 = [clarity_c50_db(a.full[:, ch], sr) for ch in range(CHANNELS)]
    assert abs(np.mean(plain_c50) - c50) > 2.0  # the shaping had work to do
    for ch in range(CHANNELS):
        assert clarity_c50_db(b.full[:, ch], sr) == pytest.approx(c50, abs=0.3)
        assert drr_db(b.full[:, ch], sr) == pytest.approx(drr_db(a.full[:, ch], sr), abs=0.05)
    late = slice(int(0.1 * sr), None)  # after the crossover the shape is a constant factor
    ratio = b.late[late, 0] / np.where(a.late[late, 0] == 0, 1, a.late[late, 0])
    assert np.ptp(ratio[a.late[late, 0] != 0]) < 1e-3


def test_without_clarity_the_response_is_the_exponential_one():
    profile = hand_profile(rt60_s=1.0)
    assert profile.c50_db is None
    wet = synthesise_ir(profile, 48000, 1, seed=4, wet_db=6.0)
    dry = synthesise_ir(profile, 48000, 1, seed=4)
    np.testing.assert_allclose(wet.late, dry.late * 10 ** (6.0 / 20), rtol=1e-5, atol=1e-9)
