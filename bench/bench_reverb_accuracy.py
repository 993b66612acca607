"""Accuracy of the blind per-band RT60 and DRR (``engine.scene.reverb``) on random kit scenes.

Scenes are drawn from two disjoint seed ranges with disjoint voices: TUNING (what the method's
constants were tuned on) and HELD-OUT (the numbers to report). Each scene: a random shoebox room
with mid-band RT60 log-uniform over 0.2-5 s, a random ambience (real or procedural) at 10-30 dB
SNR, one espeak voice, 48 kHz or 16 kHz. The estimate is what ``analyse_reference`` would store
(bands without a value take their neighbours', see ``analyse._fill_bands``).

Rendered scenes are cached under ``$ROOMTONE_BENCH_CACHE`` (default /tmp/roomtone_reverb_bench) so
re-running after a change to the estimator only costs the analysis.

Run: PYTHONPATH=. python bench/bench_reverb_accuracy.py [--n 24] [--seconds 30] [--only held-out]
     [--verbose] [--jobs 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.kit.ambience import PROCEDURAL_KINDS, list_real_ambiences  # noqa: E402
from engine.kit.rooms import random_room  # noqa: E402
from engine.kit.scene import SceneSpec, render_scene  # noqa: E402
from engine.kit.speech import SPEAKERS  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402
from engine.scene.analyse import measure_reverb  # noqa: E402
from engine.scene.profile import OCTAVE_BANDS_HZ  # noqa: E402

TUNING_SEEDS = range(0, 1000)
HELD_OUT_SEEDS = range(100000, 101000)
# Outdoor scenes (a direct path, a ground bounce, faint facades: DRR +5..+20 dB) from their own seeds.
OUTDOOR_SEED_OFFSET = 5000
# Voices split by index: tuning never hears the held-out talkers (both sets hold men and women).
TUNING_SPEAKERS = tuple(SPEAKERS[i] for i in (0, 1, 2, 7, 8, 9))
HELD_OUT_SPEAKERS = tuple(SPEAKERS[i] for i in (3, 4, 5, 6, 10, 11, 12, 13))
RT60_RANGE_S = (0.2, 5.0)
SNR_RANGE_DB = (10.0, 30.0)
RATES_HZ = (48000, 16000)
CACHE = Path(os.environ.get("ROOMTONE_BENCH_CACHE", "/tmp/roomtone_reverb_bench"))


def scene_for(seed: int, held_out: bool, seconds: float) -> dict:
    """Render (or load from the cache) the scene of ``seed``; returns mix, rate and truth."""
    path = CACHE / f"{'h' if held_out else 't'}{seed}_{seconds:g}s.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    outdoor = seed % 100000 >= OUTDOOR_SEED_OFFSET
    room = random_room(rng, RT60_RANGE_S, kind="outdoor" if outdoor else "shoebox")
    names = [f"real:{n}" for n in list_real_ambiences()] + [f"proc:{k}" for k in PROCEDURAL_KINDS]
    ambience = names[int(rng.integers(len(names)))]
    snr_db = float(rng.uniform(*SNR_RANGE_DB))
    speakers = HELD_OUT_SPEAKERS if held_out else TUNING_SPEAKERS
    speaker = speakers[int(rng.integers(len(speakers)))]
    rate = RATES_HZ[int(rng.integers(len(RATES_HZ)))]
    rec = render_scene(SceneSpec(room, ambience, snr_db, int(rng.integers(2**31 - 1))), seconds, rate, speaker=speaker)
    out = {
        "mix": rec.mix[:, 0],
        "rate": np.array(rate),
        "rt60": rec.rt60_band_s,
        "drr": np.array(rec.drr_db),
        "snr": np.array(snr_db),
        "voice": np.array(speaker.voice),
        "ambience": np.array(ambience),
        "distance": np.array(room.distance_m),
        "kind": np.array(room.kind),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def estimate(mix: np.ndarray, rate: int) -> tuple[np.ndarray, float, float]:
    """(band RT60, broadband DRR, seconds of analysis), measured as analyse() measures them (its
    clamps included); NaN where the clip has no free decays."""
    t0 = time.perf_counter()
    try:
        rt, drr = measure_reverb(mix, rate)
    except AnalysisError:
        rt, drr = np.full(len(OCTAVE_BANDS_HZ), np.nan), float("nan")
    return rt, drr, time.perf_counter() - t0


def _one(args: tuple[int, bool, float]) -> dict:
    seed, held_out, seconds = args
    s = scene_for(seed, held_out, seconds)
    rt, drr, elapsed = estimate(s["mix"], int(s["rate"]))
    return {"seed": seed, "truth": s["rt60"], "est": rt, "drr_true": float(s["drr"]), "drr_est": drr,
            "rate": int(s["rate"]), "snr": float(s["snr"]), "voice": str(s["voice"]),
            "ambience": str(s["ambience"]), "distance": float(s["distance"]), "secs": elapsed,
            "audio_s": s["mix"].size / int(s["rate"]), "kind": str(s.get("kind", "shoebox"))}


def evaluate(seeds: list[int], held_out: bool, seconds: float, jobs: int) -> list[dict]:
    work = [(s, held_out, seconds) for s in seeds]
    if jobs > 1:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            return pool.map(_one, work)
    return [_one(w) for w in work]


def summarise(name: str, rows: list[dict], verbose: bool) -> dict:
    truth = np.array([r["truth"] for r in rows])
    est = np.array([r["est"] for r in rows])
    err = 100.0 * np.abs(est / truth - 1.0)  # NaN where the truth is undefined (band above Nyquist)
    d_err = np.array([r["drr_est"] - r["drr_true"] for r in rows])
    d_err = np.where(np.isfinite(d_err), d_err, 99.0)
    if verbose:
        for r, e, de in zip(rows, err, d_err):
            print(f"  seed {r['seed']:>6} {r['rate']:>5} Hz mid RT60 {np.mean(r['truth'][2:4]):4.2f} s "
                  f"snr {r['snr']:4.1f} {r['ambience']:<22} {r['voice']:<18} d {r['distance']:3.1f} m | err % "
                  + " ".join(f"{v:4.0f}" if np.isfinite(v) else "   -" for v in e)
                  + f" | DRR true {r['drr_true']:5.1f} est {r['drr_est']:5.1f} ({de:+5.1f})")
    mean = np.nanmean(err, axis=0)
    p90 = np.nanpercentile(err, 90, axis=0)
    worst = np.nanmax(err, axis=0)
    limits = np.array([40, 40, 30, 30, 30, 30, 40], dtype=float)
    inside = np.nanmean(np.where(np.isfinite(err), err <= limits, np.nan), axis=0) * 100
    header = " ".join(f"{int(b):>6}" for b in OCTAVE_BANDS_HZ)
    print(f"\n{name}: {len(rows)} scenes")
    print(f"  band Hz      {header}")
    print(f"  mean |err| % {' '.join(f'{v:6.1f}' for v in mean)}")
    print(f"  p90  |err| % {' '.join(f'{v:6.1f}' for v in p90)}")
    print(f"  max  |err| % {' '.join(f'{v:6.1f}' for v in worst)}")
    print(f"  within tol % {' '.join(f'{v:6.0f}' for v in inside)}   (tol 40/40/30/30/30/30/40 %)")
    ad = np.abs(d_err)
    print(f"  DRR error dB: mean {np.mean(d_err):+.2f}, mean |err| {np.mean(ad):.2f}, p90 |err| "
          f"{np.percentile(ad, 90):.2f}, max {np.max(ad):.2f}, within 4 dB {100 * np.mean(ad <= 4):.0f} %")
    per_min = np.array([r["secs"] / r["audio_s"] * 60.0 for r in rows])
    rates = np.array([r["rate"] for r in rows])
    if np.any(rates == 48000):
        print(f"  speed: {np.median(per_min[rates == 48000]):.2f} s per 60 s at 48 kHz (median, incl. STFT)")
    return {"mean": mean, "p90": p90, "drr_mean_abs": float(np.mean(ad)), "drr_p90": float(np.percentile(ad, 90))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=24, help="indoor (shoebox) scenes per range")
    p.add_argument("--n-outdoor", type=int, default=8, help="outdoor scenes per range")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--only", choices=("tuning", "held-out"), default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args()
    for name, seeds, held in (("TUNING", TUNING_SEEDS, False), ("HELD-OUT", HELD_OUT_SEEDS, True)):
        if args.only and args.only != name.lower():
            continue
        outdoor = [seeds.start + OUTDOOR_SEED_OFFSET + i for i in range(args.n_outdoor)]
        rows = evaluate(list(seeds[: args.n]) + outdoor, held, args.seconds, args.jobs)
        for kind in ("shoebox", "outdoor"):
            part = [r for r in rows if r["kind"] == kind]
            if part:
                summarise(f"{name} {kind}", part, args.verbose)


if __name__ == "__main__":
    main()
