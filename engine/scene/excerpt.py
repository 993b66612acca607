"""Audio excerpts kept with a scene: a clean ambience bed and a speech-rich reference snippet.

The ambience excerpt is taken where the VAD hears no speech, after a margin that lets the
reverberant tail die away (a tail in the bed would double the room's reverb on the render). When
the clip has too little speech-free time, a dry room uses the DeepFilterNet residual (mix -
speech) of the least speechy separated windows, a live room the runs of frames at its level floor. Caveat, measured: DeepFilterNet3 also removes much of
the reverberant tail, so in live rooms that residual carries reverberant speech; it is a fallback.
Gaps nearly as loud as the speech hold speech the VAD missed (live rooms): the level floor then too.
"""

from __future__ import annotations

import numpy as np

from engine.scene.separation import Separation
from engine.scene.vad import SpeechSegment, speech_mask

CROSSFADE_S = 0.02
MIN_PIECE_S = 0.25
MARGIN_BEFORE_S = 0.1
MIN_GAP_TOTAL_S = 1.0  # even 1 s of true gaps beats the residual (which carries reverb)
DRY_ROOM_RT60_S = 0.4  # below this the separation residual holds little reverberant speech
QUIET_FRAME_S = 0.02
MIN_QUIET_RUN_S = 0.1
MIN_QUIET_TOTAL_S = 2.0
GAPS_NEAR_SPEECH_DB = -6.0  # gaps louder than this relative to the speech carry missed speech


def speech_free_spans(
    segments: list[SpeechSegment], duration_s: float, rt60_s: float
) -> list[tuple[float, float]]:
    """Spans without speech, after a tail margin of half the RT60 (-30 dB), 0.15-2.5 s."""
    after_s = float(np.clip(0.5 * rt60_s if np.isfinite(rt60_s) else 0.5, 0.15, 2.5))
    spans, t = [], 0.0
    for s in segments:
        if s.start_s - MARGIN_BEFORE_S - t >= MIN_PIECE_S:
            spans.append((t, s.start_s - MARGIN_BEFORE_S))
        t = max(t, s.end_s + after_s)
    if duration_s - t >= MIN_PIECE_S:
        spans.append((t, duration_s))
    return spans


def stitch(pieces: list[np.ndarray], sample_rate_hz: int, max_frames: int) -> np.ndarray:
    """Concatenate with short equal-power crossfades so joins never click."""
    xf = int(CROSSFADE_S * sample_rate_hz)
    out = pieces[0][:max_frames].astype(np.float32)
    for p in pieces[1:]:
        if out.shape[0] >= max_frames:
            break
        n = min(xf, out.shape[0], p.shape[0])
        if n > 0:
            ramp = np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, n, dtype=np.float32))[:, None]
            joint = out[-n:] * ramp[::-1] + p[:n] * ramp
            out = np.concatenate([out[:-n], joint, p[n:]])
        else:
            out = np.concatenate([out, p])
    return np.ascontiguousarray(out[:max_frames], dtype=np.float32)


def ambience_excerpt(
    audio: np.ndarray,
    sample_rate_hz: int,
    segments: list[SpeechSegment],
    rt60_s: float,
    separation: Separation | None,
    max_s: float = 20.0,
) -> tuple[np.ndarray, str]:
    """(excerpt (n, ch) float32, source 'gaps' | 'residual' | 'quiet-frames'), at most ``max_s`` seconds."""
    duration_s = audio.shape[0] / sample_rate_hz
    spans = speech_free_spans(segments, duration_s, rt60_s)
    total = sum(b - a for a, b in spans)
    max_frames = int(max_s * sample_rate_hz)
    if total >= MIN_GAP_TOTAL_S:
        pieces = [audio[int(a * sample_rate_hz) : int(b * sample_rate_hz)] for a, b in spans]
        gaps = stitch(pieces, sample_rate_hz, max_frames)
        if not _as_loud_as_speech(gaps, audio, segments, sample_rate_hz):
            return gaps, "gaps"
    elif separation is not None and rt60_s < DRY_ROOM_RT60_S:
        return residual_excerpt(audio, separation, segments, max_frames), "residual"
    return quiet_frames_excerpt(audio, sample_rate_hz, max_frames), "quiet-frames"


