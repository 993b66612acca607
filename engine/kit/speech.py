"""Dry speech sources: the bundled real voice clips and espeak-ng synthesis.

Scenes need dry speech with real pauses between utterances, because free decays (speech offsets)
are what reverberation analysis listens to. espeak-ng gives unlimited, varied, license-free text
and voices; the eight bundled alsa clips are the fallback so tests run on machines without it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.errors import RoomtoneError
from engine.kit._assets import asset_dir

ESPEAK_BINARY = "espeak-ng"

# Pauses between utterances: long enough for a clear free decay, short enough to stay dialogue.
PAUSE_RANGE_S = (0.2, 1.2)

# Active speech is normalised near this RMS so scenes start from a predictable level.
_UTTERANCE_RMS_DBFS = -23.0

SENTENCES: tuple[str, ...] = (
    "I told you already, the car keys are on the kitchen table.",
    "We should leave before the rain gets any worse.",
    "Can you hear that noise coming from the basement?",
    "She said she would call back after lunch.",
    "Nobody knows where the old map ended up.",
    "The train was twenty minutes late again this morning.",
    "Put the box down over there, next to the door.",
    "I don't think that's a very good idea.",
    "He walked all the way home in the dark.",
    "Let me know when you are ready to start.",
    "This is the last time I am going to ask you.",
    "The coffee in this place is surprisingly good.",
    "We found the letter hidden behind the painting.",
    "Turn left at the bridge and keep going straight.",
    "Why didn't anyone tell me about the meeting?",
    "My brother used to work at the harbour.",
    "The window was open when we got back.",
    "Just give me a minute to think about it.",
    "They moved to the city when she was seven.",
    "Everything looks different in the morning light.",
    "Are you sure this is the right address?",
    "I heard footsteps on the stairs last night.",
    "The doctor will see you in a few minutes.",
    "Keep your voice down, someone might be listening.",
    "We have until Friday to finish the report.",
    "It was the coldest winter anyone could remember.",
    "Please close the gate on your way out.",
    "I can't believe you kept that old jacket.",
    "The lights went out right in the middle of dinner.",
    "Tell me exactly what happened after the party.",
    "There is still some soup left in the pot.",
    "He promised he would fix the roof next week.",
    "Wait here, I'll be back in a second.",
    "The dog has been barking at the fence all day.",
    "Somebody left the radio on in the other room.",
    "We need more chairs before the guests arrive.",
    "I think we took a wrong turn a while ago.",
    "She laughed and said it didn't matter anymore.",
    "The station is closed on Sundays.",
    "Honestly, I have no idea what you mean.",
)


@dataclass(frozen=True)
class Speaker:
    """One synthetic person: an espeak voice with its own base pitch and speaking rate."""

    voice: str = "en"
    pitch: int = 50
    speed_wpm: int = 160


# Male and female variants of several English accents; pitch ranges follow the variant's gender.
SPEAKERS: tuple[Speaker, ...] = (
    Speaker("en+m1", 40, 155),
    Speaker("en+m3", 45, 165),
    Speaker("en+m5", 35, 150),
    Speaker("en+m7", 50, 170),
    Speaker("en-us+m2", 42, 160),
    Speaker("en-gb-scotland+m4", 38, 150),
    Speaker("en-gb-x-rp+m6", 48, 158),
    Speaker("en+f1", 60, 160),
    Speaker("en+f2", 65, 170),
    Speaker("en+f3", 70, 155),
    Speaker("en+f4", 58, 165),
    Speaker("en-us+f5", 62, 160),
    Speaker("en-gb-x-rp+f2", 68, 150),
    Speaker("en-029+f4", 64, 165),
)


def espeak_available() -> bool:
    """Whether espeak-ng can be called; tests and generators use it to pick the fallback path."""
    return shutil.which(ESPEAK_BINARY) is not None


def espeak_speech(
    text: str,
    voice: str = "en",
    pitch: int = 50,
    speed: int = 160,
    sample_rate_hz: int = 48000,
) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng, silence-trimmed, as float32 (frames, 1).

    espeak renders at 22.05 kHz, so content above ~11 kHz is absent whatever ``sample_rate_hz``;
    trimming leaves the caller in charge of every pause. Results are cached because babble and
    long scenes repeat the same (text, voice) pairs.
    """
    return _espeak_cached(text, voice, int(pitch), int(speed), int(sample_rate_hz))[:, None].copy()


@functools.lru_cache(maxsize=256)
def _espeak_cached(text: str, voice: str, pitch: int, speed: int, sample_rate_hz: int) -> np.ndarray:
    binary = shutil.which(ESPEAK_BINARY)
    if binary is None:
        raise RoomtoneError("espeak-ng is not installed; install the 'espeak-ng' package to synthesise speech")
    with tempfile.TemporaryDirectory(prefix="roomtone-espeak-") as tmp:
        wav_path = Path(tmp) / "utterance.wav"
        cmd = [binary, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav_path), "--", text]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not wav_path.exists():
            raise RoomtoneError(f"espeak-ng failed for voice {voice!r}: {result.stderr.strip() or 'no output'}")
        audio, rate_hz = sf.read(wav_path, dtype="float32", always_2d=True)
    mono = _trim_silence(audio[:, 0])
    if mono.size == 0:
        raise RoomtoneError(f"espeak-ng produced silence for voice {voice!r}")
    out = _resample(mono, rate_hz, sample_rate_hz)
    out.setflags(write=False)
    return out


