"""Speed of the scene estimator's corpus: rooms and references per minute, and the render step's
convolution with scipy's overlap-add against pedalboard's ``Convolution`` (issue 13 asks which).

Run: PYTHONPATH=. python bench/bench_scene_corpus.py [--rooms 6] [--repeats 5]
Prints medians of repeated runs; one worker (the corpus runs one per core).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.kit.geometry import simulate_room  # noqa: E402
from engine.train.scene_corpus import SceneCorpusConfig, render_room_shard  # noqa: E402


def convolution_times(rir: np.ndarray, seconds: float, repeats: int) -> tuple[float, float, float]:
    """(scipy s, pedalboard s, max |difference| relative to the peak) for one reference."""
    import pedalboard as pb
    from scipy.signal import oaconvolve

    sr = 48000
    x = (np.random.default_rng(0).standard_normal(int(seconds * sr)) * 0.05).astype(np.float32)
    ts, tp = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        a = oaconvolve(x.astype(np.float64), rir.astype(np.float64))[: x.size]
        ts.append(time.perf_counter() - t)
        t = time.perf_counter()
        conv = pb.Convolution(rir[:, None].astype(np.float32), mix=1.0, sample_rate=float(sr))
        b = pb.Pedalboard([conv])(x[None, :], float(sr), reset=True)[0]
        tp.append(time.perf_counter() - t)
    n = min(a.size, b.size)
    diff = float(np.max(np.abs(a[:n] - b[:n])) / max(np.max(np.abs(a)), 1e-12))
    return statistics.median(ts), statistics.median(tp), diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rooms", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    config = SceneCorpusConfig(rooms=args.rooms)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rooms):
            t = time.perf_counter()
            render_room_shard(Path(tmp), config, 10_000 + i)
            times.append(time.perf_counter() - t)
    per_room = statistics.median(times)
    refs = config.mics_per_room * config.references_per_mic
    print(f"corpus: median {per_room:.1f} s per room ({refs} references), {60 / per_room:.1f} rooms/min per worker, "
          f"{refs * 60 / per_room:.0f} references/min per worker; 10 000 references on 2 workers: "
          f"{10_000 / refs * per_room / 2 / 60:.0f} min")
    for family in ("booth", "shoebox", "nave"):
        rir = simulate_room(family, np.random.default_rng(1), 48000, mics=1).rirs[0]
        s, p, d = convolution_times(rir, 12.0, args.repeats)
        print(f"convolution of a 12 s reference with a {rir.size / 48000:.2f} s {family} RIR: scipy oaconvolve "
              f"{s * 1000:.0f} ms, pedalboard Convolution {p * 1000:.0f} ms (max difference {d:.1e} of peak)")


if __name__ == "__main__":
    main()
