"""Unit checks of the evaluation's building blocks on real kit audio (no mocks)."""

from __future__ import annotations

import numpy as np

from engine.evaluation.cases import EVAL_SPEAKERS, build_case, case_plan
from engine.evaluation.deconvolution import deconvolve, room_estimate
from engine.evaluation.metrics import ANALYSIS_RATE_HZ, rt60_error_pct, scene_measures
from engine.evaluation.retrieval import retrieval_hits
from engine.evaluation.stats import bootstrap_ci
from engine.evaluation.texture import texture_distance, texture_stats
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, render_scene, speech_activity


def test_quick_plan_covers_the_brief() -> None:
    plans = [case_plan(i) for i in range(5)]
    ranges = [p.rt60_range_s for p in plans if p.rt60_range_s]
    assert min(r[0] for r in ranges) == 0.2 and max(r[1] for r in ranges) == 5.0
    assert any(p.room_kind == "outdoor" for p in plans)
    assert {"female", "male", "real:alsa"} <= {p.voice for p in plans}


def test_voices_are_disjoint_from_the_preset_and_example_tools() -> None:
    used_by_tools = ("+m2", "+m3", "+m4", "+f2", "+f3", "+f4")
    assert EVAL_SPEAKERS
    assert not any(s.voice.endswith(v) for s in EVAL_SPEAKERS for v in used_by_tools)


def test_cases_are_reproducible() -> None:
    a = build_case(3, input_s=4.0, reference_s=4.0, sample_rate_hz=16000)
    b = build_case(3, input_s=4.0, reference_s=4.0, sample_rate_hz=16000)
    assert np.array_equal(a.truth.mix, b.truth.mix) and np.array_equal(a.reference.mix, b.reference.mix)
    assert np.allclose(a.truth.mix, a.truth.wet + a.truth.ambience)


def test_deconvolution_recovers_a_known_room() -> None:
    room = RoomConfig(dims_m=(7.0, 5.0, 3.0), source_m=(2.0, 2.0, 1.6), mic_m=(4.0, 3.0, 1.7), rt60_s=0.8)
    scene = render_scene(SceneSpec(room, "none", 20.0, seed=5), 8.0, ANALYSIS_RATE_HZ, speaker="en+m1")
    est = room_estimate(deconvolve(scene.dry, scene.wet, ANALYSIS_RATE_HZ))
    assert rt60_error_pct(est.rt60_band_s, scene.rt60_band_s) < 20.0
    assert abs(est.drr_db - scene.drr_db) < 2.0


def test_dry_output_has_no_ambience_and_truth_has_some() -> None:
    case = build_case(0, input_s=6.0, reference_s=4.0, sample_rate_hz=ANALYSIS_RATE_HZ)
    dry = case.dry[:, 0].astype(np.float64)
    active = speech_activity(dry, ANALYSIS_RATE_HZ)
    dry_m = scene_measures(dry, dry, active)
    truth_m = scene_measures(dry, case.truth.mix[:, 0].astype(np.float64), active)
    assert dry_m.ambience_ratio_db < -35.0
    assert truth_m.ambience_ratio_db > dry_m.ambience_ratio_db + 10.0


def test_texture_distance_is_zero_for_the_same_sound_and_grows_otherwise() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(32000) * 0.1
    crackle = np.zeros(32000)
    crackle[rng.integers(0, 32000, 200)] = 1.0
    a, b = texture_stats(noise, 16000), texture_stats(crackle, 16000)
    assert texture_distance(a, a) == 0.0
    assert texture_distance(a, b) > 0.1


def test_bootstrap_interval_brackets_the_mean_and_skips_nan() -> None:
    iv = bootstrap_ci([1.0, 2.0, 3.0, float("nan"), 4.0])
    assert iv.n == 4 and iv.low <= iv.mean <= iv.high and iv.mean == 2.5


def test_retrieval_finds_identical_scenes() -> None:
    case_a = build_case(0, input_s=5.0, reference_s=4.0, sample_rate_hz=ANALYSIS_RATE_HZ)
    case_b = build_case(1, input_s=5.0, reference_s=4.0, sample_rate_hz=ANALYSIS_RATE_HZ)
    measures = []
    for case in (case_a, case_b):
        dry = case.dry[:, 0].astype(np.float64)
        measures.append(scene_measures(dry, case.truth.mix[:, 0].astype(np.float64), speech_activity(dry, ANALYSIS_RATE_HZ)))
    assert retrieval_hits(measures, measures) == [1.0, 1.0]
