"""Blind RT60 and DRR against kit truth on kit-rendered scenes (espeak voices, real/procedural ambience).

Tolerances are the ones ``bench/bench_reverb_accuracy.py`` measures on its HELD-OUT scenes (about
the 90th percentile of |error| over 30 scenes, 0.2-5 s rooms, 10-30 dB SNR), not aspirations:
1 kHz is the best band (p90 22 %), 500-4000 Hz p90 41-50 %, the outer octaves worse (dry rooms
read long there, 8 kHz p90 110 %), DRR p90 5.1 dB indoors. Earlier methods fail these bounds: one read
250-500 Hz 60-90 % short in 2.5-4.5 s rooms with a DRR stuck at ~-2 dB; the next kept short
inter-word gaps (early decay only) and read 1 kHz with p90 39 %, DRR p90 6.8 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.kit.rooms import random_room
from engine.kit.scene import SceneSpec, render_scene
from engine.kit.speech import Speaker, espeak_available
from engine.scene import reverb
from engine.scene.analyse import _fill_bands
from engine.scene.profile import OCTAVE_BANDS_HZ

# The cases name espeak-ng talkers and the tolerances were measured on espeak-ng scenes; without it
# the kit substitutes pitch-shifted alsa clips, a different test (the DSP estimator reads those worse:
# a 0.4 s room 0.45-0.58 s, outdoor DRR 8-22 dB too wet), so these skip rather than test something else.
pytestmark = pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng (the cases' talkers)")

MALE = Speaker("en+m3", 45, 160)
FEMALE = Speaker("en+f2", 65, 160)


def kit_scene(rt60_s: float, sample_rate_hz: int, seconds: float, seed: int, speaker: Speaker,
              ambience: str = "real:rain", snr_db: float = 20.0):
    """A kit scene (truth in ``rt60_band_s`` / ``drr_db``), its room drawn with a mid-band RT60 of
    ``rt60_s`` (band shape and talker distance random)."""
    room = random_room(np.random.default_rng(seed), (rt60_s, rt60_s * 1.001))
    return render_scene(SceneSpec(room, ambience, snr_db, seed), seconds, sample_rate_hz, speaker=speaker)

CASES = [
    # rt60 (mid), rate, speaker, seed, ambience, SNR
    (0.4, 48000, MALE, 21, "real:night", 20.0),
    (0.4, 16000, FEMALE, 22, "proc:hvac", 15.0),
    (1.2, 48000, FEMALE, 23, "real:restaurant", 20.0),
    (1.2, 16000, MALE, 24, "real:rain", 25.0),
    (3.5, 48000, MALE, 25, "proc:traffic", 20.0),
    (3.5, 16000, FEMALE, 26, "real:campfire", 15.0),
]
IDS = [f"{c[0]}s-{c[1] // 1000}k-{'m' if c[2] is MALE else 'f'}" for c in CASES]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def measured(request):
    rt60_s, rate, speaker, seed, ambience, snr_db = request.param
    scene = kit_scene(rt60_s, rate, 20.0, seed, speaker, ambience, snr_db)
    bands = reverb.band_decays(scene.mix[:, 0], rate, OCTAVE_BANDS_HZ)
    est = _fill_bands(np.array([b.rt60_s for b in bands]))  # what analyse_reference stores
    return scene, est, reverb.broadband_drr_db(bands, rate)


def test_rt60_bands(measured) -> None:
    scene, est, _ = measured
    err = np.abs(est / scene.rt60_band_s - 1.0)
    detail = (np.round(est, 2), np.round(scene.rt60_band_s, 2))
    assert np.all(np.isfinite(err)), detail
    assert err[3] <= 0.25, detail  # 1 kHz
    assert np.median(err[2:6]) <= 0.25, detail  # 500-4000 Hz
    assert np.max(err[2:6]) <= 0.50, detail
    assert np.max(err[0:2]) <= 0.55, detail  # 125-250 Hz
    assert err[6] <= 1.2, detail  # 8 kHz: dry rooms read up to ~2x long (p90 110 %)


def test_drr(measured) -> None:
    scene, _, drr = measured
    assert np.isfinite(drr)
    assert abs(drr - scene.drr_db) <= 5.0, (drr, scene.drr_db)


def test_drr_follows_distance() -> None:
    """Two 0.8 s rooms whose true DRRs differ by ~4 dB: the estimate must order them correctly."""
    rt = []
    for distance_seed in (31, 32):
        scene = kit_scene(0.8, 48000, 20.0, distance_seed, MALE, "real:rain", 25.0)
        bands = reverb.band_decays(scene.mix[:, 0], 48000, OCTAVE_BANDS_HZ)
        rt.append((scene.drr_db, reverb.broadband_drr_db(bands, 48000)))
    (true_a, est_a), (true_b, est_b) = rt
    assert abs(true_a - true_b) >= 3.0, rt  # the pair must differ for the check to mean anything
    assert np.sign(est_a - est_b) == np.sign(true_a - true_b), rt


@pytest.mark.parametrize("seed, speaker, ambience", [(41, MALE, "real:rain"), (44, FEMALE, "real:night")])
def test_outdoor_reads_dry(seed, speaker, ambience) -> None:
    """Outdoors (direct path, ground bounce, faint facades; truth +6..+16 dB) must not read as a
    room: the single shrunk offset-drop DRR put these at -3..-12 dB, a small reverberant room."""
    from engine.kit.rooms import random_room
    from engine.kit.scene import SceneSpec, render_scene

    room = random_room(np.random.default_rng(seed), kind="outdoor")
    scene = render_scene(SceneSpec(room, ambience, 20.0, seed), 20.0, 48000, speaker=speaker)
    bands = reverb.band_decays(scene.mix[:, 0], 48000, OCTAVE_BANDS_HZ)
    drr = reverb.broadband_drr_db(bands, 48000)
    assert scene.drr_db >= 5.0, scene.drr_db  # the case must be outdoor-like for the check to mean anything
    assert drr >= 0.0, (drr, scene.drr_db)


@pytest.mark.parametrize("case, reference_s", [(1, 12.0), (16, 15.0)])
def test_long_room_with_a_close_talker_in_a_short_clip_reads_long(case: int, reference_s: float) -> None:
    """The evaluation's case001 (4 s room, DRR -2 dB, HVAC) and case016 (3 s, DRR +3 dB, wind): the
    short inter-word gaps (steep syllable fades, deep) outweigh the few long shallow tails, and the
    RT60 iteration started from all fits settled at 0.3 s; started also from the longest tails it holds."""
    from engine.evaluation.cases import build_case

    ref = build_case(case, reference_s=reference_s).reference
    assert ref.rt60_band_s[3] > 3.0 and ref.drr_db > -4.0, (ref.rt60_band_s, ref.drr_db)  # the case is still this
    bands = reverb.band_decays(ref.mix[:, 0], ref.sample_rate_hz, OCTAVE_BANDS_HZ)
    est = _fill_bands(np.array([b.rt60_s for b in bands]))
    err = est / ref.rt60_band_s - 1.0
    assert abs(err[3]) <= 0.4 and np.median(np.abs(err[2:6])) <= 0.5, (np.round(est, 2), np.round(ref.rt60_band_s, 2))