def alsa_voice(sample_rate_hz: int) -> np.ndarray:
    """The eight bundled real voice clips, concatenated with fixed pseudo-random pauses, (frames, 1).

    The pauses come from a fixed seed so the clip is identical on every machine: tests can pin
    numbers on it.
    """
    clips = _alsa_clips(int(sample_rate_hz))
    pauses_s = np.random.default_rng(8).uniform(0.25, 0.8, size=len(clips))
    parts: list[np.ndarray] = []
    for clip, pause_s in zip(clips, pauses_s):
        parts.append(clip)
        parts.append(np.zeros(int(round(pause_s * sample_rate_hz)), dtype=np.float32))
    return np.concatenate(parts)[:, None].astype(np.float32)


def random_speaker(rng: np.random.Generator) -> Speaker:
    """A random person from ``SPEAKERS`` with a small personal offset, so pairs rarely coincide."""
    base = SPEAKERS[int(rng.integers(len(SPEAKERS)))]
    return Speaker(
        voice=base.voice,
        pitch=int(np.clip(base.pitch + rng.integers(-6, 7), 0, 99)),
        speed_wpm=int(np.clip(base.speed_wpm + rng.integers(-12, 13), 80, 400)),
    )


def speech_source(
    seconds: float,
    sample_rate_hz: int,
    rng: np.random.Generator,
    speaker: Speaker | str | None = None,
) -> np.ndarray:
    """Dry speech of exactly ``round(seconds * sample_rate_hz)`` frames, (frames, 1) float32.

    Utterances are separated by 0.2-1.2 s of digital silence so the reverberant render has clean
    free decays. ``speaker=None`` mixes random voices per utterance (a crowd of lines); pass a
    ``Speaker`` (or an espeak voice name) to keep one person, with natural per-line prosody
    variation, so two clips can be "the same person". Without espeak-ng the alsa clips are used,
    pitch/rate-shifted per speaker so different speakers still differ.
    """
    n_frames = int(round(seconds * sample_rate_hz))
    fixed = _as_speaker(speaker)
    use_espeak = espeak_available()
    out = np.zeros(n_frames, dtype=np.float32)
    pos = int(round(rng.uniform(0.05, 0.4) * sample_rate_hz))
    while pos < n_frames:
        who = fixed if fixed is not None else random_speaker(rng)
        if use_espeak:
            utterance = _espeak_utterance(who, sample_rate_hz, rng)
        else:
            utterance = _alsa_utterance(who, sample_rate_hz, rng)
        gain_db = _UTTERANCE_RMS_DBFS + rng.uniform(-2.0, 2.0)
        utterance = utterance * np.float32(10.0 ** (gain_db / 20.0) / max(_rms(utterance), 1e-9))
        take = min(utterance.size, n_frames - pos)
        out[pos : pos + take] = utterance[:take]
        pos += utterance.size + int(round(rng.uniform(*PAUSE_RANGE_S) * sample_rate_hz))
    _fade_edges(out, sample_rate_hz)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.9:
        out *= np.float32(0.9 / peak)
    return out[:, None]


def _espeak_utterance(who: Speaker, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    text = SENTENCES[int(rng.integers(len(SENTENCES)))]
    pitch = int(np.clip(who.pitch + rng.integers(-4, 5), 0, 99))
    speed = int(np.clip(who.speed_wpm + rng.integers(-10, 11), 80, 400))
    return espeak_speech(text, who.voice, pitch, speed, sample_rate_hz)[:, 0]


def _alsa_utterance(who: Speaker, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    clips = _alsa_clips(int(sample_rate_hz))
    clip = clips[int(rng.integers(len(clips)))]
    # Playing the clip faster/slower shifts pitch and rate together: crude, but it makes
    # "another person" audibly different even without a synthesiser.
    factor = 2.0 ** ((who.pitch - 50 + rng.uniform(-3, 3)) / 120.0)
    return _resample(clip, sample_rate_hz * factor, sample_rate_hz)


@functools.lru_cache(maxsize=8)
def _alsa_clips(sample_rate_hz: int) -> tuple[np.ndarray, ...]:
    clips = []
    for path in sorted(asset_dir("speech").glob("*.wav")):
        audio, rate_hz = sf.read(path, dtype="float32", always_2d=True)
        clip = _resample(_trim_silence(audio.mean(axis=1)), rate_hz, sample_rate_hz)
        clip.setflags(write=False)
        clips.append(clip)
    if not clips:
        raise RoomtoneError("the bundled speech clips are missing; reinstall Roomtone")
    return tuple(clips)


def _as_speaker(speaker: Speaker | str | None) -> Speaker | None:
    if speaker is None or isinstance(speaker, Speaker):
        return speaker
    for known in SPEAKERS:
        if known.voice == speaker:
            return known
    return Speaker(voice=str(speaker))


def _trim_silence(x: np.ndarray, threshold_db: float = -50.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x[:0].astype(np.float32)
    loud = np.nonzero(np.abs(x) > peak * 10.0 ** (threshold_db / 20.0))[0]
    return np.ascontiguousarray(x[loud[0] : loud[-1] + 1], dtype=np.float32)


def _resample(x: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    if abs(from_hz - to_hz) < 1e-6:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(np.ascontiguousarray(x, dtype=np.float32), from_hz, to_hz).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _fade_edges(x: np.ndarray, sample_rate_hz: int, fade_s: float = 0.005) -> None:
    """A cut mid-word at the clip edge would click; a 5 ms fade keeps it a plain offset."""
    n = min(int(fade_s * sample_rate_hz), x.size // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
