"""Writes the evaluation's outputs: Markdown report, PNG plots, JSON results and a per-case CSV.

Markdown so the report diffs in review and renders on any forge; JSON/CSV so numbers can be
re-plotted or compared across runs without parsing Markdown.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from engine.evaluation.cases import EVAL_SEED_BASE
from engine.evaluation.metrics import METRICS, RT60_BANDS_HZ, MetricSpec
from engine.evaluation.runner import EvalResult
from engine.evaluation.stats import Interval

REPORT_MD = "report.md"
RESULTS_JSON = "results.json"
CASES_CSV = "per_case.csv"
METRICS_PNG = "metrics.png"
RT60_PNG = "rt60_scatter.png"


def write_report(result: EvalResult, out_dir: Path, command: str) -> Path:
    """Write everything under ``out_dir``; returns the Markdown report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _write_plots(result, out_dir)
    _write_json(result, out_dir / RESULTS_JSON)
    _write_csv(result, out_dir / CASES_CSV)
    path = out_dir / REPORT_MD
    path.write_text(render_markdown(result, command, plots), encoding="utf-8")
    return path


def metric_keys(result: EvalResult) -> list[str]:
    """Metrics that were measured in this run (perceptual ones may be unavailable)."""
    return [m.key for m in METRICS if m.key in result.systems[0].summary]


