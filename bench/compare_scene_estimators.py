"""Two or more scene-estimator packages side by side, for deciding whether a new one ships.

Three views, each with the same packages:
- ``--split train|heldout``: bench_scene's scenes through the whole analysis (network weighed with
  the DSP) and the match engine: RT60, DRR, ambience level, the line's spectrum and STOI gap. Decide
  on ``train`` (training families, the tuning split); report ``heldout`` after.
- ``--rooms A-B[,C-D]``: the network alone on rooms of the default scene corpus (seed 0), rendered
  here into ``--cache``: rooms it was trained on against its validation rooms show how much it fits
  its own rooms.
- ``--corpus DIR``: the training loop's own validation (the corpus' last 4 %, fixed 12 s crops).

Run: PYTHONPATH=. python bench/compare_scene_estimators.py --split train --n 40 \
        shipped=engine/scene/checkpoints/scene-estimator new=run/model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_scene  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402
from engine.scene.estimator import load_estimator  # noqa: E402


def scenes(packages: dict[str, str], split: str, n: int) -> None:
    rows: dict[str, list[dict]] = {k: [] for k in packages}
    for i in range(n):
        s = bench_scene.scene(i, 0, split)
        try:
            res = {k: bench_scene.evaluate(s, *bench_scene.analyse(s, v)) for k, v in packages.items()}
        except AnalysisError:
            print(f"scene {i} ({s['family']}): refused by the analysis")
            continue
        for k, r in res.items():
            rows[k].append(r)
    print("| package | RT60 500-2k median / p90 | all bands median / p90 | DRR | ambience | line LTS | STOI gap (mean abs) |")
    print("|---|---|---|---|---|---|---|")
    for k, rs in rows.items():
        mid = np.concatenate([r["rt_mid"] for r in rs]) * 100
        allb = np.concatenate([r["rt_all"] for r in rs]) * 100
        gap = np.array([r["stoi_gap"] for r in rs])
        print(f"| {k} | {np.median(mid):.0f} % / {np.percentile(mid, 90):.0f} % | {np.median(allb):.0f} % / "
              f"{np.percentile(allb, 90):.0f} % | {np.median([r['drr'] for r in rs]):.2f} dB | "
              f"{np.median([r['amb'] for r in rs]):.2f} dB | {np.median([r['lts'] for r in rs]):.2f} dB | "
              f"{np.median(gap):+.3f} ({np.mean(np.abs(gap)):.3f}) |")


def corpus_rooms(packages: dict[str, str], spans: str, cache: Path) -> None:
    from engine.train.scene_corpus import SceneCorpusConfig, render_room_shard

    config = SceneCorpusConfig()
    cache.mkdir(parents=True, exist_ok=True)
    for span in spans.split(","):
        lo, hi = (int(v) for v in span.split("-"))
        shards = []
        for i in range(lo, hi + 1):
            path = cache / f"room-{i:06d}.npz"
            if not path.exists():
                render_room_shard(cache, config, i)
            with np.load(path) as z:
                offsets = np.concatenate([[0], np.cumsum(z["lengths"])])
                feats = z["features"].astype(np.float32)
                shards += [(feats[offsets[k] : offsets[k + 1]], z["targets"][k]) for k in range(z["lengths"].size)]
        for name, folder in packages.items():
            net = load_estimator(folder)
            mid, drr, amb = [], [], []
            for levels, t in shards:
                e = net.estimate_levels(levels)
                mid += list(np.abs(np.exp(e.mean[2:5] - t[2:5]) - 1))
                drr.append(abs(e.mean[7] - t[7]))
                amb.append(abs(e.mean[9] - t[9]))
            print(f"rooms {span}, {name} (network alone, {len(shards)} references): RT60 500-2k "
                  f"{np.median(mid) * 100:.1f} % / p90 {np.percentile(mid, 90) * 100:.0f} %, DRR {np.median(drr):.2f} dB, "
                  f"ambience {np.median(amb):.2f} dB")


def corpus_validation(packages: dict[str, str], folder: str) -> None:
    from engine.train.scene_corpus import load_scene_corpus, target_names
    from engine.train.scene_train import SceneTrainConfig, validate

    feats, targets, _ = load_scene_corpus(folder)
    n_val = max(1, int(len(feats) * SceneTrainConfig().val_fraction))
    idx = np.arange(len(feats) - n_val, len(feats))
    for name, package in packages.items():
        e = load_estimator(package)
        scores = validate(e.module, feats, targets, idx, np.asarray(e.config.target_mean),
                          np.asarray(e.config.target_std), tuple(target_names()))
        print(f"{folder} validation ({n_val} references), {name}: {scores}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("packages", nargs="+", metavar="NAME=DIR", help="scene-estimator packages to compare")
    ap.add_argument("--split", choices=("train", "heldout"), help="bench_scene's scenes of this split")
    ap.add_argument("--n", type=int, default=30, help="scenes (default 30)")
    ap.add_argument("--rooms", metavar="A-B[,C-D]", help="rooms of the default corpus, network alone")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/roomtone_corpus_rooms"), help="where --rooms renders")
    ap.add_argument("--corpus", metavar="DIR", help="a scene corpus: the training loop's validation")
    args = ap.parse_args()
    packages = dict(p.split("=", 1) for p in args.packages)
    if args.split:
        scenes(packages, args.split, args.n)
    if args.rooms:
        corpus_rooms(packages, args.rooms, args.cache)
    if args.corpus:
        corpus_validation(packages, args.corpus)


if __name__ == "__main__":
    main()
