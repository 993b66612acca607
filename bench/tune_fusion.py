"""Sets the analysis' DSP error constants (``engine.scene.analyse.DSP_*_STD``) on training-family scenes.

The analysis weighs each learned estimate against its DSP twin by precision, so the DSP's typical
error decides how far an unsure network is trusted. This sweeps each constant over a grid and
prints the median error it gives, on ``bench_scene``'s *training* split only (rooms, voices and
ambiences the held-out bench never uses), so the held-out figures stay untouched by the choice.

Run: PYTHONPATH=. python bench/tune_fusion.py [--n 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_scene import SR, scene  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402
from engine.scene import analyse_reference  # noqa: E402
from engine.scene.analyse import _weigh  # noqa: E402
from engine.scene.estimator import load_estimator  # noqa: E402

GRIDS = {
    "rt60 (log)": np.array([0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 100.0]),
    "drr (dB)": np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 100.0]),
    "ambience (dB)": np.array([0.5, 1.0, 2.0, 4.0, 8.0, 100.0]),
}


def collect(n: int, seed: int) -> list[dict]:
    net = load_estimator()
    rows = []
    for i in range(n):
        s = scene(i, seed, "train")
        try:
            p = analyse_reference(s["mix"][:, None], SR, estimator="dsp").profile
        except AnalysisError:
            continue
        e = net.estimate(s["mix"], SR)
        rows.append({
            "truth": s["truth"], "dsp_rt": np.log(np.asarray(p.rt60_s)), "dsp_drr": p.drr_db,
            "dsp_amb": p.ambience_to_speech_db, "rt": e.get("rt60_"), "drr": e.get("drr"),
            "amb": e.get("amb_to_speech"),
        })
    return rows


def sweep(rows: list[dict]) -> None:
    print(f"{len(rows)} training-family scenes; median error per DSP std (100 = network alone)\n")
    for name, grid in GRIDS.items():
        print(f"| {name} DSP std | " + " | ".join(f"{g:g}" for g in grid) + " |")
        print("|---|" + "---|" * grid.size)
        errs = []
        for g in grid:
            if name.startswith("rt60"):
                e = np.concatenate([np.abs(np.exp(_weigh(*r["rt"], r["dsp_rt"], g) - r["truth"][:7]) - 1.0)[2:5]
                                    for r in rows]) * 100
                errs.append(f"{np.median(e):.0f} % (p90 {np.percentile(e, 90):.0f})")
            elif name.startswith("drr"):
                errs.append(f"{np.median([abs(_weigh(r['drr'][0][0], r['drr'][1][0], r['dsp_drr'], g) - r['truth'][7]) for r in rows]):.2f}")
            else:
                errs.append(f"{np.median([abs(_weigh(r['amb'][0][0], r['amb'][1][0], r['dsp_amb'], g) - r['truth'][9]) for r in rows]):.2f}")
        print(f"| median error | " + " | ".join(errs) + " |\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sweep(collect(args.n, args.seed))


if __name__ == "__main__":
    main()
