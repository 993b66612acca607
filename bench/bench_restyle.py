"""End-to-end speed and memory of `roomtone restyle` with the match engine, as a user runs it.

Writes a long test file (block by block, so the bench itself stays small), runs the real CLI
in a subprocess, and reports wall time as x real time and the subprocess's peak RSS.

    python bench/bench_restyle.py --minutes 10 --channels 2 --runs 3   # speed
    python bench/bench_restyle.py --minutes 180 --channels 1 --runs 1  # 3-hour memory
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.audio import AudioWriter

REPO = Path(__file__).resolve().parents[1]


def write_long_file(path: Path, minutes: float, channels: int, rate: int) -> None:
    """Speech-like bursts (modulated harmonics) with pauses, written in 10 s blocks."""
    rng = np.random.default_rng(0)
    block = 10 * rate
    total = int(minutes * 60 * rate)
    t = np.arange(block) / rate
    with AudioWriter(path, sample_rate_hz=rate, channels=channels, subtype="PCM_24", container="WAV") as w:
        for start in range(0, total, block):
            n = min(block, total - start)
            f0 = rng.uniform(90, 250)
            gate = (np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t[:n]) > -0.2).astype(np.float32)
            tone = sum(np.sin(2 * np.pi * k * f0 * t[:n]) / k for k in range(1, 12)) * 0.05
            sig = (tone * gate * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t[:n]))).astype(np.float32)
            w.write(np.repeat(sig[:, None], channels, axis=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--preset", default="Stone Church")
    ap.add_argument("--stems", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("ROOMTONE_BENCH_DIR")) as tmp:
        src = Path(tmp) / "long.wav"
        t0 = time.perf_counter()
        write_long_file(src, args.minutes, args.channels, args.rate)
        print(f"wrote {args.minutes} min {args.channels} ch {args.rate} Hz test file in {time.perf_counter() - t0:.1f} s")
        walls = []
        for run in range(args.runs):
            out = Path(tmp) / f"out{run}"
            cmd = [sys.executable, "-m", "engine.cli", "restyle", "--quiet", "--preset", args.preset,
                   str(src), "-o", str(out)] + (["--stems"] if args.stems else [])
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO)
            walls.append(time.perf_counter() - t0)
            for f in out.glob("*.wav"):
                f.unlink()
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        audio_s = args.minutes * 60
        med = statistics.median(walls)
        print(f"runs: {[round(w, 2) for w in walls]} s; median {med:.2f} s = {audio_s / med:.0f}x real time "
              f"(whole CLI incl. start-up, two passes, file I/O); peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
