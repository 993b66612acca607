"""Check an input file is usable before any work is queued on it.

A batch of hundreds of takes should report each bad file with one short reason and move on,
rather than crash hours later halfway through a render.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import soundfile as sf

from engine.audio.info import CONTAINERS, AudioInfo
from engine.audio.riff import is_riff_wave, read_chunks, scan_riff
from engine.errors import InputError

# Limits only where a file is truly unusable; 8 kHz..384 kHz and 1..32 channels must always work.
MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 768_000
MAX_CHANNELS = 64

# libsndfile names WAVE_FORMAT_EXTENSIBLE files 'WAVEX'; for us they are plain WAV.
_FORMAT_ALIASES = {"WAVEX": "WAV"}


def probe(path: str | Path) -> AudioInfo:
    """Describe an audio file or raise `InputError` saying, in a few words, why it can't be used."""
    p = Path(path)
    st = _stat_regular_file(p)
    try:
        with open(p, "rb") as f:
            head = f.read(12)
            if is_riff_wave(head):
                _check_wave_layout(p, f, st.st_size)
    except PermissionError:
        raise InputError(p, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise InputError(p, f"cannot be read ({exc.strerror or exc})") from None

    try:
        sfi = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise InputError(p, "not a recognised audio file") from None

    container = _FORMAT_ALIASES.get(sfi.format, sfi.format)
    if container not in CONTAINERS:
        raise InputError(p, f"unsupported container {container!r} (use WAV, RF64, AIFF or FLAC)")
    if sfi.frames <= 0:
        raise InputError(p, "contains no audio (0 frames)")
    if not MIN_SAMPLE_RATE_HZ <= sfi.samplerate <= MAX_SAMPLE_RATE_HZ:
        raise InputError(p, f"unusable sample rate {sfi.samplerate} Hz")
    if not 1 <= sfi.channels <= MAX_CHANNELS:
        raise InputError(p, f"unusable channel count {sfi.channels}")

    chunks = read_chunks(p) if container in ("WAV", "RF64") else {}
    return AudioInfo(
        path=p,
        container=container,
        subtype=sfi.subtype,
        sample_rate_hz=int(sfi.samplerate),
        channels=int(sfi.channels),
        frames=int(sfi.frames),
        chunks=chunks,
        wav_extensible=(sfi.format == "WAVEX") if container == "WAV" else None,
    )


def _stat_regular_file(p: Path) -> os.stat_result:
    """Reject the cheap cases first, each with its own message a user can act on."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(p, "file not found") from None
    except PermissionError:
        raise InputError(p, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise InputError(p, f"cannot be accessed ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(p, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(p, "is not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(p, "cannot be read (permission denied)")
    if st.st_size == 0:
        raise InputError(p, "file is empty (0 bytes)")
    return st


def _check_wave_layout(p: Path, f: BinaryIO, file_size: int) -> None:
    """Catch truncated WAVs (interrupted copies, full recorder cards) that libsndfile would accept."""
    layout = scan_riff(f, file_size)
    if layout.truncated_chunk == "data":
        data = layout.find("data")
        assert data is not None
        present = max(0, file_size - data.offset)
        raise InputError(
            p, f"truncated or corrupt: header promises {data.size} bytes of audio, only {present} present"
        )
    if layout.truncated_chunk is not None:
        raise InputError(p, f"truncated or corrupt: '{layout.truncated_chunk}' chunk runs past the end of the file")
    if layout.find("fmt ") is None:
        raise InputError(p, "corrupt WAV: no 'fmt ' chunk")
    if layout.find("data") is None:
        raise InputError(p, "truncated or corrupt WAV: no 'data' chunk")
