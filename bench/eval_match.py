"""The evaluation's full-mode cases with the match engine alone: a paired before/after for a change
to the analysis or the renderer in about a minute per ten cases, where ``roomtone eval`` also runs
every baseline and diffusion setting (~20 minutes for 12 cases).

    python bench/eval_match.py --cases 12

Per-case rows and means of the scene metrics (same definitions as ``roomtone eval``; the numbers
match its "match engine" rows, since no system's result depends on what ran before it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402
from engine.evaluation.systems import MatchEngine  # noqa: E402

KEYS = ("logmel_db", "logmel_gain_inv_db", "speech_lts_err_db", "stoi_gap", "rt60_err_pct", "drr_err_db",
        "amb_spectrum_db", "amb_level_err_db", "retrieval_acc")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=12)
    args = p.parse_args()
    result = run_evaluation(EvalConfig.full_mode(args.cases), log=lambda s: print(s, file=sys.stderr),
                            systems=[MatchEngine()])
    rows = result.systems[0].per_case
    print("| case | " + " | ".join(KEYS) + " |\n|" + " --- |" * (len(KEYS) + 1))
    for case, row in zip(result.cases, rows):
        print(f"| {case['case']} | " + " | ".join(f"{row.get(k, float('nan')):.2f}" for k in KEYS) + " |")
    print("| mean | " + " | ".join(f"{np.nanmean([r.get(k, np.nan) for r in rows]):.2f}" for k in KEYS) + " |")


if __name__ == "__main__":
    main()
