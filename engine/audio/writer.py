"""Atomic audio output.

A render that dies halfway (crash, cancel, full disk) must never leave a plausible-looking but
incomplete file at the output path: conform tools would pick it up. So we write to a hidden
temporary name in the same folder and `os.replace` it into place only once it is complete.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from engine.audio.info import WRITABLE_SUBTYPES, AudioInfo, container_from_extension, same_family
from engine.audio.pcm import BITS, FLOAT_SUBTYPES, to_soundfile_ints
from engine.audio.wav_writer import WavStreamWriter
from engine.errors import InputError

DEFAULT_SUBTYPE = "PCM_24"
_RF64_SAFE_BYTES = 0xFFFFFFFF - 64 * 1024 * 1024  # margin for headers and slightly longer renders


def partial_path(path: Path) -> Path:
    """Hidden sibling name that no batch or DAW will mistake for a finished file."""
    return path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")


def _choose_container(path: Path, container: str | None, like: AudioInfo | None) -> str:
    """Explicit wins; then `like`'s container if the file name agrees with it; then the extension."""
    if container is not None:
        return container.upper()
    from_ext = container_from_extension(path)
    if like is not None and (from_ext is None or same_family(like.container, from_ext)):
        return like.container
    if from_ext is not None:
        return from_ext
    raise InputError(path, "cannot tell the container from the file extension; pass container=")


class AudioWriter:
    """Streaming, atomic writer for WAV/RF64 (own writer, keeps BWF chunks), AIFF and FLAC."""

    def __init__(
        self,
        path: str | Path,
        like: AudioInfo | None = None,
        sample_rate_hz: int | None = None,
        channels: int | None = None,
        subtype: str | None = None,
        container: str | None = None,
        chunks: dict[str, bytes] | None = None,
    ) -> None:
        self.path = Path(path)
        self.container = _choose_container(self.path, container, like)
        self.sample_rate_hz = int(sample_rate_hz if sample_rate_hz is not None else _need(like, "sample_rate_hz"))
        self.channels = int(channels if channels is not None else _need(like, "channels"))
        self.subtype = (subtype or (like.subtype if like is not None else DEFAULT_SUBTYPE)).upper()
        if chunks is None:
            chunks = dict(like.chunks) if like is not None else {}
        elif chunks and self.container not in ("WAV", "RF64"):
            raise ValueError(f"{self.container} files cannot carry bext/iXML chunks")
        self.chunks = dict(chunks)
        self._validate()

        self.frames_written = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = partial_path(self.path)
        self._file = None
        self._wav: WavStreamWriter | None = None
        self._sf: sf.SoundFile | None = None
        try:
            if self.container in ("WAV", "RF64"):
                self._file = open(self._tmp, "xb")
                self._wav = WavStreamWriter(
                    self._file,
                    self.sample_rate_hz,
                    self.channels,
                    self.subtype,
                    chunks=self.chunks,
                    force_rf64=self.container == "RF64",
                    even_chunks=self.container == "RF64" or _may_outgrow_riff(like, self.channels, self.subtype),
                    extensible=like.wav_extensible if like is not None else None,
                )
            else:
                self._sf = sf.SoundFile(
                    str(self._tmp),
                    mode="w",
                    samplerate=self.sample_rate_hz,
                    channels=self.channels,
                    subtype=self.subtype,
                    format=self.container,
                )
        except BaseException:
            self._discard()
            raise

    def _validate(self) -> None:
        if self.container not in WRITABLE_SUBTYPES:
            raise InputError(self.path, f"cannot write container {self.container!r} (use WAV, RF64, AIFF or FLAC)")
        if self.subtype not in WRITABLE_SUBTYPES[self.container]:
            allowed = ", ".join(WRITABLE_SUBTYPES[self.container])
            raise InputError(self.path, f"{self.container} cannot hold {self.subtype} samples (choose one of {allowed})")
        if self.sample_rate_hz <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate_hz}")
        if self.channels <= 0:
            raise ValueError(f"channel count must be positive, got {self.channels}")

    def write(self, block: np.ndarray) -> None:
        """Append (frames, channels) float frames; integer subtypes are clipped to [-1, 1) and rounded."""
        if self._closed:
            raise ValueError("writer is closed")
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        if not np.issubdtype(block.dtype, np.floating):
            raise ValueError(f"expected float samples, got {block.dtype}")
        if not np.isfinite(block).all():
            raise ValueError("block contains NaN or infinite samples")
        if block.shape[0] == 0:
            return
        if self._wav is not None:
            self._wav.write(block)
        else:
            assert self._sf is not None
            if self.subtype in FLOAT_SUBTYPES:
                self._sf.write(block.astype(np.float64 if self.subtype == "DOUBLE" else np.float32, copy=False))
            else:
                self._sf.write(to_soundfile_ints(block, self.subtype))
        self.frames_written += block.shape[0]

    def close(self) -> None:
        """Finish the file, make it durable, then move it into place in one step."""
        if self._closed:
            return
        try:
            if self._wav is not None and self._file is not None:
                self._wav.finish()
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            elif self._sf is not None:
                self._sf.close()
                _fsync_path(self._tmp)
            os.replace(self._tmp, self.path)
            self._closed = True
        except BaseException:
            self._discard()
            raise
        _fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Throw away everything written; nothing appears at the output path."""
        self._discard()

    def _discard(self) -> None:
        self._closed = True
        for closer in (self._file, self._sf):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001 - we are already cleaning up after a failure
                    pass
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_audio(
    path: str | Path,
    data: np.ndarray,
    sample_rate_hz: int,
    like: AudioInfo | None = None,
    subtype: str | None = None,
    container: str | None = None,
) -> Path:
    """Write a whole (frames, channels) array at once; `subtype` None means like's, else PCM_24.

    Returns the final path so callers can report what they wrote."""
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"expected a (frames, channels) array, got shape {data.shape}")
    with AudioWriter(
        path,
        like=like,
        sample_rate_hz=sample_rate_hz,
        channels=data.shape[1],
        subtype=subtype,
        container=container,
    ) as w:
        w.write(data)
    return w.path


def _may_outgrow_riff(like: AudioInfo | None, channels: int, subtype: str) -> bool:
    """An output as long as its input that will need RF64 (the render engine keeps lengths)."""
    if like is None:
        return False
    return like.frames * channels * BITS[subtype] // 8 > _RF64_SAFE_BYTES


def _need(like: AudioInfo | None, name: str) -> int:
    if like is None:
        raise ValueError(f"{name} is required when no 'like' AudioInfo is given")
    return getattr(like, name)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; best effort, some filesystems refuse directory fsync."""
    try:
        _fsync_path(folder)
    except OSError:
        pass
