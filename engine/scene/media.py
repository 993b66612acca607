"""Load a reference clip from an audio file or a film file, with a thumbnail for the GUI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")
THUMBNAIL_MAX_WIDTH = 512


def load_reference(path: str | Path, frame_s: float | None = None) -> tuple[np.ndarray, int, bytes | None]:
    """(audio float32 (frames, channels) at its native rate, rate, PNG thumbnail or None).

    Audio files go through libsndfile; film files through PyAV (first audio stream), because a
    scene reference is often a clip cut from the film itself.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return _load_video(p, frame_s)
    try:
        audio, rate = sf.read(p, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError variants
        raise InputError(p, f"unreadable audio file ({exc})") from exc
    if audio.shape[0] == 0:
        raise InputError(p, "the file contains no audio samples")
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate), None


def _load_video(p: Path, frame_s: float | None) -> tuple[np.ndarray, int, bytes | None]:
    import av

    try:
        container = av.open(str(p))
    except Exception as exc:
        raise InputError(p, f"unreadable media file ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise InputError(p, "the video has no audio track; a scene reference needs its sound")
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate)
        channels = int(stream.codec_context.channels) if hasattr(stream.codec_context, "channels") else 0
        blocks = []
        try:
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                if a.ndim == 1:
                    a = a[None, :]
                if frame.format.is_planar:
                    a = a.T  # (channels, n) -> (n, channels)
                else:
                    a = a.reshape(-1, len(frame.layout.channels))
                blocks.append(_to_float(a))
        except Exception as exc:
            raise InputError(p, f"the audio track cannot be decoded ({exc})") from exc
    if not blocks:
        raise InputError(p, "the audio track is empty")
    audio = np.concatenate(blocks, axis=0)
    if channels and audio.shape[1] != channels and audio.shape[1] % channels == 0:
        audio = audio.reshape(-1, channels)
    return np.ascontiguousarray(audio, dtype=np.float32), rate, _thumbnail(p, frame_s)


def _to_float(a: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)
    info = np.iinfo(a.dtype)
    return (a.astype(np.float32) / float(max(abs(info.min), info.max)))


def _thumbnail(p: Path, frame_s: float | None) -> bytes | None:
    """One frame at ``frame_s`` (default: the middle) as PNG, at most 512 px wide; None if the
    file has no decodable picture (a thumbnail is a convenience, never a reason to fail)."""
    import av
    from PIL import Image

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                return None
            vs = container.streams.video[0]
            duration_s = None
            if vs.duration is not None and vs.time_base is not None:
                duration_s = float(vs.duration * vs.time_base)
            elif container.duration is not None:
                duration_s = container.duration / 1e6
            target_s = frame_s if frame_s is not None else (duration_s or 0.0) / 2.0
            if target_s > 0 and vs.time_base is not None:
                container.seek(int(target_s / vs.time_base), stream=vs, backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(vs):
                chosen = frame
                if frame.time is None or frame.time >= target_s - 1e-6:
                    break
            if chosen is None:
                return None
            img = chosen.to_image()
    except Exception:
        return None
    if img.width > THUMBNAIL_MAX_WIDTH:
        h = max(1, round(img.height * THUMBNAIL_MAX_WIDTH / img.width))
        img = img.resize((THUMBNAIL_MAX_WIDTH, h), Image.LANCZOS)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()
