"""The scene estimators side by side on held-out scenes: DSP vs learned, and what the line sounds like.

Held out from the estimator's training and from any tuning: whole room families
(``engine.kit.geometry.HELD_OUT_FAMILIES``: fan-shaped halls, stairwells, treated studios),
espeak voices and variants (``engine.kit.voices.HELD_OUT_*``), and ambiences
(``engine.train.scene_corpus.HELD_OUT_AMBIENCES``). Each scene: a 12-15 s reference spoken by one
held-out talker in the room under a held-out ambience (5-30 dB SNR), and an 8 s dry line by
another held-out talker; the truth of the line is the line through the same impulse response.

Per estimator: per-band RT60 relative error (500-2000 Hz, all bands), DRR, ambience level (each
against the impulse response's own truth, ``engine.train.scene_corpus.rir_truth``), and end to end
through the match engine (reverb + dialogue stems, no ambience): the output's third-octave
long-term spectrum against the truth's (level-aligned RMS dB), and the STOI gap (STOI of output
vs dry minus STOI of truth vs dry: > 0 too dry, < 0 too washed). Also preset-creation time.

Run: PYTHONPATH=. python bench/bench_scene.py [--n 30] [--estimator DIR] [--seed 0] [--split heldout|train]
Scenes are cached in $ROOMTONE_BENCH_CACHE (default /tmp/roomtone_scene_bench).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation.spectral import speech_spectrum_db, speech_spectrum_error_db  # noqa: E402
from engine.kit.geometry import HELD_OUT_FAMILIES, TRAIN_FAMILIES, simulate_room  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402
from engine.scene import analyse_reference  # noqa: E402
from engine.scene.profile import OCTAVE_BANDS_HZ  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.train.scene_corpus import HELD_OUT_AMBIENCES, ambience_names, rir_truth  # noqa: E402

CACHE = Path(os.environ.get("ROOMTONE_BENCH_CACHE", "/tmp/roomtone_scene_bench"))
SR = 48000
SEED_OFFSET = 7_000_000  # far from every corpus seed


def scene(index: int, seed: int, split: str = "heldout") -> dict:
    """Render (or load) scene ``index``: reference mix, dry line, truth line, truth row.

    ``split='train'`` draws from the training families, voices and ambiences instead (other seeds
    than the corpus): the tuning set for the analysis' fallback thresholds, so the held-out
    scenes stay untouched by any choice.
    """
    path = CACHE / f"scene{seed}_{index}{'' if split == 'heldout' else '_' + split}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from scipy.signal import oaconvolve

    from engine.audio.loudness import integrated_loudness
    from engine.kit.scene import ambience_source
    from engine.kit.voices import talker_lines

    rng = np.random.default_rng(np.random.SeedSequence([seed, SEED_OFFSET + index, split == "train"]))
    families = HELD_OUT_FAMILIES if split == "heldout" else TRAIN_FAMILIES
    family = families[index % len(families)]
    rir = simulate_room(family, rng, SR, mics=1).rirs[0]

    def speech(seconds: float) -> np.ndarray:
        _, lines = talker_lines(rng, split, 8, SR)
        n = int(seconds * SR)
        out = np.zeros(n, dtype=np.float32)
        pos = int(0.3 * SR)
        while pos < n:
            x = lines[int(rng.integers(len(lines)))].copy()
            x *= np.float32(0.07 / max(float(np.sqrt(np.mean(x**2))), 1e-9))
            take = min(x.size, n - pos)
            out[pos : pos + take] = x[:take]
            pos += x.size + int(rng.uniform(0.2, 1.2) * SR)
        return out

    ref_dry = speech(float(rng.uniform(12.0, 15.0)))
    line = speech(8.0)
    wet = oaconvolve(ref_dry.astype(np.float64), rir.astype(np.float64))[: ref_dry.size]
    names = sorted(HELD_OUT_AMBIENCES) if split == "heldout" else ambience_names("train")
    amb_name = names[int(rng.integers(len(names)))]
    amb = ambience_source(amb_name, ref_dry.size / SR, SR, rng)[: ref_dry.size, 0].astype(np.float64)
    snr_db = float(rng.uniform(5.0, 30.0))
    amb *= 10 ** ((integrated_loudness(wet[:, None], SR) - snr_db - integrated_loudness(amb[:, None], SR)) / 20)
    mix = wet + amb
    mix *= 0.5 / np.max(np.abs(mix))
    truth_line = oaconvolve(line.astype(np.float64), rir.astype(np.float64))[: line.size]
    truth = rir_truth(rir, SR)
    truth[9] = -snr_db
    out = {"mix": mix.astype(np.float32), "line": line, "truth_line": truth_line.astype(np.float32), "truth": truth,
           "family": np.asarray(family), "ambience": np.asarray(amb_name)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


class _Preset:
    def __init__(self, analysis, clarity: bool = True) -> None:
        from dataclasses import replace

        # clarity off: the renderer's plain exponential tail, as for presets made before C50
        self.profile = analysis.profile if clarity else replace(analysis.profile, c50_db=None)
        self.ambience = analysis.ambience_excerpt
        self.ambience_rate_hz = analysis.excerpt_sample_rate_hz


def analyse(s: dict, estimator: str):
    t = time.perf_counter()
    try:
        analysis = analyse_reference(s["mix"][:, None], SR, estimator=estimator)
    except TypeError:  # the code before the learned estimator: DSP only
        analysis = analyse_reference(s["mix"][:, None], SR)
    return analysis, time.perf_counter() - t


def evaluate(s: dict, analysis, seconds: float, eq_amount: float = 1.0, clarity: bool = True) -> dict:
    from pystoi import stoi

    from engine.restyle import restyle

    p = analysis.profile
    truth = s["truth"]
    rt_true = np.exp(truth[:7])
    rel = np.abs(np.asarray(p.rt60_s) / rt_true - 1.0)
    stems = restyle(s["line"][:, None], SR, _Preset(analysis, clarity), Settings(stems=True, eq_amount=eq_amount))
    speech = (stems.dialogue + stems.reverb)[:, 0]
    from engine.kit.scene import speech_activity

    active = speech_activity(s["line"], SR)
    lts = speech_spectrum_error_db(speech_spectrum_db(speech, SR, active), speech_spectrum_db(s["truth_line"], SR, active))
    gap = stoi(s["line"], speech, SR) - stoi(s["line"], s["truth_line"], SR)
    return {
        "rt_mid": rel[2:5], "rt_all": rel, "drr": abs(p.drr_db - truth[7]),
        "amb": abs(p.ambience_to_speech_db - truth[9]), "lts": lts, "stoi_gap": gap, "seconds": seconds,
    }


def network_alone(s: dict, net) -> dict:
    """The learned estimate before it is weighed against the DSP one: what the network alone reads."""
    e = net.estimate(s["mix"], SR)
    truth = s["truth"]
    rt, _ = e.get("rt60_")
    rel = np.abs(np.exp(rt - truth[:7]) - 1.0)
    return {"rt_mid": rel[2:5], "rt_all": rel, "drr": abs(float(e.get("drr")[0][0]) - truth[7]),
            "amb": abs(float(e.get("amb_to_speech")[0][0]) - truth[9])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="held-out scenes (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimator", default="auto", help="learned package folder (default: the shipped one)")
    ap.add_argument("--split", choices=("heldout", "train"), default="heldout",
                    help="train: training-family scenes, the tuning set for the analysis' constants")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    systems = {"dsp": ("dsp", 1.0, True), "learned": (args.estimator, 1.0, True),
               "learned, EQ off": (args.estimator, 0.0, True), "learned, C50 off": (args.estimator, 1.0, False)}
    rows: dict[str, list[dict]] = {k: [] for k in systems}
    raw: list[dict] = []
    failed: list[str] = []
    from engine.scene.estimator import load_estimator

    net = load_estimator(None if args.estimator == "auto" else args.estimator)
    t0 = time.perf_counter()
    for i in range(args.n):
        s = scene(i, args.seed, args.split)
        try:
            analyses = {est: analyse(s, est) for est in {est for est, _, _ in systems.values()}}
        except AnalysisError as exc:  # counted and reported, as a user would see it
            failed.append(f"scene {i} ({s['family']}): {exc}")
            continue
        raw.append(network_alone(s, net))
        for name, (est, eq, clarity) in systems.items():
            r = evaluate(s, *analyses[est], eq_amount=eq, clarity=clarity)
            rows[name].append(r)
            if args.verbose:
                rt = np.exp(s["truth"][3])
                print(f"{i:3d} {str(s['family']):9s} rt1k {rt:4.2f} drr {s['truth'][7]:+5.1f} {name:16s} "
                      f"rt_mid {np.median(r['rt_mid']) * 100:4.0f}% drr {r['drr']:4.1f} amb {r['amb']:4.1f} "
                      f"lts {r['lts']:4.1f} stoi {r['stoi_gap']:+.2f}", flush=True)
    what = (f"held-out scenes ({', '.join(HELD_OUT_FAMILIES)}; held-out voices and ambiences)" if args.split == "heldout"
            else "training-family scenes (tuning set)")
    print(f"\n{args.n - len(failed)} of {args.n} {what}, {time.perf_counter() - t0:.0f} s\n")
    for line in failed:
        print(f"analysis refused {line}")
    print("| estimator | RT60 500-2k median / p90 | RT60 all bands median / p90 | DRR median | ambience level median "
          "| line LTS RMS median | STOI gap median (mean abs) | analysis s (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rs in rows.items():
        mid = np.concatenate([r["rt_mid"] for r in rs]) * 100
        allb = np.concatenate([r["rt_all"] for r in rs]) * 100
        gap = np.array([r["stoi_gap"] for r in rs])
        print(f"| {name} | {np.median(mid):.0f} % / {np.percentile(mid, 90):.0f} % | {np.median(allb):.0f} % / "
              f"{np.percentile(allb, 90):.0f} % | {np.median([r['drr'] for r in rs]):.1f} dB | "
              f"{np.median([r['amb'] for r in rs]):.1f} dB | {np.median([r['lts'] for r in rs]):.1f} dB | "
              f"{np.median(gap):+.3f} ({np.mean(np.abs(gap)):.3f}) | {np.median([r['seconds'] for r in rs]):.1f} |")
    if raw:
        mid = np.concatenate([r["rt_mid"] for r in raw]) * 100
        print(f"| network alone (no DSP weighing) | {np.median(mid):.0f} % / {np.percentile(mid, 90):.0f} % | "
              f"{np.median(np.concatenate([r['rt_all'] for r in raw])) * 100:.0f} % | "
              f"{np.median([r['drr'] for r in raw]):.1f} dB | {np.median([r['amb'] for r in raw]):.1f} dB | | | |")
    per_band = {name: np.median(np.stack([r["rt_all"] for r in rs]), axis=0) * 100 for name, rs in rows.items()}
    print("\nRT60 median relative error per octave band (%):")
    print("| estimator | " + " | ".join(f"{int(b)}" for b in OCTAVE_BANDS_HZ) + " |")
    print("|---|" + "---|" * len(OCTAVE_BANDS_HZ))
    for name, v in per_band.items():
        print(f"| {name} | " + " | ".join(f"{x:.0f}" for x in v) + " |")


if __name__ == "__main__":
    main()
