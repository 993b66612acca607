"""Ambience beds: the bundled field recordings and seeded procedural textures.

Real recordings carry the irregular detail a matcher must cope with; procedural textures give
unlimited, license-free variety with known character (stationary hum, gusty wind, impulsive
rain). Both come back at a fixed RMS (``AMBIENCE_RMS_DBFS``) because the scene sets the level
from the requested SNR anyway.
"""

from __future__ import annotations

import functools

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from engine.errors import RoomtoneError
from engine.kit._assets import asset_dir

PROCEDURAL_KINDS: tuple[str, ...] = ("rain", "wind", "traffic", "babble", "hvac")

AMBIENCE_RMS_DBFS = -30.0

# Loop seam: an equal-power crossfade this long (shortened for very short clips).
_LOOP_CROSSFADE_S = 0.5


def list_real_ambiences() -> tuple[str, ...]:
    """Names accepted by ``real_ambience`` (file stems of the bundled FLACs), sorted."""
    return tuple(sorted(p.stem for p in asset_dir("ambience").glob("*.flac")))


def real_ambience(name: str, seconds: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A bundled recording as (frames, 1) float32 of exactly ``round(seconds * rate)`` frames.

    Starts at a random offset and loops through a crossfaded seam, so any length can be drawn and
    two draws of the same ambience differ the way two takes on location would.
    """
    n_frames = int(round(seconds * sample_rate_hz))
    unit = _loop_unit(name, int(sample_rate_hz))
    start = int(rng.integers(unit.size))
    reps = int(np.ceil((start + n_frames) / unit.size))
    out = np.tile(unit, max(reps, 1))[start : start + n_frames]
    return _at_level(out)


def procedural_ambience(kind: str, seconds: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic texture of ``kind`` (see ``PROCEDURAL_KINDS``), (frames, 1) float32, seeded by ``rng``."""
    generators = {
        "rain": _rain,
        "wind": _wind,
        "traffic": _traffic,
        "babble": _babble,
        "hvac": _hvac,
    }
    if kind not in generators:
        raise RoomtoneError(f"unknown procedural ambience {kind!r}; choose one of {', '.join(PROCEDURAL_KINDS)}")
    n_frames = int(round(seconds * sample_rate_hz))
    if n_frames == 0:
        return np.zeros((0, 1), dtype=np.float32)
    out = generators[kind](n_frames, int(sample_rate_hz), rng)
    return _at_level(out)


# --- real recordings -------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _loop_unit(name: str, sample_rate_hz: int) -> np.ndarray:
    """The clip with its tail crossfaded into its head, so tiling it has no seam."""
    clip = _load(name, sample_rate_hz)
    fade = min(int(_LOOP_CROSSFADE_S * sample_rate_hz), clip.size // 4)
    if fade < 2:
        return clip
    theta = np.linspace(0.0, 0.5 * np.pi, fade)
    head = clip[:fade] * np.sin(theta) + clip[clip.size - fade :] * np.cos(theta)
    unit = np.concatenate([head, clip[fade : clip.size - fade]])
    unit.setflags(write=False)
    return unit


@functools.lru_cache(maxsize=32)
def _load(name: str, sample_rate_hz: int) -> np.ndarray:
    if name not in list_real_ambiences():
        raise RoomtoneError(
            f"unknown real ambience {name!r}; choose one of {', '.join(list_real_ambiences())}"
        )
    audio, rate_hz = sf.read(asset_dir("ambience") / f"{name}.flac", dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    if rate_hz != sample_rate_hz:
        mono = soxr.resample(mono, rate_hz, sample_rate_hz)
    return np.ascontiguousarray(mono, dtype=np.float64)


# --- procedural textures ----------------------------------------------------------------------


def _rain(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Hiss bed plus thousands of droplets: short damped resonances at random pitch and level."""
    bed = _bandpass(rng.standard_normal(n), fs, 400.0, 9000.0, order=2) * 0.25
    rate_per_s = rng.uniform(300.0, 2000.0)
    out = bed
    # A few droplet "families" (pitch, damping); each family is one sparse train convolved once.
    for _ in range(8):
        count = rng.poisson(rate_per_s * n / fs / 8)
        train = np.zeros(n)
        positions = rng.integers(0, n, size=count)
        np.add.at(train, positions, rng.lognormal(0.0, 0.8, size=count) * rng.choice([-1.0, 1.0], size=count))
        freq_hz = min(rng.uniform(1500.0, 7000.0), 0.45 * fs)
        decay_s = rng.uniform(0.002, 0.008)
        t = np.arange(int(decay_s * 6 * fs)) / fs
        kernel = np.sin(2 * np.pi * freq_hz * t) * np.exp(-t / decay_s)
        out = out + signal.fftconvolve(train, kernel)[:n] * 0.3
    return out


def _wind(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Low-passed noise whose level and brightness follow slow gusts, plus a faint whistle."""
    noise = rng.standard_normal(n)
    dull = _lowpass(noise, fs, rng.uniform(150.0, 300.0))
    bright = _lowpass(noise, fs, rng.uniform(800.0, 1600.0))
    gust = _slow_envelope(n, fs, rng, rate_hz=rng.uniform(0.1, 0.4))  # 0..1
    level = 0.3 + 0.7 * gust
    body = level * ((1.0 - gust) * dull / _rms(dull) + gust * bright / _rms(bright))
    whistle_hz = rng.uniform(400.0, 900.0)
    whistle = _bandpass(rng.standard_normal(n), fs, whistle_hz * 0.95, whistle_hz * 1.05, order=2)
    return body + 0.15 * gust**2 * whistle / _rms(whistle)


def _traffic(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Distant road rumble with cars swelling past every few seconds."""
    rumble = _lowpass(np.cumsum(rng.standard_normal(n)) * 0.02 + rng.standard_normal(n), fs, 150.0)
    out = rumble / _rms(rumble)
    t_s = np.arange(n) / fs
    duration_s = n / fs
    n_cars = rng.poisson(max(duration_s, 1.0) / rng.uniform(2.0, 8.0)) + 1
    car_noise = _lowpass(rng.standard_normal(n), fs, rng.uniform(1000.0, 3000.0))
    car_noise /= _rms(car_noise)
    for _ in range(n_cars):
        t0_s = rng.uniform(-1.0, duration_s + 1.0)
        width_s = rng.uniform(0.6, 2.5)
        swell = 1.0 / (1.0 + ((t_s - t0_s) / width_s) ** 2)
        # Each car rides on a shifted stretch of the noise so cars do not sound identical.
        shifted = np.roll(car_noise, int(rng.integers(n)))
        out = out + rng.uniform(1.0, 4.0) * swell * shifted
    return out


def _babble(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Six to ten independent talkers, muffled and smeared by a short room so words blur."""
    from engine.kit.rooms import noise_tail
    from engine.kit.speech import random_speaker, speech_source

    seconds = n / fs
    out = np.zeros(n)
    for _ in range(int(rng.integers(6, 11))):
        talker = speech_source(seconds, fs, rng, speaker=random_speaker(rng))[:, 0].astype(np.float64)
        out += talker * 10.0 ** (rng.uniform(-6.0, 0.0) / 20.0)
    rt60_s = rng.uniform(0.4, 0.9)
    tail = noise_tail(np.full(7, rt60_s), int(rt60_s * fs), fs, rng)
    tail[0] += 0.05 * np.sqrt(np.sum(tail**2))
    out = signal.fftconvolve(out, tail)[:n]
    return _lowpass(out, fs, rng.uniform(2500.0, 4500.0))


def _hvac(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Pink-ish air noise plus mains hum (50 or 60 Hz) with odd-heavy harmonics and a slow wobble."""
    air = _colored_noise(n, rng, exponent=rng.uniform(0.8, 1.3))
    air = _lowpass(air, fs, rng.uniform(2000.0, 6000.0))
    out = air / _rms(air)
    mains_hz = float(rng.choice([50.0, 60.0]))
    t_s = np.arange(n) / fs
    wobble = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t_s + rng.uniform(0, 2 * np.pi))
    hum_level = 10.0 ** (rng.uniform(-12.0, -3.0) / 20.0)
    for harmonic in range(1, 8):
        if mains_hz * harmonic >= 0.45 * fs:
            break
        weight = (1.0 if harmonic % 2 else 0.4) / harmonic
        phase = rng.uniform(0, 2 * np.pi)
        out = out + hum_level * weight * np.sqrt(2) * wobble * np.sin(2 * np.pi * mains_hz * harmonic * t_s + phase)
    return out


# --- helpers ----------------------------------------------------------------------------------


def _at_level(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    rms = _rms(x)
    if rms > 0:
        x = x * (10.0 ** (AMBIENCE_RMS_DBFS / 20.0) / rms)
    return x.astype(np.float32)[:, None]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _lowpass(x: np.ndarray, fs: int, cutoff_hz: float, order: int = 4) -> np.ndarray:
    cutoff_hz = min(cutoff_hz, 0.45 * fs)
    sos = signal.butter(order, cutoff_hz, btype="lowpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def _bandpass(x: np.ndarray, fs: int, low_hz: float, high_hz: float, order: int = 4) -> np.ndarray:
    high_hz = min(high_hz, 0.45 * fs)
    low_hz = min(low_hz, 0.5 * high_hz)
    sos = signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def _colored_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with a 1/f^exponent power spectrum (1 = pink), shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    return np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n)


def _slow_envelope(n: int, fs: int, rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """Smooth random 0..1 curve with features every ~1/rate_hz seconds (cosine-interpolated knots)."""
    n_knots = int(np.ceil(n / fs * rate_hz)) + 2
    knots = rng.uniform(0.0, 1.0, size=n_knots)
    pos = np.arange(n) / fs * rate_hz
    i = np.floor(pos).astype(np.int64)
    frac = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
    return knots[i] * (1.0 - frac) + knots[i + 1] * frac
