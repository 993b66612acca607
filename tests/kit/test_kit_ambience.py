"""Ambience beds: every kind renders finite, audible audio of exactly the asked length."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import RoomtoneError
from engine.kit import speech
from engine.kit.ambience import AMBIENCE_RMS_DBFS, PROCEDURAL_KINDS, list_real_ambiences, procedural_ambience, real_ambience

FS = 16000
TARGET_RMS = 10 ** (AMBIENCE_RMS_DBFS / 20)


def _check(x: np.ndarray, n: int) -> None:
    assert x.shape == (n, 1) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) == pytest.approx(TARGET_RMS, rel=1e-3)


def test_bundled_ambiences_are_listed() -> None:
    names = list_real_ambiences()
    assert {"rain", "restaurant", "thunder", "machine"} <= set(names)


@pytest.mark.parametrize("seconds", [0.5, 7.3])
def test_real_ambience_loops_to_any_length(seconds: float) -> None:
    x = real_ambience("thunder", seconds, FS, np.random.default_rng(0))  # the clip is 2.4 s
    _check(x, int(round(seconds * FS)))


def test_real_ambience_loop_has_no_seam_jump() -> None:
    x = real_ambience("machine", 12.0, FS, np.random.default_rng(1))[:, 0]
    steps = np.abs(np.diff(x))
    assert steps.max() < 20 * np.percentile(steps, 99.9)


def test_real_ambience_is_seeded_and_varies_with_the_seed() -> None:
    a = real_ambience("rain", 1.0, FS, np.random.default_rng(3))
    b = real_ambience("rain", 1.0, FS, np.random.default_rng(3))
    c = real_ambience("rain", 1.0, FS, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_ambiences_are_refused() -> None:
    with pytest.raises(RoomtoneError):
        real_ambience("spaceship", 1.0, FS, np.random.default_rng(0))
    with pytest.raises(RoomtoneError):
        procedural_ambience("lava", 1.0, FS, np.random.default_rng(0))


@pytest.mark.parametrize("kind", PROCEDURAL_KINDS)
def test_procedural_kinds_render_and_are_seeded(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "espeak_available", lambda: False)  # babble stays fast and offline
    a = procedural_ambience(kind, 1.5, FS, np.random.default_rng(5))
    _check(a, int(1.5 * FS))
    np.testing.assert_array_equal(a, procedural_ambience(kind, 1.5, FS, np.random.default_rng(5)))


@pytest.mark.skipif(not speech.espeak_available(), reason="espeak-ng is not installed")
def test_babble_with_espeak() -> None:
    _check(procedural_ambience("babble", 1.0, FS, np.random.default_rng(6)), FS)
