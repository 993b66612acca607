"""Speech activity of a reference clip with silero-vad, batched so a 10-minute clip stays fast.

silero's own ``get_speech_timestamps`` feeds one 32 ms window per model call (about 1 ms of Python
and TorchScript overhead each: 2 s for a minute of audio). The model carries its LSTM state per
batch row, so we cut the clip into parallel streams that overlap by ``_WARMUP_S`` (enough for the
state to forget its reset), run them as one batch, and rebuild the same hysteresis segmentation
that ``get_speech_timestamps`` applies (threshold 0.5 / 0.35, 250 ms minimum speech, 100 ms
minimum silence, 30 ms padding).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.audio.resample import resample

VAD_SAMPLE_RATE_HZ = 16000
_WINDOW = 512  # samples per model call at 16 kHz (fixed by silero v5)
_WARMUP_S = 1.0
_STREAM_S = 8.0
_THRESHOLD = 0.5
_NEG_THRESHOLD = 0.35
_MIN_SPEECH_S = 0.25
_MIN_SILENCE_S = 0.1
_PAD_S = 0.03
# A far talker in a wet room under noise rarely passes 0.5 (a stairwell at DRR -14 dB peaks at
# 0.67); pure ambience stays below ~0.3 (the bundled beds without voices: <= 0.32 for one window).
_FAR_THRESHOLD = 0.3
_FAR_NEG_THRESHOLD = 0.2
_MIN_FOUND_S = 0.5
_MIN_FAR_FOUND_S = 1.0

_model = None
_model_lock = threading.Lock()


@dataclass(frozen=True)
class SpeechSegment:
    start_s: float
    end_s: float


def _load_model():
    """Load once, lazily: the TorchScript load costs ~0.1 s and importing torch far more."""
    global _model
    with _model_lock:
        if _model is None:
            import silero_vad

            _model = silero_vad.load_silero_vad()
        return _model


def speech_probability(mono: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per-32 ms-window speech probability of a 1-D signal (one value per 512 samples at 16 kHz)."""
    import torch

    x16 = resample(np.asarray(mono, dtype=np.float32)[:, None], sample_rate_hz, VAD_SAMPLE_RATE_HZ)[:, 0]
    n_win = int(np.ceil(x16.size / _WINDOW))
    if n_win == 0:
        return np.zeros(0, dtype=np.float32)
    x16 = np.pad(x16, (0, n_win * _WINDOW - x16.size))
    stream_w = int(_STREAM_S * VAD_SAMPLE_RATE_HZ / _WINDOW)
    warm_w = int(_WARMUP_S * VAD_SAMPLE_RATE_HZ / _WINDOW)
    n_streams = max(1, int(np.ceil(n_win / stream_w)))
    rows = np.zeros((n_streams, (warm_w + stream_w) * _WINDOW), dtype=np.float32)
    for k in range(n_streams):
        a = k * stream_w - (warm_w if k else 0)
        chunk = x16[a * _WINDOW : min(n_win, (k + 1) * stream_w) * _WINDOW]
        rows[k, : chunk.size] = chunk
    model = _load_model()
    with _model_lock, torch.no_grad():
        model.reset_states()
        batch = torch.from_numpy(rows)
        probs = [
            model(batch[:, i : i + _WINDOW], VAD_SAMPLE_RATE_HZ).reshape(n_streams)
            for i in range(0, rows.shape[1], _WINDOW)
        ]
        model.reset_states()
    p = torch.stack(probs, dim=1).numpy()
    out = np.empty(n_win, dtype=np.float32)
    for k in range(n_streams):
        skip = warm_w if k else 0
        seg = p[k, skip : skip + stream_w]
        lo = k * stream_w
        take = min(stream_w, n_win - lo)
        out[lo : lo + take] = seg[:take]
    return out


def speech_segments(mono: np.ndarray, sample_rate_hz: int) -> list[SpeechSegment]:
    """Speech regions in seconds, with silero's default hysteresis and padding."""
    p = speech_probability(mono, sample_rate_hz)
    return segments_from_probability(p, mono.shape[0] / sample_rate_hz)


def reference_speech_segments(mono: np.ndarray, sample_rate_hz: int) -> list[SpeechSegment]:
    """Speech of a reference clip: silero's hysteresis, or where that finds under 0.5 s, a lower
    one that a distant, reverberant talker reaches and ambience alone does not (then at least
    1 s of it). Empty when neither finds speech."""
    p = speech_probability(mono, sample_rate_hz)
    duration_s = mono.shape[0] / sample_rate_hz
    found = segments_from_probability(p, duration_s)
    if total_speech_s(found) >= _MIN_FOUND_S:
        return found
    far = segments_from_probability(p, duration_s, _FAR_THRESHOLD, _FAR_NEG_THRESHOLD)
    return far if total_speech_s(far) >= _MIN_FAR_FOUND_S else []


def total_speech_s(segments: list[SpeechSegment]) -> float:
    """Seconds of speech in ``segments``."""
    return sum(s.end_s - s.start_s for s in segments)


def segments_from_probability(p: np.ndarray, duration_s: float, threshold: float = _THRESHOLD,
                              neg_threshold: float = _NEG_THRESHOLD) -> list[SpeechSegment]:
    win_s = _WINDOW / VAD_SAMPLE_RATE_HZ
    segments: list[list[float]] = []
    active, start = False, 0.0
    below_since: float | None = None
    for i, prob in enumerate(p):
        t = i * win_s
        if not active:
            if prob >= threshold:
                active, start, below_since = True, t, None
        elif prob < neg_threshold:
            if below_since is None:
                below_since = t
            if t + win_s - below_since >= _MIN_SILENCE_S:
                segments.append([start, below_since])
                active = False
        else:
            below_since = None
    if active:
        segments.append([start, len(p) * win_s])
    out: list[SpeechSegment] = []
    for a, b in segments:
        if b - a < _MIN_SPEECH_S:
            continue
        a, b = max(0.0, a - _PAD_S), min(duration_s, b + _PAD_S)
        if out and a <= out[-1].end_s:
            out[-1] = SpeechSegment(out[-1].start_s, b)
        else:
            out.append(SpeechSegment(a, b))
    return out


def speech_mask(segments: list[SpeechSegment], n_frames: int, sample_rate_hz: int) -> np.ndarray:
    """Boolean per-sample (or per-frame, with a frame rate as ``sample_rate_hz``) speech mask."""
    mask = np.zeros(n_frames, dtype=bool)
    for s in segments:
        mask[int(s.start_s * sample_rate_hz) : int(np.ceil(s.end_s * sample_rate_hz))] = True
    return mask
