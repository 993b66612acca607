"""Shared fixtures: real audio on disk, real presets, no mocks."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The diffusion runtime caches ONNX exports and TensorRT engines (engine.runtime.select); tests use a
# throwaway cache, never the user's.
if "ROOMTONE_CACHE" not in os.environ:
    os.environ["ROOMTONE_CACHE"] = tempfile.mkdtemp(prefix="roomtone-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ROOMTONE_CACHE"], True)

ASSETS = Path(__file__).resolve().parents[1] / "engine" / "kit" / "assets"


def hand_profile(rt60_s: float = 0.8, drr_db: float = 3.0, ambience_to_speech_db: float = -20.0):
    """A plausible scene profile written by hand, for tests that must not depend on analysis."""
    from engine.scene.profile import OCTAVE_BANDS_HZ, THIRD_OCTAVE_BANDS_HZ, SceneProfile

    n_third = len(THIRD_OCTAVE_BANDS_HZ)
    return SceneProfile(
        rt60_s=tuple(rt60_s * f for f in (1.2, 1.1, 1.0, 1.0, 0.9, 0.75, 0.6)[: len(OCTAVE_BANDS_HZ)]),
        drr_db=drr_db,
        eq_gain_db=tuple(float(np.clip((k - n_third / 2) * 0.3, -6, 6)) for k in range(n_third)),
        ambience_spectrum_db=tuple(-20.0 - 0.5 * k for k in range(n_third)),
        ambience_to_speech_db=ambience_to_speech_db,
        speech_loudness_lufs=-23.0,
        reference_sample_rate_hz=48000,
    )


@pytest.fixture
def make_preset():
    from presets.store import ScenePreset

    def make(name: str = "Test Room", **profile_kw) -> ScenePreset:
        amb, rate = sf.read(ASSETS / "ambience" / "rain.flac", dtype="float32", always_2d=True, frames=5 * 48000)
        ref, ref_rate = sf.read(ASSETS / "speech" / "Front_Center.wav", dtype="float32", always_2d=True)
        return ScenePreset(name=name, profile=hand_profile(**profile_kw), ambience=amb, ambience_rate_hz=rate,
                           reference=ref, reference_rate_hz=ref_rate, source={"kind": "test"})

    return make


def write_tone(path: Path, seconds: float = 1.0, rate: int = 48000, channels: int = 1, subtype: str = "PCM_24") -> Path:
    """A speech-like test signal (modulated harmonic tone) written as a real file."""
    t = np.arange(int(seconds * rate)) / rate
    sig = 0.2 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.05 * np.sin(2 * np.pi * 1200 * t)
    data = np.repeat(sig[:, None], channels, axis=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, subtype=subtype)
    return path
