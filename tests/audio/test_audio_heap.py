"""keep_freed_memory: a render's per-block arrays reuse freed pages instead of faulting in new ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import resource, sys
import numpy as np
from engine.audio.heap import keep_freed_memory
np._core.multiarray._set_madvise_hugepage(False)  # count 4 KiB pages, not whatever THP gives
if sys.argv[1] == "keep":
    assert keep_freed_memory() and keep_freed_memory()  # set once, idempotent
x = np.ones((1 << 20, 2), np.float32)  # one 8 MiB chunk of a stereo FFT buffer
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # what a chunk of the render does: megabyte temporaries, freed
    y = x * 2.0
    z = y + x
    w = z * y
    del y, z, w
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_freed_block_memory_is_reused_not_faulted_in_again():
    # With glibc's defaults a child faults in ~18 000 or ~300 000 pages (its dynamic thresholds
    # land one way or the other); with the memory kept, only the first chunk's: 24 MiB, 6 144 pages.
    one_chunk = 3 * (8 << 20) // 4096
    default = [_faults("default") for _ in range(3)]
    kept = [_faults("keep") for _ in range(3)]
    assert max(kept) < 2 * one_chunk < min(default), (kept, default)