def render_markdown(result: EvalResult, command: str, plots: list[str]) -> str:
    cfg = result.config
    keys = metric_keys(result)
    labels = {m.key: m.label for m in METRICS}
    better = {m.key: _direction(m) for m in METRICS}
    lines = [
        "# Roomtone evaluation",
        "",
        f"Command: `{command}`  ",
        f"Mode: {'quick' if cfg.quick else 'full'}; {cfg.n_cases} cases; input {cfg.input_s:g} s, reference "
        f"{cfg.reference_s:g} s at {cfg.sample_rate_hz} Hz; wall time {result.seconds:.0f} s.  ",
        "Values: mean over cases [95 % percentile-bootstrap CI]; ↓ lower is better, ↑ higher is better, "
        "→0 best at zero (signed).",
        "",
        "## Summary",
        "",
        "| system | " + " | ".join(f"{labels[k]} {better[k]}" for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for s in result.systems:
        lines.append(f"| {s.name} | " + " | ".join(_cell(s.summary[k]) for k in keys) + " |")
    for name, why in result.unavailable_systems:
        lines.append(f"| {name} | " + " | ".join("not available" for _ in keys) + " |")
    lines += ["", "## Per system", ""]
    for s in result.systems:
        lines += [f"### {s.name}", "", f"Render + measure time: {s.seconds:.1f} s over {cfg.n_cases} cases. "
                  f"Failures: {len(s.failures)}.", "", "| metric | mean | 95 % CI | n |", "|---|---|---|---|"]
        for k in keys:
            iv = s.summary[k]
            lines.append(f"| {labels[k]} {better[k]} | {_num(iv.mean)} | [{_num(iv.low)}, {_num(iv.high)}] | {iv.n} |")
        for case_id, why in s.failures:
            lines.append(f"\nFailed on {case_id}: {why}")
        lines.append("")
    if result.unavailable_systems:
        lines += ["## Not available", ""]
        lines += [f"- {name}: {why}" for name, why in result.unavailable_systems]
        lines.append("")
    if result.unavailable_metrics:
        lines += ["## Metrics not measured", ""]
        lines += [f"- {k}: {why}" for k, why in result.unavailable_metrics.items()]
        lines.append("")
    check = result.estimator_check
    lines += [
        "## Plots",
        "",
        *[f"![{p}]({p})" for p in plots],
        "",
        "## Method",
        "",
        f"- **Test set**: cases 0..{cfg.n_cases - 1} of `engine.evaluation.cases` (seeds "
        f"`SeedSequence([{EVAL_SEED_BASE}, i])`, reserved for evaluation; voices, rooms and real ambiences "
        "disjoint from the factory presets and examples, see that module). Shoebox RT60 strata 0.2-0.45, "
        "2.2-5, 0.45-1, 1-2.2 s in turn; every 5th case outdoors; female / male espeak voices, every 4th "
        "case the kit's real (alsa) voice, which is the same recording the examples use. Truth = dry input "
        "through the scene's RIR at the input talker's position + a fresh excerpt of the same ambience "
        "type at the same SNR; reference = another talker at another position in the same scene.",
        "- **Oracle**: the truth's reverberant speech plus the reference take's ambience excerpt, rescaled "
        "to the truth's ambience RMS (a perfect room with a different excerpt of the right bed).",
        "- **Separate & Remix**: DeepFilterNet3 speech estimate of the reference subtracted from it; the "
        "residual laid under the dry input at the reference's ambience-to-active-speech ratio.",
        "- **Match engine**: `analyse_reference` -> `ScenePreset` -> `restyle` with default `Settings`.",
        "- **Room (RT60, DRR)**: two-pass Tikhonov/Wiener deconvolution of the output against the dry "
        "input, noise floor from the acausal lags, noise-compensated Schroeder fits per octave band; the "
        "truth is measured by the same estimator. RT60 error = mean |relative error| over "
        f"{', '.join(str(b) for b in RT60_BANDS_HZ)} Hz (an unmeasurable decay counts as 0 s). "
        f"Estimator check on the truths vs the RIRs' own values: RT60 {_cell(check['rt60_err_pct'])} %, "
        f"DRR {_cell(check['drr_err_db'])} dB.",
        "- **Ambience**: output minus the deconvolution-predicted reverberant speech, for every system and "
        "the truth alike (stems are not used, so systems without stems are measured the same way). Level "
        "= ambience RMS vs active predicted-speech RMS (dB, clipped to [-60, 20]); spectrum distance = RMS "
        "difference of mean-removed third-octave long-term spectra (63 Hz-10 kHz).",
        "- **Texture**: McDermott & Simoncelli-style statistics of the ambience estimate (16 ERB bands, "
        "envelope mean/CV/skewness/kurtosis and octave modulation power), see `engine.evaluation.texture`.",
        "- **Speech vs the truth mix**: log-mel distance = mean |difference| of 64-band log-mel "
        "spectrograms (50 Hz-11 kHz, both floored 80 dB below the truth's peak); gain-inv. = the same "
        "after removing the mean log-mel difference (each floored 80 dB below its own peak), so a pure "
        "level offset scores 0; speech LTS err. = RMS over the third octaves to 20 kHz of "
        "`THIRD_OCTAVE_BANDS_HZ` (measured at 48 kHz with `engine.scene.bands`; the 40 and 63 Hz bands "
        "hold no FFT bin and are skipped) of the long-term spectra over the dry line's active frames, after "
        "removing their mean difference, on bands below both signals' Nyquist where the truth is within "
        "60 dB of its loudest band (colour, not level).",
        "- **STOI** (pystoi) against the truth mix; **STOI gap** = STOI(output vs dry line) - STOI(truth "
        "vs dry line): > 0 too dry, < 0 too washed, target 0 (abs. STOI gap is its per-case magnitude); "
        "**speaker similarity**: resemblyzer cosine between the "
        "dry input and the output; **DNSMOS**: speechmos P.835 OVRL over the first 9.01 s.",
        "- **Scene retrieval**: an output is a hit when, among all cases' truths, its own is nearest by "
        "the descriptor distance of `engine.evaluation.retrieval` (z-scored log RT60, DRR, ambience level "
        "and spectrum shape, groups weighted equally). Chance level is 1/cases.",
        "",
        "## Cases",
        "",
        "| " + " | ".join(result.cases[0].keys()) + " |" if result.cases else "",
        "|" + "---|" * (len(result.cases[0]) if result.cases else 0),
        *["| " + " | ".join(str(v) for v in row.values()) + " |" for row in result.cases],
        "",
    ]
    return "\n".join(lines)


def summary_line(result: EvalResult, report_path: Path) -> str:
    """One line for the end of the CLI output: the headline comparison and where the report is."""
    by_name = {s.name: s for s in result.systems}
    parts = [f"roomtone eval: {result.config.n_cases} cases, {len(result.systems)} systems "
             f"({len(result.unavailable_systems)} not available) in {result.seconds:.0f} s"]
    for name, short in (("dry input", "dry"), ("match engine", "match"), ("separate & remix", "S&R")):
        s = by_name.get(name)
        if s is not None:
            parts.append(f"{short}: RT60 err {s.summary['rt60_err_pct'].mean:.0f} %, "
                         f"amb. level err {s.summary['amb_level_err_db'].mean:.1f} dB")
    parts.append(f"report {report_path}")
    return "; ".join(parts)


def _write_plots(result: EvalResult, out_dir: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    keys = metric_keys(result)
    labels = {m.key: m.label for m in METRICS}
    names = [s.name for s in result.systems]
    cols = 4
    rows = int(math.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")(np.arange(len(names)) % 10)
    for ax, key in zip(axes.ravel(), keys):
        ivs = [s.summary[key] for s in result.systems]
        means = np.array([iv.mean for iv in ivs])
        err = np.array([[max(iv.mean - iv.low, 0.0), max(iv.high - iv.mean, 0.0)] for iv in ivs]).T
        ax.bar(np.arange(len(names)), np.nan_to_num(means), yerr=np.nan_to_num(err), color=colours, capsize=3)
        ax.set_title(labels[key], fontsize=9)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels([_short(n) for n in names], rotation=30, ha="right", fontsize=7)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_dir / METRICS_PNG, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    truth_rt = np.array([row["rt60_mid_s"] for row in result.cases], dtype=float)
    for colour, s in zip(colours, result.systems):
        est = [np.nanmean(np.array([np.nan if v is None else v for v in n.get("rt60_band_s", [None] * 7)][2:4], dtype=float))
               if n else np.nan for n in s.notes]
        ax.scatter(truth_rt, np.nan_to_num(np.array(est, dtype=float), nan=0.0), color=colours[names.index(s.name)],
                   label=_short(s.name), s=18)
    lim = [0.05, max(6.0, float(np.nanmax(truth_rt)) * 1.2 if truth_rt.size else 6.0)]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("truth RT60 500-1000 Hz (s, from the RIR)")
    ax.set_ylabel("output RT60 500-1000 Hz (s, deconvolution)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / RT60_PNG, dpi=110)
    plt.close(fig)
    return [METRICS_PNG, RT60_PNG]


def _write_json(result: EvalResult, path: Path) -> None:
    def iv(i: Interval) -> dict:
        return {"mean": _json_num(i.mean), "low": _json_num(i.low), "high": _json_num(i.high), "n": i.n}

    data = {
        "config": result.config.__dict__,
        "seconds": result.seconds,
        "cases": result.cases,
        "systems": [
            {
                "name": s.name,
                "summary": {k: iv(v) for k, v in s.summary.items()},
                "per_case": [{k: _json_num(v) for k, v in row.items()} for row in s.per_case],
                "notes": s.notes,
                "failures": s.failures,
                "seconds": s.seconds,
            }
            for s in result.systems
        ],
        "unavailable_systems": result.unavailable_systems,
        "unavailable_metrics": result.unavailable_metrics,
        "estimator_check": {k: iv(v) for k, v in result.estimator_check.items()},
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _write_csv(result: EvalResult, path: Path) -> None:
    keys = [m.key for m in METRICS]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["system", "case", *keys])
        for s in result.systems:
            for case, row in zip(result.cases, s.per_case):
                w.writerow([s.name, case["case"], *(row.get(k, "") for k in keys)])


def _direction(spec: MetricSpec) -> str:
    """Arrow for a metric's column: which way is better, or "→0" for a signed metric."""
    if spec.best_at_zero:
        return "→0"
    return "↑" if spec.higher_is_better else "↓"


def _cell(iv: Interval) -> str:
    return f"{_num(iv.mean)} [{_num(iv.low)}, {_num(iv.high)}]"


def _num(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def _json_num(v: float) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _short(name: str) -> str:
    return name.split(" (")[0]
