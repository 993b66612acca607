"""`roomtone eval --quick` end to end with the real components (analysis, separation, models)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from engine.evaluation import cli
from engine.evaluation.metrics import METRICS

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, int]:
    out = tmp_path_factory.mktemp("eval")
    t0 = time.perf_counter()
    code = cli.main(["eval", "--quick", "--out", str(out)])
    return out, time.perf_counter() - t0, code


def _summary(out: Path) -> dict[str, dict[str, dict]]:
    data = json.loads((out / "results.json").read_text())
    return {s["name"]: s["summary"] for s in data["systems"]}


def test_report_exists_with_every_system_and_metric(quick_run) -> None:
    out, _, code = quick_run
    assert code == 0
    report = (out / "report.md").read_text()
    for name in ("dry input", "separate & remix", "match engine", "oracle", "diffusion engine"):
        assert f"| {name}" in report
    header = next(line for line in report.splitlines() if line.startswith("| system |"))
    for spec in METRICS:
        assert spec.label in header
    assert (out / "metrics.png").stat().st_size > 0 and (out / "rt60_scatter.png").stat().st_size > 0


def test_every_number_is_finite(quick_run) -> None:
    out, _, _ = quick_run
    for system, summary in _summary(out).items():
        assert set(summary) == {m.key for m in METRICS}, system
        for key, iv in summary.items():
            for field in ("mean", "low", "high"):
                assert iv[field] is not None and math.isfinite(iv[field]), (system, key, field)


def test_sanity_orderings(quick_run) -> None:
    out, _, _ = quick_run
    s = _summary(out)
    oracle = next(v for k, v in s.items() if k.startswith("oracle"))
    dry, match = s["dry input"], s["match engine"]
    assert oracle["logmel_db"]["mean"] < dry["logmel_db"]["mean"]
    assert oracle["rt60_err_pct"]["mean"] < dry["rt60_err_pct"]["mean"]
    assert match["rt60_err_pct"]["mean"] < dry["rt60_err_pct"]["mean"]
    assert match["amb_level_err_db"]["mean"] < dry["amb_level_err_db"]["mean"]
    # The speech metrics: the oracle carries the truth's own reverberant speech, the dry input none.
    assert oracle["speech_lts_err_db"]["mean"] < 1.0 < dry["speech_lts_err_db"]["mean"]
    assert oracle["logmel_gain_inv_db"]["mean"] < dry["logmel_gain_inv_db"]["mean"]
    assert abs(oracle["stoi_gap"]["mean"]) < 0.05 and oracle["stoi_gap_abs"]["mean"] < dry["stoi_gap_abs"]["mean"]
    assert dry["stoi_gap"]["mean"] > 0.05  # every truth has a room or ambience: the dry line is too clear


def test_report_names_the_speech_metrics(quick_run) -> None:
    out, _, _ = quick_run
    header = next(line for line in (out / "report.md").read_text().splitlines() if line.startswith("| system |"))
    for label in ("log-mel dist. gain-inv. (dB) ↓", "speech LTS err. (dB) ↓", "STOI gap vs dry (out - truth) →0"):
        assert label in header
