"""Many talkers from espeak-ng: every language voice x variant, with pitch, rate and formant shifts.

A scene estimator must not learn one talker's spectrum as "the room". Training across every voice
espeak-ng ships (languages read our English lines with their own phonology, variants change the
glottal source and formants) and shifting formants by resampling gives thousands of distinct
talkers. Voices and variants are split into a training and a held-out set by name, so evaluation
can use talkers that training never heard.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass

import numpy as np
import soxr

from engine.errors import RoomtoneError
from engine.kit.speech import ESPEAK_BINARY, SENTENCES, espeak_available, espeak_speech

# Held out from training and tuning: evaluation talkers.
HELD_OUT_LANGUAGES: frozenset[str] = frozenset({"de", "pt", "sv", "hi", "ru", "ja", "en-us-nyc", "fr-be"})
HELD_OUT_VARIANTS: frozenset[str] = frozenset(
    {"m7", "f4", "klatt3", "Alicia", "grandma", "norbert", "steph3", "Mario", "quincy", "anika"}
)


@dataclass(frozen=True)
class Talker:
    """One synthetic person: espeak voice '+variant', base pitch, rate and a formant scale."""

    voice: str
    pitch: int
    speed_wpm: int
    formant_scale: float  # > 1 raises formants and pitch together (resampling), < 1 lowers them


@functools.lru_cache(maxsize=1)
def _espeak_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not espeak_available():
        raise RoomtoneError("espeak-ng is not installed; install the 'espeak-ng' package to render voices")
    langs = subprocess.run([ESPEAK_BINARY, "--voices"], capture_output=True, text=True, timeout=30).stdout
    variants = subprocess.run([ESPEAK_BINARY, "--voices=variant"], capture_output=True, text=True, timeout=30).stdout
    lang_names = sorted({line.split()[1] for line in langs.splitlines()[1:] if len(line.split()) > 1})
    variant_names = sorted({line.split()[4].split("/")[-1] for line in variants.splitlines()[1:] if len(line.split()) > 4})
    return tuple(lang_names), tuple(variant_names)


def voice_pool(split: str) -> tuple[list[str], list[str]]:
    """(languages, variants) for ``split`` 'train' or 'heldout'; disjoint by name."""
    langs, variants = _espeak_lists()
    held = split == "heldout"
    if split not in ("train", "heldout"):
        raise RoomtoneError(f"unknown voice split {split!r}; use 'train' or 'heldout'")
    pick_l = [v for v in langs if (v in HELD_OUT_LANGUAGES) == held]
    pick_v = [v for v in variants if (v in HELD_OUT_VARIANTS) == held]
    return pick_l, pick_v


def random_talker(rng: np.random.Generator, split: str = "train") -> Talker:
    """A talker from the split's voices; English voices are drawn more often (dialogue is mostly so)."""
    langs, variants = voice_pool(split)
    english = [v for v in langs if v.startswith("en")]
    lang = english[int(rng.integers(len(english)))] if english and rng.uniform() < 0.5 else langs[int(rng.integers(len(langs)))]
    variant = variants[int(rng.integers(len(variants)))]
    return Talker(
        voice=f"{lang}+{variant}",
        pitch=int(rng.integers(20, 80)),
        speed_wpm=int(rng.integers(120, 200)),
        formant_scale=float(np.exp(rng.uniform(np.log(0.85), np.log(1.18)))),
    )


def utterance(talker: Talker, rng: np.random.Generator, sample_rate_hz: int = 48000) -> np.ndarray:
    """One line by ``talker`` as float32 1-D at ``sample_rate_hz`` (espeak content stops near 11 kHz)."""
    text = SENTENCES[int(rng.integers(len(SENTENCES)))]
    pitch = int(np.clip(talker.pitch + rng.integers(-5, 6), 0, 99))
    speed = int(np.clip(talker.speed_wpm + rng.integers(-10, 11), 80, 400))
    x = espeak_speech(text, talker.voice, pitch, speed, sample_rate_hz)[:, 0]
    if abs(talker.formant_scale - 1.0) > 1e-3:
        # Played faster: resample from rate*scale down to rate, so formants move up by `scale`.
        x = soxr.resample(x, sample_rate_hz * talker.formant_scale, sample_rate_hz).astype(np.float32)
    return x


def talker_lines(rng: np.random.Generator, split: str, lines: int, sample_rate_hz: int = 48000) -> tuple[Talker, list[np.ndarray]]:
    """A random talker and ``lines`` of its speech; a voice espeak-ng lists but cannot load
    (a few language entries fail with "voice does not exist") is replaced by another draw."""
    for _ in range(10):
        who = random_talker(rng, split)
        try:
            return who, [utterance(who, rng, sample_rate_hz) for _ in range(lines)]
        except RoomtoneError:
            continue
    raise RoomtoneError("espeak-ng failed for ten voices in a row; check the espeak-ng installation")
