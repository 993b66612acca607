"""Bounded-memory reading: feature films run for hours at 192 kHz, so we never load a whole file
unless the caller asks for it with `read_audio`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from engine.audio.info import AudioInfo
from engine.audio.pcm import FLOAT_SUBTYPES
from engine.audio.probe import probe
from engine.errors import InputError

DEFAULT_BLOCK_FRAMES = 65536


class AudioReader:
    """Probes, then reads float32 (frames, channels) blocks; refuses NaN/inf instead of passing them on."""

    def __init__(self, path: str | Path, block_frames: int = DEFAULT_BLOCK_FRAMES) -> None:
        if block_frames <= 0:
            raise ValueError(f"block_frames must be positive, got {block_frames}")
        self.info: AudioInfo = probe(path)
        self.block_frames = int(block_frames)
        self._check_finite = self.info.subtype in FLOAT_SUBTYPES
        try:
            self._sf = sf.SoundFile(str(self.info.path), mode="r")
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(self.info.path, f"cannot be decoded ({exc})") from None

    def blocks(self) -> Iterator[np.ndarray]:
        """Every frame exactly once, in order, `block_frames` at a time (the last block may be shorter)."""
        remaining = self.info.frames
        self._seek(0)
        while remaining > 0:
            n = min(self.block_frames, remaining)
            yield self._read_exact(n)
            remaining -= n

    def read(self, start_frame: int, frames: int) -> np.ndarray:
        """Random access for analysis windows; the range must lie inside the file."""
        if start_frame < 0 or frames < 0 or start_frame + frames > self.info.frames:
            raise ValueError(
                f"range [{start_frame}, {start_frame + frames}) is outside the file's {self.info.frames} frames"
            )
        self._seek(start_frame)
        return self._read_exact(frames)

    def _seek(self, frame: int) -> None:
        try:
            self._sf.seek(frame)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(self.info.path, f"cannot seek ({exc})") from None

    def _read_exact(self, frames: int) -> np.ndarray:
        try:
            block = self._sf.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(self.info.path, f"cannot be decoded ({exc})") from None
        if block.shape[0] != frames:
            raise InputError(self.info.path, "ends early: fewer frames than its header announces")
        if self._check_finite and not np.isfinite(block).all():
            raise InputError(self.info.path, "contains NaN or infinite samples")
        return block

    def close(self) -> None:
        self._sf.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Whole file as float32 (frames, channels) plus its rate; for short clips such as references."""
    with AudioReader(path) as reader:
        return reader.read(0, reader.info.frames), reader.info.sample_rate_hz
