"""Runs every system on every case, measures the outputs and aggregates with confidence intervals.

Cases are processed one at a time and their audio dropped afterwards, so memory stays bounded in
full mode; a system that fails on a case (e.g. the analysis refuses a reference) is recorded with
its reason and NaN values rather than aborting the whole evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.errors import RoomtoneError
from engine.evaluation import perceptual
from engine.evaluation.cases import EVAL_SEED_BASE, build_case
from engine.evaluation.metrics import METRICS, PERCEPTUAL_KEYS, OutputMeasures, SceneMeasures, measure_output, prepare_truth
from engine.evaluation.retrieval import retrieval_hits
from engine.evaluation.stats import Interval, bootstrap_ci
from engine.evaluation.systems import System, default_systems


@dataclass(frozen=True)
class EvalConfig:
    """Size of the run. Quick: CI-sized (5 cases spanning 0.2-5 s, outdoor, both genders, real voice)."""

    n_cases: int
    input_s: float
    reference_s: float
    quick: bool
    sample_rate_hz: int = 48000

    @classmethod
    def quick_mode(cls) -> "EvalConfig":
        return cls(n_cases=5, input_s=10.0, reference_s=10.0, quick=True)

    @classmethod
    def full_mode(cls, n_cases: int = 40) -> "EvalConfig":
        return cls(n_cases=n_cases, input_s=10.0, reference_s=15.0, quick=False)


@dataclass
class SystemResult:
    name: str
    per_case: list[dict[str, float]] = field(default_factory=list)
    measures: list[SceneMeasures | None] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (case id, reason)
    seconds: float = 0.0
    notes: list[dict] = field(default_factory=list)
    summary: dict[str, Interval] = field(default_factory=dict)


@dataclass
class EvalResult:
    config: EvalConfig
    cases: list[dict]
    systems: list[SystemResult]
    unavailable_systems: list[tuple[str, str]]
    unavailable_metrics: dict[str, str]
    estimator_check: dict[str, Interval]
    seconds: float


def run_evaluation(config: EvalConfig, log: Callable[[str], None] = print,
                   systems: list[System] | None = None) -> EvalResult:
    """Build the test set, run the systems (``default_systems`` unless given), measure, aggregate."""
    start = time.perf_counter()
    if systems is None:
        systems, unavailable_systems = default_systems(config.quick)
    else:
        unavailable_systems = []
    missing = {k: v for k, v in perceptual.availability().items() if v}
    results = [SystemResult(s.name) for s in systems]
    case_rows: list[dict] = []
    truth_measures: list[SceneMeasures] = []
    rt60_check: list[float] = []
    drr_check: list[float] = []

    for index in range(config.n_cases):
        t0 = time.perf_counter()
        case = build_case(index, config.input_s, config.reference_s, config.sample_rate_hz)
        truth = prepare_truth(case, missing)
        truth_measures.append(truth.measures)
        case_rows.append(case.describe())
        rt60_check.append(_estimator_rt60_error(truth.measures.rt60_band_s, truth.kit_rt60_band_s))
        drr_check.append(abs(truth.measures.drr_db - truth.kit_drr_db))
        for system, result in zip(systems, results):
            _run_one(system, result, case, truth, missing)
        log(f"  {case.case_id} ({case.plan.room_kind}, RT60 {case_rows[-1]['rt60_mid_s']} s, "
            f"{case.truth.spec.ambience}, {case.input_voice}) in {time.perf_counter() - t0:.1f} s")

    for result in results:
        outputs = result.measures
        ok = [i for i, m in enumerate(outputs) if m is not None]
        hits = retrieval_hits([outputs[i] for i in ok], [truth_measures[i] for i in ok]) if ok else []
        for i, hit in zip(ok, hits):
            result.per_case[i]["retrieval_acc"] = hit
        result.summary = {
            spec.key: bootstrap_ci([row.get(spec.key, float("nan")) for row in result.per_case])
            for spec in METRICS
            if spec.key not in PERCEPTUAL_KEYS or not missing.get(PERCEPTUAL_KEYS[spec.key])
        }
    return EvalResult(
        config=config,
        cases=case_rows,
        systems=results,
        unavailable_systems=unavailable_systems,
        unavailable_metrics=missing,
        estimator_check={"rt60_err_pct": bootstrap_ci(rt60_check), "drr_err_db": bootstrap_ci(drr_check)},
        seconds=time.perf_counter() - start,
    )


def _run_one(system: System, result: SystemResult, case, truth, missing: dict[str, str]) -> None:
    t0 = time.perf_counter()
    try:
        output = system.render(case)
        measured: OutputMeasures = measure_output(case, truth, output.audio, missing)
    except RoomtoneError as exc:
        result.failures.append((case.case_id, str(exc)))
        result.per_case.append({spec.key: float("nan") for spec in METRICS})
        result.measures.append(None)
        result.notes.append({})
    else:
        result.per_case.append(measured.values)
        result.measures.append(measured.measures)
        result.notes.append({"case": case.case_id, "rt60_band_s": _round_list(measured.measures.rt60_band_s), **output.notes})
    result.seconds += time.perf_counter() - t0


def _estimator_rt60_error(estimate_s: np.ndarray, kit_s: np.ndarray) -> float:
    from engine.evaluation.metrics import rt60_error_pct

    return rt60_error_pct(estimate_s, kit_s)


def _round_list(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 3) if np.isfinite(v) else None for v in values]


__all__ = ["EVAL_SEED_BASE", "EvalConfig", "EvalResult", "SystemResult", "run_evaluation"]
