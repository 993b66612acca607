"""`roomtone eval`: argument parsing for the evaluation suite; the lead wires it into engine.cli.

    from engine.evaluation import cli as eval_cli
    eval_cli.register(subparsers)          # adds the 'eval' sub-command
    ...
    return eval_cli.run(args)              # when args.command == 'eval'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the top-level parser's sub-commands (sets ``func`` to ``run``)."""
    p = subparsers.add_parser(
        "eval",
        help="score the engines against ground truth on a seeded synthetic test set",
        description="Build the evaluation test set, run every system, write a Markdown report with "
        "95 % confidence intervals, plots and JSON/CSV results to --out.",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for report.md, plots and results")
    p.add_argument("--quick", action="store_true", help="CI-sized run: 5 cases, under 3 minutes on 2 cores")
    p.add_argument("--cases", type=int, default=None, help="number of cases in full mode (default 40)")
    p.set_defaults(func=run, command="eval")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; 0 on success, 1 if it could not finish."""
    from engine.errors import RoomtoneError
    from engine.evaluation.report import summary_line, write_report
    from engine.evaluation.runner import EvalConfig, run_evaluation

    if args.quick:
        config = EvalConfig.quick_mode()
    else:
        config = EvalConfig.full_mode(args.cases or 40)
    if config.n_cases < 1:
        print("error: --cases must be at least 1", file=sys.stderr)
        return 2
    command = "roomtone eval" + (" --quick" if args.quick else "") + (
        f" --cases {args.cases}" if args.cases else "") + f" --out {args.out}"
    print(f"evaluating {config.n_cases} cases ({'quick' if config.quick else 'full'} mode)", flush=True)
    try:
        result = run_evaluation(config, log=lambda line: print(line, flush=True))
    except RoomtoneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    path = write_report(result, Path(args.out), command)
    print(summary_line(result, path), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m engine.evaluation.cli``) until ``roomtone eval`` is wired."""
    parser = argparse.ArgumentParser(prog="roomtone")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
