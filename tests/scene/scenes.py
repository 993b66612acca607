"""Synthetic reverberant scenes with known truth, built from the kit's rooms, voices and ambiences.

The kit's ``render_scene`` was not available when these tests were written, so scenes are
assembled here from kit parts: a kit RIR (truth measured with ``engine.kit.acoustics``), kit dry
speech (espeak-ng voices, or the bundled real clips) and a real ambience recording mixed at a
given speech-to-ambience loudness ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

from engine.audio.loudness import integrated_loudness
from engine.kit.acoustics import band_rt60_s, drr_db
from engine.kit.rooms import random_room, room_impulse_response
from engine.kit.speech import Speaker, speech_source

AMBIENCE_DIR = Path(__file__).resolve().parents[2] / "engine" / "kit" / "assets" / "ambience"
SPEECH_DIR = Path(__file__).resolve().parents[2] / "engine" / "kit" / "assets" / "speech"

MALE = Speaker("en+m3", 45, 160)
FEMALE = Speaker("en+f2", 65, 160)


@dataclass
class Scene:
    mix: np.ndarray  # (n, ch)
    dry: np.ndarray  # (n, 1)
    wet: np.ndarray  # (n, 1) reverberant speech
    ambience: np.ndarray  # (n, ch) as mixed
    rir: np.ndarray
    sample_rate_hz: int
    rt60_band_s: np.ndarray
    drr_db: float


def load_ambience(name: str, seconds: float, sample_rate_hz: int, channels: int = 1) -> np.ndarray:
    x, rate = sf.read(AMBIENCE_DIR / f"{name}.flac", dtype="float32", always_2d=True)
    x = x[:, :1]
    if rate != sample_rate_hz:
        x = soxr.resample(x, rate, sample_rate_hz).astype(np.float32).reshape(-1, 1)
    n = int(round(seconds * sample_rate_hz))
    reps = int(np.ceil(n / x.shape[0]))
    x = np.tile(x, (reps, 1))[:n]
    if channels == 2:  # decorrelated second channel: the same bed, shifted by a second
        x = np.concatenate([x, np.roll(x, sample_rate_hz)], axis=1)
    return x


def make_scene(
    rt60_s: float,
    sample_rate_hz: int = 48000,
    seconds: float = 20.0,
    seed: int = 0,
    ambience: str = "rain",
    snr_db: float = 20.0,
    speaker: Speaker | None = MALE,
    channels: int = 1,
    dry: np.ndarray | None = None,
) -> Scene:
    rng = np.random.default_rng(seed)
    room = random_room(rng, (rt60_s, rt60_s * 1.001))
    rir = room_impulse_response(room, sample_rate_hz, rng)
    if dry is None:
        dry = speech_source(seconds, sample_rate_hz, rng, speaker)
    n = dry.shape[0]
    wet = fftconvolve(dry[:, 0].astype(np.float64), rir.astype(np.float64))[:n, None].astype(np.float32)
    amb = load_ambience(ambience, n / sample_rate_hz, sample_rate_hz, channels)
    speech_lufs = integrated_loudness(wet, sample_rate_hz)
    amb_lufs = integrated_loudness(amb, sample_rate_hz)
    amb = amb * np.float32(10 ** ((speech_lufs - snr_db - amb_lufs) / 20))
    mix = wet + amb  # broadcast mono speech to every channel
    return Scene(mix.astype(np.float32), dry, wet, amb, rir, sample_rate_hz,
                 band_rt60_s(rir, sample_rate_hz), drr_db(rir, sample_rate_hz))


def kit_scene(
    rt60_s: float,
    sample_rate_hz: int,
    seconds: float,
    seed: int,
    speaker: Speaker,
    ambience: str = "real:rain",
    snr_db: float = 20.0,
):
    """A scene rendered by the kit's ``render_scene`` (truth in ``rt60_band_s`` / ``drr_db``), its
    room drawn with a mid-band RT60 of ``rt60_s`` (band shape and talker distance random)."""
    from engine.kit.scene import SceneSpec, render_scene

    room = random_room(np.random.default_rng(seed), (rt60_s, rt60_s * 1.001))
    return render_scene(SceneSpec(room, ambience, snr_db, seed), seconds, sample_rate_hz, speaker=speaker)
