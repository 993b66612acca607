"""Rendered scenes: dry speech through a room plus ambience, with every ground truth attached.

A ``SceneSpec`` is small and serialisable (a room, an ambience name, an SNR, a seed); rendering it
is deterministic, so tests, evaluation and presets can store the spec instead of audio.

SNR convention (documented once, used everywhere): **active-speech RMS of the wet signal vs the
RMS of the whole ambience**, in dB. Active frames are 20 ms frames whose *dry* level is within
40 dB of the loudest dry frame -- taken from the dry signal because reverberant tails would fill
the pauses of the wet one. Not loudness (LUFS): K-weighting would make the SNR depend on the
ambience's spectrum, which the matcher is meant to measure, not be confounded by.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import signal

from engine.errors import RoomtoneError
from engine.kit.acoustics import OCTAVE_BANDS_HZ, band_rt60_s, direct_index, drr_db
from engine.kit.ambience import PROCEDURAL_KINDS, list_real_ambiences, procedural_ambience, real_ambience
from engine.kit.rooms import RoomConfig, random_room, reposition_source, room_impulse_response
from engine.kit.speech import Speaker, random_speaker, speech_source

# Wet active speech is set to this level, then everything is scaled down together if the mix
# would clip: dialogue-like levels with headroom, and ``mix == wet + ambience`` still exact.
SPEECH_ACTIVE_RMS_DBFS = -26.0
MIX_PEAK_LIMIT = 0.98

_ACTIVITY_FRAME_S = 0.02
_ACTIVITY_RANGE_DB = 40.0


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to re-render a scene bit-for-bit.

    ``ambience`` is ``'real:<name>'`` (see ``list_real_ambiences``), ``'proc:<kind>'`` (see
    ``PROCEDURAL_KINDS``) or ``'none'``; ``snr_db`` follows the module's SNR convention.
    """

    room: RoomConfig
    ambience: str = "proc:hvac"
    snr_db: float = 20.0
    seed: int = 0


@dataclass
class SceneRecording:
    """One rendered scene; arrays are float32 (frames, 1) except the 1-D ``rir``.

    ``wet`` is ``dry`` convolved with ``rir``, truncated to the dry length (the RIR's direct path
    sits at ``direct_index``, so wet lags dry by that many samples). ``mix`` is exactly
    ``wet + ambience``. ``rt60_band_s`` and ``drr_db`` are measured from ``rir``, not the targets.
    """

    sample_rate_hz: int
    dry: np.ndarray
    rir: np.ndarray
    wet: np.ndarray
    ambience: np.ndarray
    mix: np.ndarray
    rt60_band_s: np.ndarray
    drr_db: float
    snr_db: float
    spec: SceneSpec
    direct_index: int


def random_scene(rng: np.random.Generator, kind: str | None = None) -> SceneSpec:
    """A random scene: mostly rooms (outdoors one time in five unless ``kind`` says), any ambience, 0-30 dB SNR."""
    if kind is None:
        kind = "outdoor" if rng.uniform() < 0.2 else "shoebox"
    room = random_room(rng, kind=kind)
    choices = [f"real:{name}" for name in list_real_ambiences()] + [f"proc:{k}" for k in PROCEDURAL_KINDS]
    ambience = choices[int(rng.integers(len(choices)))]
    return SceneSpec(
        room=room,
        ambience=ambience,
        snr_db=round(float(rng.uniform(0.0, 30.0)), 2),
        seed=int(rng.integers(2**31 - 1)),
    )


def render_scene(
    spec: SceneSpec,
    seconds: float,
    sample_rate_hz: int = 48000,
    speech: np.ndarray | None = None,
    speaker: Speaker | str | None = None,
) -> SceneRecording:
    """Render ``spec`` to exactly ``round(seconds * sample_rate_hz)`` frames.

    The seed is split into independent streams for room, speech and ambience, so passing your own
    ``speech`` leaves the RIR and the ambience identical to the generated-speech render.
    """
    n_frames = int(round(seconds * sample_rate_hz))
    room_rng, speech_rng, ambience_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(3)
    )
    if speech is None:
        dry = speech_source(seconds, sample_rate_hz, speech_rng, speaker=speaker)
    else:
        dry = _fit_length(_as_mono(speech), n_frames)

    rir = room_impulse_response(spec.room, sample_rate_hz, room_rng)
    wet = signal.fftconvolve(dry[:, 0].astype(np.float64), rir.astype(np.float64))[:n_frames]
    active = speech_activity(dry, sample_rate_hz)
    speech_rms = _active_rms(wet, active)
    if speech_rms <= 0.0:
        raise RoomtoneError("the dry speech is silent; nothing to render")
    gain = 10.0 ** (SPEECH_ACTIVE_RMS_DBFS / 20.0) / speech_rms
    wet *= gain

    ambience = _fit_length(ambience_source(spec.ambience, seconds, sample_rate_hz, ambience_rng), n_frames)
    ambience = ambience[:, 0].astype(np.float64)
    ambience_rms = float(np.sqrt(np.mean(ambience**2))) if n_frames else 0.0
    if ambience_rms > 0.0:
        ambience *= _active_rms(wet, active) / ambience_rms * 10.0 ** (-spec.snr_db / 20.0)
        snr_db = float(spec.snr_db)
    else:
        snr_db = float("inf")

    # One common gain keeps wet = dry * rir and the SNR while keeping the mix from clipping.
    peak = float(np.max(np.abs(wet + ambience))) if n_frames else 0.0
    headroom = min(1.0, MIX_PEAK_LIMIT / peak) if peak > 0.0 else 1.0
    dry32 = (dry[:, 0].astype(np.float64) * gain * headroom).astype(np.float32)[:, None]
    wet32 = (wet * headroom).astype(np.float32)[:, None]
    ambience32 = (ambience * headroom).astype(np.float32)[:, None]
    return SceneRecording(
        sample_rate_hz=int(sample_rate_hz),
        dry=dry32,
        rir=rir,
        wet=wet32,
        ambience=ambience32,
        mix=wet32 + ambience32,
        rt60_band_s=band_rt60_s(rir, sample_rate_hz, OCTAVE_BANDS_HZ),
        drr_db=drr_db(rir, sample_rate_hz),
        snr_db=snr_db,
        spec=spec,
        direct_index=direct_index(rir),
    )


