"""Render-farm throughput and per-file overhead (issue 15), on a Ray cluster of this machine.

Renders the same batch locally (BatchRunner) and on a local Ray cluster with 1 and 2 workers
(FarmRunner), and a batch of very short files whose render is nearly free, so what remains per
file is the farm's own cost (scheduling, argument transfer, the driver's manifest write). Runs
inside a network namespace of its own (tests/netns.py) when it can, so Ray binds loopback only.

    python bench/bench_farm.py --files 12 --seconds 6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402
from engine.farm import connected  # noqa: E402
from presets import Library  # noqa: E402


def write_lines(folder: Path, files: int, seconds: float, rate: int = 48000) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    for i in range(files):
        f0 = rng.uniform(100, 220)
        x = 0.2 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.01 * rng.standard_normal(len(t))
        sf.write(folder / f"line{i:03d}.wav", x.astype(np.float32)[:, None], rate, subtype="PCM_24")
    return folder


def timed(make_runner, inputs: Path, out: Path):
    """(wall seconds, the runner) of one batch."""
    runner = make_runner(out)
    start = time.perf_counter()
    report = runner.run([inputs])
    elapsed = time.perf_counter() - start
    assert report.ok and report.count("done") == len(list(inputs.glob("*.wav"))), report.summary()
    return elapsed, runner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each file")
    ap.add_argument("--tiny-files", type=int, default=40, help="files of 0.05 s for the per-file overhead")
    ap.add_argument("--preset", default="Stone Church")
    ap.add_argument("--no-netns", action="store_true", help="run where we are (Ray may bind the primary interface)")
    args = ap.parse_args()
    if not args.no_netns and os.environ.get("ROOMTONE_TEST_NETNS") != "1":
        sys.path.insert(0, str(REPO / "tests"))
        import netns

        if netns.problem() is None:
            os.execv(sys.executable, netns.command([sys.executable, *sys.argv]))
        print(f"note: {netns.problem()}; running without a network namespace")

    preset = Library(None).get(args.preset)
    settings = engine.Settings(seed=1)
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp:
        tmp = Path(tmp)
        lines = write_lines(tmp / "in", args.files, args.seconds)
        tiny = write_lines(tmp / "tiny", args.tiny_files, 0.05)
        audio_s = args.files * args.seconds
        local = lambda out: engine.BatchRunner(preset, settings, out)  # noqa: E731
        t_local, _ = timed(local, lines, tmp / "local")
        t_local_tiny, _ = timed(local, tiny, tmp / "local-tiny")
        print(f"{args.files} files x {args.seconds:g} s, match engine, {os.cpu_count()} CPUs on this machine")
        print(f"local batch:        {t_local:6.2f} s  {audio_s / t_local:6.1f} x real time  "
              f"({args.files / t_local:.2f} files/s); {args.tiny_files} files of 0.05 s: {t_local_tiny:.2f} s")
        for workers in (1, 2):
            start = time.perf_counter()
            with connected("local", num_cpus=workers):
                t_start = time.perf_counter() - start
                farm = lambda out: engine.FarmRunner(preset, settings, out, "local", workers=workers)  # noqa: E731
                timed(farm, tiny, tmp / f"warm-{workers}")  # workers started and engine imported
                t_farm, _ = timed(farm, lines, tmp / f"farm-{workers}")
                t_tiny, runner = timed(farm, tiny, tmp / f"tiny-{workers}")
            s = runner.stats
            print(f"farm, {workers} worker{'s' if workers > 1 else ' '}:    {t_farm:6.2f} s  "
                  f"{audio_s / t_farm:6.1f} x real time  ({args.files / t_farm:.2f} files/s; cluster start "
                  f"{t_start:.1f} s)")
            print(f"  {args.tiny_files} files of 0.05 s: {t_tiny:.2f} s wall, {s.render_s:.2f} s rendering on the "
                  f"workers; in flight - rendering = {1000 * s.overhead_s_per_file:.0f} ms per file; wall x workers "
                  f"- rendering = {1000 * (t_tiny * workers - s.render_s) / s.files:.0f} ms per file")

if __name__ == "__main__":
    main()
