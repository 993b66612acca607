"""End-to-end speed and memory of `roomtone restyle` with the match engine, as a user runs it.

Writes a long test file (block by block, so the bench itself stays small), runs the real CLI
in a subprocess, and reports wall time as x real time, CPU time (user + system, which other
work on a shared machine disturbs far less than wall time) and each run's peak RSS. `--before REV`
also runs the CLI of an earlier commit (checked out into a temporary git worktree), interleaved
run by run with this tree's, so before and after are measured under the same load.

    python bench/bench_restyle.py --minutes 10 --channels 2 --runs 5 --before HEAD   # speed
    python bench/bench_restyle.py --minutes 180 --channels 1 --runs 1              # 3-hour memory
"""

from __future__ import annotations

import argparse
import os
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


def run_cli(tree: Path, src: Path, out: Path, preset: str, stems: bool) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one `roomtone restyle` of `src` by the code in `tree`."""
    cmd = ["/usr/bin/time", "-f", "%U %S %M", sys.executable, "-m", "engine.cli", "restyle", "--quiet",
           "--preset", preset, str(src), "-o", str(out)] + (["--stems"] if stems else [])
    env = dict(os.environ, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    user_s, system_s, peak_kib = (float(v) for v in done.stderr.strip().splitlines()[-1].split())
    for f in out.glob("*.wav"):
        f.unlink()
    (out / "roomtone-manifest.json").unlink(missing_ok=True)
    return wall, user_s + system_s, peak_kib / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--preset", default="Stone Church")
    ap.add_argument("--stems", action="store_true")
    ap.add_argument("--before", metavar="REV", help="also time this commit's CLI, interleaved with ours")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("ROOMTONE_BENCH_DIR")) as tmp:
        src = Path(tmp) / "long.wav"
        t0 = time.perf_counter()
        write_long_file(src, args.minutes, args.channels, args.rate)
        print(f"wrote {args.minutes} min {args.channels} ch {args.rate} Hz test file in {time.perf_counter() - t0:.1f} s")
        trees = {"after": REPO}
        if args.before:
            trees["before"] = Path(tmp) / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(trees["before"]), args.before],
                           cwd=REPO, check=True, capture_output=True)
        try:
            results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
            for run in range(args.runs):
                for name, tree in trees.items():
                    out = Path(tmp) / f"out-{name}"
                    results[name].append(run_cli(tree, src, out, args.preset, args.stems))
        finally:
            if args.before:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees["before"])], cwd=REPO, check=False)
        audio_s = args.minutes * 60
        medians, cpu = {}, {}
        for name, got in results.items():
            walls = [w for w, _, _ in got]
            medians[name] = statistics.median(walls)
            cpu[name] = statistics.median(c for _, c, _ in got)
            print(f"{name}: runs {[round(w, 2) for w in walls]} s; median {medians[name]:.2f} s = "
                  f"{audio_s / medians[name]:.0f}x real time (whole CLI incl. start-up and file I/O); "
                  f"CPU median {cpu[name]:.2f} s; peak RSS {max(m for _, _, m in got):.0f} MB")
        if "before" in medians:
            print(f"speed-up after/before: wall {medians['before'] / medians['after']:.2f}x, "
                  f"CPU {cpu['before'] / cpu['after']:.2f}x")


if __name__ == "__main__":
    main()
