"""Diffusion-engine speed per inference backend, sampler, steps and window batch; and sampler parity.

Speed: the real renderer (engine.stylize.renderer.DiffusionRenderer, CFG on, guidance 4.5) on a
16 kHz mono speech-like file -- the model rate, so the figure is the model's alone (at 48 kHz
the match engine's high band and the resamplers add a little). Real-time factor = audio seconds
per wall second (higher is faster; >= 1 is faster than real time). Each configuration runs in
its own subprocess, so its peak memory (RSS on the CPU, torch.cuda.max_memory_allocated on a GPU)
is its own; a warm-up render (model load, ONNX export, TensorRT build) is excluded, then the
median of --runs renders is reported.

Quality parity (--quality): DPM-Solver++ at 25 steps vs DDIM at 200, log-mel distance (dB,
engine.evaluation.spectral) of the restyled dry line to the ground-truth scene recording, on
synthetic scenes of the evaluation test set (engine.evaluation.cases, seeds disjoint from the
training corpus), at 16 kHz, hint = the case's reference recording.

    python bench/bench_backends.py --device cpu --backends torch onnx --runs 3
    python bench/bench_backends.py --device cuda --backends torch tensorrt --batches 4 64 256
    python bench/bench_backends.py --quality --cases 6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE = 16000
CONFIGS = [("dpmpp", 25), ("ddim", 200)]


def speech_like(seconds: float, rate: int = RATE) -> np.ndarray:
    """Voiced bursts (modulated harmonics) with pauses, like bench_restyle's long file."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    gate = (np.sin(2 * np.pi * 0.4 * t) > -0.3) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (0.05 * tone * gate + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)[:, None]


def preset_from_reference(reference: np.ndarray, rate: int):
    """A whole preset from a reference recording, as `preset create` would make it."""
    from engine.scene import analyse_reference
    from presets.store import ScenePreset

    return ScenePreset.from_analysis("bench", analyse_reference(reference, rate))


def bench_preset():
    """A factory preset (restaurant): the residual engine's direct path and faders need a whole scene."""
    from presets.store import load_preset

    return load_preset(Path(__file__).resolve().parents[1] / "presets" / "factory" / "restaurant")


def render(x: np.ndarray, preset, settings, window_batch: int) -> np.ndarray:
    from engine.audio import integrated_loudness
    from engine.stylize.renderer import DiffusionRenderer
    from engine.render import SourceInfo

    source = SourceInfo(RATE, 1, len(x), integrated_loudness(x, RATE))
    renderer = DiffusionRenderer(preset, settings, source, window_batch=window_batch)
    out = [renderer.process(x).mix, renderer.flush().mix]
    return np.concatenate(out)[: len(x)]


def one(args: argparse.Namespace) -> dict:
    """Measure one configuration in this process (called in a subprocess by main)."""
    import torch

    from engine.diffusion.checkpoint import require_checkpoint
    from engine.runtime.select import load_backend, resolve_runtime
    from engine.settings import Settings

    torch.set_num_threads(args.threads)
    x = speech_like(args.seconds)
    preset = bench_preset()
    settings = Settings(engine="diffusion", sampler=args.sampler, steps=args.steps, guidance=4.5,
                        backend=args.backend, device=args.device, precision=args.precision)
    runtime = resolve_runtime(settings.backend, settings.device, settings.precision)
    cuda = runtime.device == "cuda"
    render(x[: RATE * 3], preset, settings, args.batch)  # warm-up: load, export/build, first-call costs
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        render(x, preset, settings, args.batch)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    backend = load_backend(require_checkpoint(), runtime, args.batch)[3]
    return {
        "backend": backend.describe(), "sampler": args.sampler, "steps": args.steps, "batch": args.batch,
        "seconds": args.seconds, "runs": [round(t, 3) for t in times],
        "rtf_median": round(args.seconds / statistics.median(times), 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "threads": args.threads,
    }


def quality(args: argparse.Namespace) -> None:
    import torch

    from engine.evaluation.cases import build_case
    from engine.evaluation.spectral import log_mel_db, log_mel_distance_db
    from engine.settings import Settings

    torch.set_num_threads(args.threads)
    rows = []
    for i in range(args.cases):
        case = build_case(i, input_s=args.case_seconds, reference_s=6.0, sample_rate_hz=RATE)
        preset = preset_from_reference(case.reference.mix, RATE)
        truth = log_mel_db(case.truth.mix, RATE)
        row = {"case": case.case_id, "dry": log_mel_distance_db(log_mel_db(case.dry, RATE), truth)}
        for sampler, steps in CONFIGS:
            settings = Settings(engine="diffusion", sampler=sampler, steps=steps, backend=args.backend[0],
                                device=args.device, seed=0)
            out = render(case.dry, preset, settings, 4)
            row[f"{sampler}{steps}"] = log_mel_distance_db(log_mel_db(out, RATE), truth)
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "case"}
    rel = mean["dpmpp25"] / mean["ddim200"] - 1.0
    per_case = [r["dpmpp25"] / r["ddim200"] - 1.0 for r in rows]
    print(f"\nN = {len(rows)} cases x {args.case_seconds} s at 16 kHz, backend {args.backend[0]}, guidance 4.5")
    print(f"mean log-mel distance to truth (dB): dry input {mean['dry']:.3f}, DDIM-200 {mean['ddim200']:.3f}, "
          f"DPM-Solver++-25 {mean['dpmpp25']:.3f} ({100 * rel:+.1f} % vs DDIM-200; per case "
          f"{', '.join(f'{100 * p:+.1f}' for p in per_case)} %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx"], dest="backend")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--configs", nargs="+", default=[f"{s}:{n}" for s, n in CONFIGS],
                    help="sampler:steps pairs (default dpmpp:25 ddim:200)")
    ap.add_argument("--batches", nargs="+", type=int, default=[4], help="windows per network call")
    ap.add_argument("--seconds", type=float, default=10.24, help="audio per render (10.24 s = 5 windows)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quality", action="store_true", help="sampler parity on held-out synthetic scenes instead")
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--case-seconds", type=float, default=5.12)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sampler", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quality:
        quality(args)
        return
    if args.one:
        args.backend = args.backend[0]
        print("RESULT " + json.dumps(one(args)), flush=True)
        return
    print(f"{'backend':50s} {'sampler':>8s} {'steps':>5s} {'batch':>5s} {'RTF (median)':>12s} "
          f"{'runs (s)':>24s} {'peak RSS MiB':>12s} {'peak CUDA MiB':>13s}")
    for backend in args.backend:
        for config in args.configs:
            sampler, steps = config.split(":")
            for batch in args.batches:
                cmd = [sys.executable, __file__, "--one", "--device", args.device, "--backends", backend,
                       "--precision", args.precision, "--sampler", sampler, "--steps", steps, "--batch", str(batch),
                       "--seconds", str(args.seconds), "--runs", str(args.runs), "--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if line is None:
                    print(f"{backend:50s} {sampler:>8s} {steps:>5s} {batch:>5d} failed: "
                          f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
                    continue
                r = json.loads(line[7:])
                print(f"{r['backend']:50s} {sampler:>8s} {steps:>5s} {batch:>5d} {r['rtf_median']:>12.3f} "
                      f"{str(r['runs']):>24s} {r['peak_rss_mib']:>12.1f} {str(r['peak_cuda_mib']):>13s}", flush=True)


if __name__ == "__main__":
    main()
