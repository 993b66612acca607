"""Evidence that a stylizer package learnt the pretext task (issue 3, item 6), on held-out scenes.

Why this measurement: the self-supervised task is "recover the target window from H(target),
given a hint window from the same recording". On recordings the model never saw, a model that
learnt it must (1) land closer to the target than its own input H(target) does, (2) land closer
with its own scene's hint than with another scene's hint, and (3) gain from classifier-free
guidance (4.5) over none (1). Distances are log-mel L1 to the target, on the decoded mel ("mel")
and on the vocoded wave analysed again ("wave"), with the share of pairs where each comparison
goes the right way. Every configuration starts from the same noise (paired comparisons).
``--input dry`` asks the same of the product's task: the target's dry speech in, instead of H(target).

Held-out data come from the training CLI's disjoint seed range (``--split heldout``):

    roomtone train corpus --out /tmp/heldout --recordings 6 --minutes 0.5 --split heldout --seed 0
    roomtone train prepare --data /tmp/heldout --val-fraction 0
    python bench/eval_diffusion_evidence.py --data /tmp/heldout [--data /tmp/heldout2 ...] \
        [--checkpoint DIR] [--sampler dpmpp --steps 25] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.diffusion import StylizerPipeline, load_checkpoint, make_sampler  # noqa: E402
from engine.diffusion.checkpoint import SHIPPED_CHECKPOINT, read_manifest  # noqa: E402
from engine.train.dataset import PairCache  # noqa: E402
from engine.train.prepare import INDEX, find_cache  # noqa: E402

BATCH = 8


def load_heldout(folders: list[str], image_px: int, limit: int) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Every pair of every held-out cache (both splits), and a scene id ("folder#recording") per pair.

    The batch also carries "starts" (n, 2): the target's and condition's first sample in the recording.
    """
    from safetensors import safe_open

    batches, scenes = [], []
    for folder in folders:
        cache_dir = find_cache(folder)
        for split in ("train", "val"):
            cache = PairCache(cache_dir, split, image_px)
            if not len(cache):
                continue
            batch = cache.batch(list(range(len(cache))))
            starts = []
            for file in cache._files:
                with safe_open(str(file), framework="pt") as f:
                    scenes += [f"{folder}#{int(r)}" for r in f.get_tensor("recording")]
                    starts.append(f.get_tensor("starts"))
            batches.append({**batch, "starts": torch.cat(starts)})
    batch = {k: torch.cat([b[k] for b in batches])[:limit] for k in batches[0]}
    return batch, scenes[:limit]


def dry_inputs(pairs: dict[str, torch.Tensor], scenes: list[str], seed: int) -> torch.Tensor:
    """The dry speech under each target window: what the product feeds the model (clean dialogue).

    A synthetic corpus is a pure function of its manifest, so each recording is rendered again to
    recover its dry speech (aligned to the direct sound). Each window is set to H(target)'s RMS (the
    engine levels dialogue to the training loudness) and gets the engine's input noise.
    """
    from engine.stylize.noise import INPUT_NOISE_STD
    from engine.train.corpus import read_corpus_config, render_audio

    rendered: dict[str, tuple[torch.Tensor, int]] = {}
    window = pairs["target"].shape[-1]
    out = torch.empty_like(pairs["target"])
    generator = torch.Generator().manual_seed(seed)
    for i, scene in enumerate(scenes):
        if scene not in rendered:
            folder, cache_index = scene.rsplit("#", 1)
            index = json.loads((find_cache(folder) / INDEX).read_text(encoding="utf-8"))
            name = Path(index["recordings"][int(cache_index)]["path"]).stem  # rec_00003
            rec, _ = render_audio(read_corpus_config(folder), int(name.split("_")[1]))
            rendered[scene] = (torch.from_numpy(rec.dry[:, 0].copy()), int(rec.direct_index))
        dry, delay = rendered[scene]
        start = int(pairs["starts"][i, 0]) - delay
        w = torch.zeros(window)
        lo, hi = max(start, 0), min(start + window, dry.shape[0])
        w[lo - start:hi - start] = dry[lo:hi]
        gain = pairs["enhanced"][i].pow(2).mean().sqrt() / w.pow(2).mean().sqrt().clamp_min(1e-8)
        out[i] = w * gain + INPUT_NOISE_STD * torch.randn(window, generator=generator)
    return out


def model_inputs(args: argparse.Namespace, pairs: dict[str, torch.Tensor], scenes: list[str]) -> torch.Tensor:
    """H(target) (the pretext task) or the dry speech (the product's task), per ``--input``."""
    return pairs["enhanced"] if args.input == "enhanced" else dry_inputs(pairs, scenes, args.seed)


INPUT_NAMES = {"enhanced": "enhanced input H(target)", "dry": "dry speech input"}


def other_scene(scenes: list[str]) -> list[int]:
    """For pair i, the first pair after it (cyclically) from another scene: a fixed, fair 'wrong hint'."""
    n = len(scenes)
    out = []
    for i in range(n):
        j = next((k % n for k in range(i + 1, i + n) if scenes[k % n] != scenes[i]), None)
        if j is None:
            raise SystemExit("the held-out data hold one scene only; 'another scene's hint' needs two or more")
        out.append(j)
    return out


