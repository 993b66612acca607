"""What we know about an audio file before touching its samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Containers Roomtone reads and writes; anything else is refused up front so a batch fails early.
CONTAINERS: tuple[str, ...] = ("WAV", "RF64", "AIFF", "FLAC")

#: Subtypes each container can be written in. PCM_U8 is the only 8-bit WAV can hold; 8-bit AIFF
#: is left out because libsndfile miscounts frames in odd-sized 8-bit AIFF files it writes.
WRITABLE_SUBTYPES: dict[str, tuple[str, ...]] = {
    "WAV": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
    "RF64": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
    "AIFF": ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
    "FLAC": ("PCM_S8", "PCM_16", "PCM_24"),
}

_EXTENSIONS: dict[str, str] = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".bwf": "WAV",
    ".rf64": "RF64",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".flac": "FLAC",
}


def container_from_extension(path: str | Path) -> str | None:
    """Guess the container from the file name, because outputs are named by users, not by us."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def same_family(a: str, b: str) -> bool:
    """WAV and RF64 are one family: RF64 is only WAV that outgrew 4 GiB."""
    wav = {"WAV", "RF64"}
    return a == b or (a in wav and b in wav)


@dataclass(frozen=True)
class AudioInfo:
    """Everything a job needs to plan work and to write an output 'like' its input."""

    path: Path
    container: str
    subtype: str
    sample_rate_hz: int
    channels: int
    frames: int
    # Left out of ==/hash so an AudioInfo stays hashable and equality means 'same audio layout'.
    chunks: dict[str, bytes] = field(default_factory=dict, compare=False)
    # WAV only: whether the input used WAVE_FORMAT_EXTENSIBLE, so outputs keep the same header
    # style (some conform tools reject EXTENSIBLE for mono 24-bit, others require it). None: unknown.
    wav_extensible: bool | None = field(default=None, compare=False)

    @property
    def duration_s(self) -> float:
        """Seconds, for progress bars and reports; frames stay the exact measure."""
        return self.frames / self.sample_rate_hz