def _as_loud_as_speech(
    gaps: np.ndarray, audio: np.ndarray, segments: list[SpeechSegment], sample_rate_hz: int
) -> bool:
    """Whether the "gaps" are within GAPS_NEAR_SPEECH_DB of the speech: then they hold speech.

    In live rooms (measured: DRR -9 to -13 dB) silero-vad hears only the clearest syllables, so its
    gaps are full of reverberant speech; measured on the evaluation's 2-3 s rooms such gaps read
    0-1 dB below the speech and set the bed 15-27 dB too loud. Real ambience under dialogue sits
    well below the speech, so a bed this loud is a wrong excerpt, not a loud scene.
    """
    mono = audio.mean(axis=1).astype(np.float64)
    speech = mono[speech_mask(segments, mono.shape[0], sample_rate_hz)]
    speech_power = float(np.mean(speech**2)) if speech.size else 0.0
    gap_power = float(np.mean(gaps.mean(axis=1).astype(np.float64) ** 2)) if gaps.size else 0.0
    return speech_power > 0.0 and gap_power > speech_power * 10.0 ** (GAPS_NEAR_SPEECH_DB / 10.0)


def quiet_frames_excerpt(audio: np.ndarray, sample_rate_hz: int, max_frames: int) -> np.ndarray:
    """Runs of frames near the clip's level floor, for talk with no real pauses in a live room.

    Between words the reverberant tail decays into the ambience; the frames that reach the floor
    are ambience, the louder ones carry speech or its tail. Measured on kit scenes with 0.2-1.2 s
    pauses in a 1.1 s room: the gap and residual excerpts read 6-7 dB too loud, these ~1 dB.
    """
    hop = max(1, int(QUIET_FRAME_S * sample_rate_hz))
    mono = audio.mean(axis=1).astype(np.float64)
    n = mono.shape[0] // hop
    level_db = 10.0 * np.log10(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-20)
    floor_db = float(np.percentile(level_db, 10.0))
    min_run = max(1, int(MIN_QUIET_RUN_S / QUIET_FRAME_S))
    for margin_db in (3.0, 6.0, 10.0):
        quiet = level_db <= floor_db + margin_db
        runs = _runs(quiet, min_run)
        if sum(b - a for a, b in runs) * hop >= MIN_QUIET_TOTAL_S * sample_rate_hz:
            break
    if not runs:
        runs = [(0, n)]
    pieces = [audio[a * hop : b * hop] for a, b in runs]
    return stitch(pieces, sample_rate_hz, max_frames)


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, stop) index pairs of True runs at least min_len long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_len]


def residual_excerpt(
    audio: np.ndarray, separation: Separation, segments: list[SpeechSegment], max_frames: int
) -> np.ndarray:
    """mix - speech per channel (least-squares gain per channel), least speechy windows first."""
    sr = separation.sample_rate_hz
    mask = speech_mask(segments, audio.shape[0], sr)
    scored = []
    for w, s in zip(separation.windows, separation.speech):
        x = audio[w.start : w.stop].astype(np.float64)
        g = (x * s[:, None]).sum(axis=0) / max(float(np.dot(s, s)), 1e-20)
        res = (x - s[:, None] * g[None, :]).astype(np.float32)
        scored.append((float(mask[w.start : w.stop].mean()), w.start, res))
    scored.sort(key=lambda r: r[0])
    chosen, total = [], 0
    for _, start, res in scored:
        chosen.append((start, res))
        total += res.shape[0]
        if total >= max_frames:
            break
    chosen.sort(key=lambda r: r[0])
    return stitch([r for _, r in chosen], sr, max_frames)


def reference_excerpt(
    mono: np.ndarray, sample_rate_hz: int, segments: list[SpeechSegment], max_s: float = 10.0
) -> np.ndarray:
    """The contiguous ``max_s`` window with the most VAD speech, (n, 1) float32."""
    n = mono.shape[0]
    length = min(n, int(max_s * sample_rate_hz))
    rate = 100
    m = speech_mask(segments, int(np.ceil(n / sample_rate_hz * rate)), rate).astype(np.float64)
    win = max(1, int(length / sample_rate_hz * rate))
    if m.size > win:
        c = np.concatenate([[0.0], np.cumsum(m)])
        start = int(np.argmax(c[win:] - c[:-win])) * sample_rate_hz // rate
    else:
        start = 0
    start = min(start, n - length)
    return np.ascontiguousarray(mono[start : start + length, None], dtype=np.float32)
