"""Time analyse_reference on a 60 s 48 kHz stereo synthetic scene; prints the median of 3 runs.

Run: PYTHONPATH=. python bench/bench_analysis.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.scene import analyse_reference  # noqa: E402
from tests.scene.scenes import make_scene  # noqa: E402


def main() -> None:
    scene = make_scene(1.0, 48000, seconds=60.0, seed=7, ambience="restaurant", snr_db=20.0, channels=2)
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        result = analyse_reference(scene.mix, 48000)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"runs: {', '.join(f'{t:.2f}' for t in times)} s (first includes model loading)")
    # CPU seconds over all threads: on a shared, loaded machine wall time is not the code's alone.
    print(f"cpu:  {', '.join(f'{t:.2f}' for t in cpu)} s (all threads; /2 = wall bound on 2 idle cores)")
    print(f"median of 3: {statistics.median(times):.2f} s for 60 s 48 kHz stereo")
    print("true rt60", [round(float(v), 2) for v in scene.rt60_band_s], "drr", round(scene.drr_db, 1))
    print("est  rt60", [round(v, 2) for v in result.profile.rt60_s], "drr", round(result.profile.drr_db, 1))


if __name__ == "__main__":
    main()