def scene_pair(
    spec: SceneSpec,
    seconds: float,
    sample_rate_hz: int,
    rng: np.random.Generator,
    same_speaker: bool = False,
) -> tuple[SceneRecording, SceneRecording]:
    """Two takes of one scene: same room, mic and ambience type; other lines, other talker position.

    Meant for "reference vs ground-truth target" evaluation: the first is what a user would give
    as reference, the second is what a perfect match of new dialogue should sound like. The
    second take uses a fresh seed, so its late-field noise and ambience excerpt differ too, as on
    a real set. ``same_speaker`` keeps one synthetic voice for both.
    """
    speaker_a = random_speaker(rng)
    speaker_b = speaker_a if same_speaker else random_speaker(rng)
    spec_b = replace(spec, room=reposition_source(spec.room, rng), seed=int(rng.integers(2**31 - 1)))
    first = render_scene(spec, seconds, sample_rate_hz, speaker=speaker_a)
    second = render_scene(spec_b, seconds, sample_rate_hz, speaker=speaker_b)
    return first, second


def speech_activity(dry: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per-sample boolean mask of active speech (see the module's SNR convention)."""
    x = _as_mono(dry)[:, 0].astype(np.float64)
    frame = max(1, int(round(_ACTIVITY_FRAME_S * sample_rate_hz)))
    n_frames = int(np.ceil(x.size / frame))
    padded = np.zeros(n_frames * frame)
    padded[: x.size] = x
    power = np.mean(padded.reshape(n_frames, frame) ** 2, axis=1)
    if power.size == 0 or power.max() <= 0.0:
        return np.zeros(x.size, dtype=bool)
    active = power > power.max() * 10.0 ** (-_ACTIVITY_RANGE_DB / 10.0)
    return np.repeat(active, frame)[: x.size]


def measured_snr_db(recording: SceneRecording) -> float:
    """SNR of a rendered scene recomputed from its audio, by the module's convention."""
    active = speech_activity(recording.dry, recording.sample_rate_hz)
    speech_rms = _active_rms(recording.wet[:, 0].astype(np.float64), active)
    ambience_rms = float(np.sqrt(np.mean(recording.ambience[:, 0].astype(np.float64) ** 2)))
    if ambience_rms <= 0.0:
        return float("inf")
    return float(20.0 * np.log10(speech_rms / ambience_rms))


def ambience_source(name: str, seconds: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A ``SceneSpec.ambience`` name ('real:<name>', 'proc:<kind>', 'none') as (frames, 1) float32."""
    source, _, detail = name.partition(":")
    if name == "none":
        return np.zeros((int(round(seconds * sample_rate_hz)), 1), dtype=np.float32)
    if source == "real":
        return real_ambience(detail, seconds, sample_rate_hz, rng)
    if source == "proc":
        return procedural_ambience(detail, seconds, sample_rate_hz, rng)
    raise RoomtoneError(f"unknown ambience {name!r}; use 'real:<name>', 'proc:<kind>' or 'none'")


def _active_rms(x: np.ndarray, active: np.ndarray) -> float:
    values = x[: active.size][active[: x.size]]
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


def _as_mono(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        return a[:, None]
    if a.ndim == 2 and a.shape[1] == 1:
        return a
    raise RoomtoneError(f"scene speech must be mono (frames,) or (frames, 1); got shape {a.shape}")


def _fit_length(x: np.ndarray, n_frames: int) -> np.ndarray:
    if x.shape[0] >= n_frames:
        return x[:n_frames]
    return np.concatenate([x, np.zeros((n_frames - x.shape[0], x.shape[1]), dtype=x.dtype)])