def per_pair_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean(dim=(1, 2))


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The options every held-out measurement shares (this script and sweep_guidance.py)."""
    p.add_argument("--data", action="append", required=True, help="held-out corpus folder with a prepared cache")
    p.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT))
    p.add_argument("--sampler", choices=("dpmpp", "ddim"), default="dpmpp")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--pairs", type=int, default=10_000, help="at most this many pairs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--input", choices=("enhanced", "dry"), default="enhanced",
                   help="model input: H(target) (the pretext task) or the target's dry speech (synthetic corpora "
                        "only: the product's task, clean dialogue in)")


def open_pipeline(args: argparse.Namespace):
    """(model, config, pipeline with the engine's sampler) for the checkpoint named by the options."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = load_checkpoint(args.checkpoint)
    model.eval()
    return model, cfg, StylizerPipeline.from_stylizer(model, make_sampler(args.sampler, cfg))


@torch.no_grad()
def encode_hints(pipe: StylizerPipeline, pairs: dict[str, torch.Tensor], uses_image: bool) -> torch.Tensor:
    n = pairs["condition"].shape[0]
    return torch.cat([pipe.encode_condition(pairs["condition"][i:i + BATCH],
                                            pairs["image"][i:i + BATCH] if uses_image else None)
                      for i in range(0, n, BATCH)])


@torch.no_grad()
def encode_latents(pipe: StylizerPipeline, waves: torch.Tensor) -> torch.Tensor:
    """Diffusion-scaled latents of (n, samples) waves, BATCH at a time."""
    return torch.cat([pipe.encode_enhanced(waves[i:i + BATCH])[0] for i in range(0, waves.shape[0], BATCH)])


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    p.add_argument("--guidance", type=float, default=4.5)
    p.add_argument("--extra-guidance", type=float, action="append", default=[],
                   help="also report the right scene at this guidance (repeatable)")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args()

    t0 = time.perf_counter()
    model, cfg, pipe = open_pipeline(args)
    pairs, scenes = load_heldout(args.data, cfg.condition.image_size_px, args.pairs)
    n = len(scenes)
    wrong = other_scene(scenes)
    uses_image = cfg.condition.uses_image

    mel_t = pipe.mel(pairs["target"])
    frames = mel_t.shape[-1]
    cond = encode_hints(pipe, pairs, uses_image)
    runs = {"right scene, g = {g}".format(g=args.guidance): (cond, args.guidance),
            "right scene, g = 1 (CFG off)": (cond, 1.0),
            "another scene's hint, g = {g}".format(g=args.guidance): (cond[wrong], args.guidance)}
    for g in args.extra_guidance:
        runs[f"right scene, g = {g}"] = (cond, g)
    rows: dict[str, dict[str, torch.Tensor]] = {}
    inputs = model_inputs(args, pairs, scenes)
    input_name = INPUT_NAMES[args.input]
    enh_mel = pipe.mel(inputs)
    rows[input_name] = {"mel": per_pair_l1(enh_mel, mel_t), "wave": per_pair_l1(enh_mel, mel_t)}
    for name, (c, g) in runs.items():
        mels, waves = [], []
        for i in range(0, n, BATCH):
            out = pipe(inputs[i:i + BATCH], c[i:i + BATCH], steps=args.steps, guidance_scale=g,
                       seed=args.seed, output="wave")
            mels.append(per_pair_l1(out.mel, mel_t[i:i + BATCH]))
            waves.append(per_pair_l1(pipe.mel(out.wave)[..., :frames], mel_t[i:i + BATCH]))
        rows[name] = {"mel": torch.cat(mels), "wave": torch.cat(waves)}
        print(f"  {name}: done at {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    z = encode_latents(pipe, pairs["target"])
    vae_mel = torch.cat([pipe.decode(z[i:i + BATCH], frames) for i in range(0, n, BATCH)])
    voc = torch.cat([pipe.mel(model.vocoder(mel_t[i:i + BATCH]))[..., :frames] for i in range(0, n, BATCH)])
    floors = {"mel": float(per_pair_l1(vae_mel, mel_t).mean()), "wave": float(per_pair_l1(voc, mel_t).mean())}

    right, off, other = (rows[k] for k in list(rows)[1:4])
    enh = rows[input_name]

    def share(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a < b).float().mean())

    wins = {dom: {f"output beats the {input_name}": share(right[dom], enh[dom]),
                  "right scene beats another scene's hint": share(right[dom], other[dom]),
                  f"CFG on ({args.guidance}) beats off (1)": share(right[dom], off[dom])}
            for dom in ("wave", "mel")}
    manifest = read_manifest(args.checkpoint)
    print(f"\n{n} held-out pairs from {len(set(scenes))} scenes ({', '.join(args.data)}); checkpoint "
          f"{manifest['checkpoint_id'][:12]}; {args.sampler} {args.steps} steps, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| log-mel L1 to the target (lower is better) | wave | mel |\n| --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {float(r['wave'].mean()):.3f} | {float(r['mel'].mean()):.3f} |")
    print(f"| floors: target through the vocoder / through the VAE | {floors['wave']:.3f} | {floors['mel']:.3f} |")
    print("\n| share of pairs | wave | mel |\n| --- | --- | --- |")
    for key in wins["wave"]:
        print(f"| {key} | {wins['wave'][key]:.0%} | {wins['mel'][key]:.0%} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pairs": n, "scenes": len(set(scenes)), "checkpoint_id": manifest["checkpoint_id"],
            "sampler": args.sampler, "steps": args.steps, "seed": args.seed,
            "mean_l1": {k: {d: float(v[d].mean()) for d in v} for k, v in rows.items()},
            "per_pair_l1": {k: {d: v[d].tolist() for d in v} for k, v in rows.items()},
            "floors": floors, "wins": wins}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
