"""Rendered scenes: exact composition, requested SNR, truth attached, determinism, pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from engine.kit import speech
from engine.kit.acoustics import OCTAVE_BANDS_HZ
from engine.kit.rooms import RoomConfig
from engine.kit.scene import SceneSpec, measured_snr_db, random_scene, render_scene, scene_pair

FS = 16000
SECONDS = 2.0
ROOM = RoomConfig(dims_m=(7.0, 5.0, 3.0), source_m=(2.0, 2.5, 1.6), mic_m=(4.0, 3.0, 1.5), rt60_s=0.6)


@pytest.fixture(autouse=True)
def _no_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenes must not depend on espeak being installed; the fallback path is the stable one."""
    monkeypatch.setattr(speech, "espeak_available", lambda: False)


def _independent_snr_db(rec) -> float:
    frame = int(0.02 * FS)
    dry = rec.dry[:, 0].astype(np.float64)
    n = dry.size // frame * frame
    power = np.mean(dry[:n].reshape(-1, frame) ** 2, axis=1)
    active = np.repeat(power > power.max() * 1e-4, frame)
    wet = rec.wet[:n, 0].astype(np.float64)[active]
    return 10 * np.log10(np.mean(wet**2) / np.mean(rec.ambience[:, 0].astype(np.float64) ** 2))


@pytest.mark.parametrize(("ambience", "snr_db"), [("real:restaurant", 5.0), ("proc:hvac", 25.0)])
def test_mix_is_wet_plus_ambience_at_the_requested_snr(ambience: str, snr_db: float) -> None:
    rec = render_scene(SceneSpec(room=ROOM, ambience=ambience, snr_db=snr_db, seed=3), SECONDS, FS)
    n = int(SECONDS * FS)
    for name in ("dry", "wet", "ambience", "mix"):
        arr = getattr(rec, name)
        assert arr.shape == (n, 1) and arr.dtype == np.float32, name
    np.testing.assert_array_equal(rec.mix, rec.wet + rec.ambience)
    assert measured_snr_db(rec) == pytest.approx(snr_db, abs=0.5)
    assert _independent_snr_db(rec) == pytest.approx(snr_db, abs=0.5)
    assert rec.snr_db == snr_db
    assert np.max(np.abs(rec.mix)) <= 1.0


def test_wet_is_dry_through_the_rir_and_truth_is_attached() -> None:
    rec = render_scene(SceneSpec(room=ROOM, ambience="proc:wind", snr_db=10.0, seed=1), SECONDS, FS)
    expected = signal.fftconvolve(rec.dry[:, 0].astype(np.float64), rec.rir.astype(np.float64))[: rec.wet.shape[0]]
    np.testing.assert_allclose(rec.wet[:, 0], expected, atol=1e-5)
    assert rec.rir.ndim == 1 and rec.direct_index == int(np.argmax(np.abs(rec.rir)))
    assert rec.rt60_band_s.shape == (len(OCTAVE_BANDS_HZ),)
    np.testing.assert_allclose(rec.rt60_band_s[2:4], 0.6, rtol=0.25)
    assert np.isfinite(rec.drr_db)


def test_rendering_is_deterministic_by_seed() -> None:
    spec = SceneSpec(room=ROOM, ambience="real:rain", snr_db=12.0, seed=9)
    a, b = render_scene(spec, 1.0, FS), render_scene(spec, 1.0, FS)
    np.testing.assert_array_equal(a.mix, b.mix)
    c = render_scene(SceneSpec(room=ROOM, ambience="real:rain", snr_db=12.0, seed=10), 1.0, FS)
    assert not np.array_equal(a.mix, c.mix)


def test_own_speech_keeps_room_and_ambience() -> None:
    spec = SceneSpec(room=ROOM, ambience="proc:traffic", snr_db=15.0, seed=4)
    generated = render_scene(spec, 1.0, FS)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(FS // 2) / FS).astype(np.float32)
    own = render_scene(spec, 1.0, FS, speech=tone)
    np.testing.assert_array_equal(own.rir, generated.rir)
    assert own.dry.shape == (FS, 1) and not np.any(own.dry[FS // 2 + 1 :])
    assert measured_snr_db(own) == pytest.approx(15.0, abs=0.5)


def test_no_ambience_gives_a_clean_wet_mix() -> None:
    rec = render_scene(SceneSpec(room=ROOM, ambience="none", snr_db=0.0, seed=2), 1.0, FS)
    np.testing.assert_array_equal(rec.mix, rec.wet)
    assert rec.snr_db == float("inf")


def test_random_scenes_render() -> None:
    rng = np.random.default_rng(11)
    for kind in ("shoebox", "outdoor"):
        spec = random_scene(rng, kind=kind)
        rec = render_scene(spec, 0.5, FS)
        assert rec.mix.shape == (FS // 2, 1) and np.all(np.isfinite(rec.mix))
    assert random_scene(np.random.default_rng(1)) == random_scene(np.random.default_rng(1))


def test_scene_pair_shares_the_room_not_the_lines() -> None:
    spec = SceneSpec(room=ROOM, ambience="real:night", snr_db=20.0, seed=5)
    reference, target = scene_pair(spec, 1.0, FS, np.random.default_rng(0))
    assert reference.spec.room.dims_m == target.spec.room.dims_m
    assert reference.spec.room.mic_m == target.spec.room.mic_m
    assert reference.spec.room.source_m != target.spec.room.source_m
    assert reference.spec.ambience == target.spec.ambience
    assert not np.array_equal(reference.dry, target.dry)
    np.testing.assert_allclose(target.rt60_band_s[2:4], reference.rt60_band_s[2:4], rtol=0.25)
