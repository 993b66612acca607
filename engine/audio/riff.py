"""A tiny RIFF/RF64 chunk walker.

We parse the chunk list ourselves because libsndfile silently accepts truncated WAVs and
does not hand back the BWF `bext` / `iXML` payloads that post-production tools rely on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import InputError

#: Chunks carried from input to output (broadcast metadata: timecode, scene/take, track names).
METADATA_CHUNKS: tuple[str, ...] = ("bext", "iXML")

_MAX_METADATA_BYTES = 64 * 1024 * 1024  # refuse to load absurd "metadata" into memory
_SIZE_IN_DS64 = 0xFFFFFFFF


@dataclass(frozen=True)
class Chunk:
    """Where one chunk's payload lies, so callers can read it lazily."""

    chunk_id: str
    offset: int  # file offset of the payload (after the 8-byte header)
    size: int  # payload size in bytes, from the header or from ds64


@dataclass(frozen=True)
class RiffLayout:
    """The chunk list of a RIFF/RF64 WAVE file and the file size it was measured against."""

    form: str  # 'RIFF' or 'RF64'
    file_size: int
    chunks: tuple[Chunk, ...]
    truncated_chunk: str | None  # id of the first chunk whose payload runs past end of file

    def find(self, chunk_id: str) -> Chunk | None:
        """First chunk with that id; WAV allows at most one of the chunks we care about."""
        for chunk in self.chunks:
            if chunk.chunk_id == chunk_id:
                return chunk
        return None


def is_riff_wave(head: bytes) -> bool:
    """True for the 12-byte headers we parse: RIFF or RF64 with form type WAVE."""
    return len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"


def scan_riff(f: BinaryIO, file_size: int) -> RiffLayout:
    """Walk the top-level chunks of an open WAVE file without reading any sample data."""
    f.seek(0)
    head = f.read(12)
    if not is_riff_wave(head):
        raise ValueError("not a RIFF/RF64 WAVE file")
    form = head[:4].decode("ascii")
    ds64_data_size: int | None = None
    ds64_table: dict[str, int] = {}
    chunks: list[Chunk] = []
    truncated: str | None = None
    pos = 12
    while pos + 8 <= file_size:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            break
        raw_id, size = struct.unpack("<4sI", header)
        chunk_id = raw_id.decode("latin-1")
        if form == "RF64" and chunk_id == "ds64" and size >= 28:
            payload = f.read(min(size, 28 + 12 * 1024))
            if len(payload) >= 28:
                _riff_size, ds64_data_size, _samples, table_len = struct.unpack("<QQQI", payload[:28])
                for i in range(table_len):
                    entry = payload[28 + 12 * i : 40 + 12 * i]
                    if len(entry) < 12:
                        break
                    tid, tsize = struct.unpack("<4sQ", entry)
                    ds64_table[tid.decode("latin-1")] = tsize
        if form == "RF64" and size == _SIZE_IN_DS64:
            if chunk_id == "data" and ds64_data_size is not None:
                size = ds64_data_size
            elif chunk_id in ds64_table:
                size = ds64_table[chunk_id]
        chunks.append(Chunk(chunk_id, pos + 8, size))
        end = pos + 8 + size
        if end > file_size and truncated is None:
            truncated = chunk_id
            break
        pos = end + (size & 1)  # chunks are word-aligned: odd payloads carry one pad byte
    return RiffLayout(form=form, file_size=file_size, chunks=tuple(chunks), truncated_chunk=truncated)


def read_chunks(path: str | Path) -> dict[str, bytes]:
    """Raw `bext` and `iXML` payloads of a WAV/RF64 file, so outputs can carry them unchanged.

    Returns an empty dict for other containers or when the chunks are absent.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            file_size = f.seek(0, 2)
            f.seek(0)
            if not is_riff_wave(f.read(12)):
                return {}
            layout = scan_riff(f, file_size)
            found: dict[str, bytes] = {}
            for chunk in layout.chunks:
                key = next((k for k in METADATA_CHUNKS if k.lower() == chunk.chunk_id.lower()), None)
                if key is None or key in found or chunk.offset + chunk.size > file_size:
                    continue
                if chunk.size > _MAX_METADATA_BYTES:
                    raise InputError(p, f"'{chunk.chunk_id}' chunk is implausibly large ({chunk.size} bytes)")
                f.seek(chunk.offset)
                found[key] = f.read(chunk.size)
            return found
    except FileNotFoundError:
        raise InputError(p, "file not found") from None
    except IsADirectoryError:
        raise InputError(p, "is a folder, not an audio file") from None
    except PermissionError:
        raise InputError(p, "cannot be read (permission denied)") from None
