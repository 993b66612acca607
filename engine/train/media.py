"""Long recordings on disk: audio files, or video files through PyAV, with an optional still.

A recording is an audio file (FLAC, WAV, ...) or a video. Frames come from the video itself;
for an audio file a sidecar image with the same stem (``scene.png`` beside ``scene.flac``) stands
for every frame -- that is how the synthetic corpus supplies its scene pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio.resample import resample
from engine.scene.media import VIDEO_SUFFIXES, load_reference

AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".aiff", ".aif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Recording:
    """One long recording; ``image`` is the sidecar still of an audio recording, if any."""

    path: Path
    image: Path | None = None

    @property
    def is_video(self) -> bool:
        return self.path.suffix.lower() in VIDEO_SUFFIXES

    @property
    def has_picture(self) -> bool:
        return self.is_video or self.image is not None


def list_recordings(folder: str | Path) -> list[Recording]:
    """Every audio/video file under ``folder`` (recursive), sorted by relative path: the order,
    and with it every seed derived from a recording's index, does not depend on the file system."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    out = []
    for p in sorted(root.rglob("*"), key=lambda q: q.relative_to(root).as_posix()):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        suffix = p.suffix.lower()
        if suffix in AUDIO_SUFFIXES:
            image = next((p.with_suffix(s) for s in IMAGE_SUFFIXES if p.with_suffix(s).is_file()), None)
            out.append(Recording(p, image))
        elif suffix in VIDEO_SUFFIXES:
            out.append(Recording(p))
    return out


def load_mono(path: str | Path, sample_rate_hz: int) -> np.ndarray:
    """The whole soundtrack as mono float32 at ``sample_rate_hz`` (channels averaged)."""
    audio, rate, _ = load_reference(path, frame_s=None)
    return resample(audio.mean(axis=1, keepdims=True), rate, sample_rate_hz)[:, 0]


def square_image(image, size_px: int) -> np.ndarray:
    """PIL image -> centre-cropped square uint8 (3, size_px, size_px): what the encoders take."""
    from PIL import Image

    img = image.convert("RGB")
    side = min(img.width, img.height)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size_px, size_px), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def load_still(path: str | Path, size_px: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return square_image(img, size_px)


def video_frames(path: str | Path, times_s: list[float], size_px: int) -> list[np.ndarray]:
    """One frame per requested time (the first frame at or after it), decoding the stream once
    in time order: seeking per frame is far slower on long-GOP files."""
    import av

    order = sorted(range(len(times_s)), key=lambda i: times_s[i])
    out: list[np.ndarray | None] = [None] * len(times_s)
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        k, last = 0, None
        for frame in container.decode(container.streams.video[0]):
            last = frame
            while k < len(order) and (frame.time is None or frame.time >= times_s[order[k]] - 1e-6):
                out[order[k]] = square_image(frame.to_image(), size_px)
                k += 1
            if k == len(order):
                break
        while k < len(order):  # times past the last frame take the last frame
            if last is None:
                raise ValueError(f"{path}: the video stream has no frames")
            out[order[k]] = square_image(last.to_image(), size_px)
            k += 1
    return [o for o in out if o is not None]
