"""Keep freed memory in the process instead of handing it back to the system after every block.

A render allocates and frees megabyte-sized arrays for every block (FFT buffers, stems, PCM).
glibc's defaults return such memory to the kernel as soon as it is freed (munmap, or trimming the
heap top), so the next block takes its pages again as fresh page faults; on a virtual machine that
cost a fifth of a 10-minute render's CPU time. Raising the mmap and trim thresholds keeps that
memory for reuse; the peak stays the render's working set (plus at most the trim threshold).
Only on glibc; elsewhere this does nothing. The arithmetic, hence every output, is unaffected.
"""

from __future__ import annotations

import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own upper limit for its dynamic threshold
TRIM_THRESHOLD_BYTES = 128 << 20

_done = False


def keep_freed_memory() -> bool:
    """Set the thresholds once per process; True where they were set (glibc)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _done
