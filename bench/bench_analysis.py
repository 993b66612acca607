"""Time analyse_reference on a 60 s 48 kHz stereo synthetic scene; prints the median of 3 runs.

Run: PYTHONPATH=. python bench/bench_analysis.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine.kit.rooms import random_room  # noqa: E402
from engine.kit.scene import SceneSpec, render_scene  # noqa: E402
from engine.scene import analyse_reference  # noqa: E402


def main() -> None:
    room = random_room(np.random.default_rng(7), (1.0, 1.001))  # a kit scene with a mid-band RT60 of 1 s
    scene = render_scene(SceneSpec(room, "real:restaurant", 20.0, 7), 60.0, 48000)
    mix = np.repeat(scene.mix, 2, axis=1)  # 60 s 48 kHz stereo, as a reference clip arrives
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        result = analyse_reference(mix, 48000)
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
