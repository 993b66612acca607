"""`roomtone train ...`: corpus, prepare, vae, vocoder, ldm, all; scene-corpus and scene (the scene estimator). The lead wires it into engine/cli.py
with ``register(subparsers)``; ``python -m engine.train`` runs it stand-alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

STAGE_COMMANDS = ("vae", "vocoder", "ldm")
ENHANCE_PRESETS = ("full", "separation", "clean")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _add_prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR", default=None, help="cache folder (default: DATA/.roomtone-cache/<key>)")
    p.add_argument("--enhance", choices=ENHANCE_PRESETS, default="full",
                   help="H: full (DF3 + WPE + noise), separation (DF3 only), clean (identity)")
    p.add_argument("--noise-std", type=float, default=None, help="Gaussian noise std added after H (default 1e-3)")
    p.add_argument("--window-s", type=float, default=2.56)
    p.add_argument("--clip-s", type=float, default=10.0)
    p.add_argument("--pairs-per-clip", type=int, default=2)
    p.add_argument("--image-px", type=int, default=224)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--prepare-workers", type=int, default=1, help="processes for prepare (DF is ~7x real time each)")


def _add_stage_args(p: argparse.ArgumentParser, with_steps: bool = True) -> None:
    p.add_argument("--data", required=True, metavar="DIR",
                   help="a corpus folder with a prepared cache, the cache, or a scene-pairs bank")
    p.add_argument("--formulation", choices=("full", "residual"), default=None,
                   help="what the model renders: the whole scene (the paper) or only the scene's reverb and "
                        "ambience (default: residual on a scene-pairs bank, full on a pretext cache)")
    p.add_argument("--init", metavar="DIR", default=None,
                   help="start from the matching weights of this stylizer package (fine-tuning)")
    p.add_argument("--size", choices=("tiny", "small", "paper"), default="tiny")
    if with_steps:
        p.add_argument("--steps", type=int, required=True, help="total optimiser steps (resume continues to this)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: one GPU per process)")
    p.add_argument("--batch", type=int, default=8, help="batch size per process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--condition", choices=("audio", "visual", "audio-visual"), default=None,
                   help="default: audio-visual when the data has pictures, else audio")
    p.add_argument("--crop-frames", type=int, default=None, help="VAE/vocoder random crop (mel frames)")
    p.add_argument("--disc-start", type=int, default=None, help="VAE step where the GAN terms start")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def register(subparsers) -> None:
    """Add `train` and its sub-commands to an argparse subparsers object."""
    train = subparsers.add_parser("train", help="train the soundscape stylizer (corpus, prepare, stages)")
    sub = train.add_subparsers(dest="train_command", required=True)

    p = sub.add_parser("corpus", help="render a synthetic corpus of long scene recordings")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--recordings", type=int, required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--seed", type=int, default=0, help="0 <= seed < 1,000,000")
    p.add_argument("--split", choices=("train", "heldout"), default="train",
                   help="heldout draws scenes from a disjoint seed range")
    p.add_argument("--no-images", action="store_true")
    p.add_argument("--workers", type=int, default=1)

    p = sub.add_parser("prepare", help="cut pretext pairs, run enhancement H once, write safetensors shards")
    p.add_argument("--data", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    _add_prepare_args(p)

    for name in STAGE_COMMANDS:
        p = sub.add_parser(name, help=f"train the {name} stage")
        _add_stage_args(p)
        if name == "ldm":
            p.add_argument("--vae", metavar="DIR", default=None,
                           help="trained VAE package (default: OUT/../vae/model)")

    p = sub.add_parser("all", help="prepare if needed, train vae -> vocoder -> ldm, write OUT/stylizer")
    _add_stage_args(p)
    p.add_argument("--vae-steps", type=int, default=None)
    p.add_argument("--vocoder-steps", type=int, default=None)
    p.add_argument("--ldm-steps", type=int, default=None)
    _add_prepare_args(p)

    p = sub.add_parser("scene-pairs", help="render the bank of rooms, voices and beds that supervised "
                                           "dry -> scene pairs are drawn from on the fly (resumable)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--rooms", type=int, default=800, help="simulated rooms (default 800, 2 microphones each)")
    p.add_argument("--talkers", type=int, default=200, help="synthetic talkers (default 200, 6 lines each)")
    p.add_argument("--split", choices=("train", "heldout"), default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")

    p = sub.add_parser("calibrate", help="measure a residual package's stem levels on held-back scene pairs "
                                         "and write the package with them")
    p.add_argument("--package", required=True, metavar="DIR", help="a residual stylizer package")
    p.add_argument("--data", required=True, metavar="BANK", help="the scene-pairs bank it was trained on")
    p.add_argument("--out", required=True, metavar="DIR", help="where the calibrated package goes")
    p.add_argument("--examples", type=int, default=24, help="held-back pairs to measure (default 24)")

    p = sub.add_parser("scene-corpus", help="render the scene estimator's corpus (features + truth per room; resumable)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--rooms", type=int, default=5000, help="simulated rooms (default 5000)")
    p.add_argument("--references-per-mic", type=int, default=2, metavar="N",
                   help="references heard at each of a room's 2 microphone positions (default 2)")
    p.add_argument("--split", choices=("train", "heldout"), default="train",
                   help="heldout: held-out room families, voices and ambiences (default train)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")

    p = sub.add_parser("scene", help="train the learned scene estimator on scene-corpus folders")
    p.add_argument("--data", required=True, action="append", metavar="DIR", help="a scene-corpus folder (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=2500, help="total optimiser steps; --resume continues to this (default 2500)")
    p.add_argument("--batch", type=int, default=32, help="references per step (default 32)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--init", metavar="PACKAGE", default=None,
                   help="start from a scene-estimator package (e.g. engine/scene/checkpoints/scene-estimator) "
                        "with a fresh optimiser and schedule")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p = sub.add_parser("picture", help="train the audio-driven picture stylizer (engine.visual) on a folder of "
                                       "videos or image + sound pairs (resumable)")
    p.add_argument("--data", required=True, metavar="DIR", help="videos with sound, or same-stem image + sound files")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=1000, help="total optimiser steps; --resume continues to this")
    p.add_argument("--batch", type=int, default=4, help="pairs per step (default 4)")
    p.add_argument("--image-px", type=int, default=128, help="training resolution (default 128, a multiple of 4)")
    p.add_argument("--conditioner", choices=("audio", "label"), default="audio",
                   help="audio (the method) or label (the one-hot baseline; needs meta.json labels)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--init", metavar="PACKAGE", default=None,
                   help="start the generator from a stylizer package (e.g. the shipped roomtone-picture); the "
                        "discriminator starts fresh")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("picture-data", help="render the procedural audio-visual set (picture and sound share a factor)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--examples", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomtone")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    cmd = args.train_command
    if cmd == "corpus":
        return _corpus(args)
    if cmd == "prepare":
        _prepare(args, Path(args.data))
        return 0
    if cmd in STAGE_COMMANDS:
        return _stage(args, cmd, args.steps, Path(args.out))
    if cmd == "all":
        return _all(args)
    if cmd == "scene-pairs":
        from engine.train.scene_pairs import BankConfig, build_bank

        build_bank(args.out, BankConfig(rooms=args.rooms, talkers=args.talkers, split=args.split, seed=args.seed),
                   workers=args.workers, log=_log)
        return 0
    if cmd == "calibrate":
        from engine.train.calibrate import calibrate_package

        ident, gains = calibrate_package(args.package, args.data, args.out, examples=args.examples)
        _log(f"stem gains {dict(zip(('reverb', 'ambience'), gains))} dB; package {ident[:12]} written to {args.out}")
        return 0
    if cmd == "scene-corpus":
        from engine.train.scene_corpus import SceneCorpusConfig, render_scene_corpus

        render_scene_corpus(args.out, SceneCorpusConfig(rooms=args.rooms, split=args.split, seed=args.seed,
                                                              references_per_mic=args.references_per_mic),
                            workers=args.workers, log=_log)
        return 0
    if cmd == "scene":
        from engine.train.scene_train import SceneTrainConfig, train_scene_estimator

        config = SceneTrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads)
        train_scene_estimator(args.data, args.out, config, resume=args.resume, init=args.init)
        return 0
    if cmd == "picture":
        import torch

        from engine.visual.model import VisualConfig
        from engine.visual.train import PictureTrainConfig, train_picture

        torch.set_num_threads(args.threads)
        config = PictureTrainConfig(steps=args.steps, batch_size=args.batch, seed=args.seed, ckpt_every=args.ckpt_every,
                                    init_from=args.init,
                                    model=VisualConfig(image_px=args.image_px, conditioner=args.conditioner))
        last = train_picture(args.data, args.out, config, resume=args.resume, log=_log)
        _log(f"picture: done, last {last}; package in {Path(args.out) / 'model'}")
        return 0
    if cmd == "picture-data":
        from engine.visual.procedural import render_procedural_set

        _log(f"wrote {args.examples} pairs to {render_procedural_set(args.out, args.examples, args.seed)}")
        return 0
    raise ValueError(f"unknown train command {cmd!r}")


def _corpus(args: argparse.Namespace) -> int:
    from engine.train.corpus import CorpusConfig, write_corpus

    config = CorpusConfig(recordings=args.recordings, minutes=args.minutes, seed=args.seed, split=args.split,
                          images=not args.no_images)
    t = time.perf_counter()
    path = write_corpus(config, args.out, workers=args.workers)
    _log(f"wrote {args.recordings} recordings x {args.minutes} min to {path.parent} in {time.perf_counter() - t:.1f} s")
    return 0


def _prepare_config(args: argparse.Namespace):
    from engine.train.enhance import EnhanceConfig
    from engine.train.prepare import PrepareConfig

    enh = {"full": EnhanceConfig(), "separation": EnhanceConfig.separation_only(), "clean": EnhanceConfig.clean()}
    enhance = enh[args.enhance]
    if args.noise_std is not None:
        enhance = replace(enhance, noise_std=args.noise_std)
    return PrepareConfig(window_s=args.window_s, clip_s=args.clip_s, pairs_per_clip=args.pairs_per_clip,
                         image_px=args.image_px, val_fraction=args.val_fraction, seed=args.seed, enhance=enhance)


def _prepare(args: argparse.Namespace, data: Path) -> Path:
    from engine.train.prepare import prepare_cache

    t = time.perf_counter()
    cache = prepare_cache(data, _prepare_config(args), args.cache, workers=args.prepare_workers, log=_log)
    _log(f"cache ready at {cache} in {time.perf_counter() - t:.1f} s")
    return cache


def _stage(args: argparse.Namespace, name: str, steps: int, out: Path, vae_dir: Path | None = None,
           context=None) -> int:
    """One stage; ``context`` = (dist, device) when the caller already set up the processes."""
    import torch

    from engine.train import distributed
    from engine.train.dataset import PairCache
    from engine.train.loop import run_stage
    from engine.train.prepare import find_cache
    from engine.train.scene_pairs import is_bank
    from engine.train.stages import TrainConfig, build_stage

    if args.threads:
        torch.set_num_threads(args.threads)
    dist, device = context if context is not None else distributed.setup(args.device)
    try:
        bank = is_bank(args.data)
        if bank:
            train, val = _bank_data(args)
            mode = args.condition or "audio-visual"
        else:
            cache = find_cache(args.data)
            probe = PairCache(cache, "train")
            mode = args.condition or ("audio-visual" if probe.with_images else "audio")
        formulation = args.formulation or ("residual" if bank else "full")
        if formulation == "residual" and not bank:
            raise SystemExit("roomtone train: the residual formulation trains on a scene-pairs bank (its stems are "
                             "exact there); a pretext cache has only the whole recording. Pass --formulation full.")
        kw = {"formulation": formulation}
        if args.crop_frames is not None:
            kw["crop_frames"] = args.crop_frames
        if args.disc_start is not None:
            kw["disc_start_step"] = args.disc_start
        if getattr(args, "init", None):
            kw["init_from"] = str(args.init)
        config = TrainConfig(stage=name, size=args.size, steps=steps, batch_size=args.batch, seed=args.seed,
                             condition_mode=mode, log_every=args.log_every, val_every=args.val_every,
                             ckpt_every=args.ckpt_every, workers=args.workers, **kw)
        image_px = config.model_config().condition.image_size_px
        if not bank:
            train, val = PairCache(cache, "train", image_px), PairCache(cache, "val", image_px)
        if name == "ldm" and vae_dir is None:
            vae_dir = Path(args.vae) if getattr(args, "vae", None) else out.parent / "vae" / "model"
        stage = build_stage(config, device, vae_dir)
        t = time.perf_counter()
        last = run_stage(stage, train, val, out, resume=args.resume, dist=dist, log=_log)
        if dist.is_main:
            _log(f"{name}: done in {time.perf_counter() - t:.1f} s, last {last}")
    finally:
        if context is None:
            distributed.teardown(dist)
    return 0


VAL_EXAMPLES = 32


def _bank_data(args: argparse.Namespace):
    """(train, val) over a bank: the same rooms and voices, validation from another seed's draws."""
    from engine.train.scene_pairs import PairConfig, SceneBank, ScenePairs

    bank = SceneBank(args.data)
    return ScenePairs(bank, PairConfig(seed=args.seed)), ScenePairs(bank, PairConfig(seed=args.seed + 7919,
                                                                                    examples=VAL_EXAMPLES))


def _all(args: argparse.Namespace) -> int:
    from engine.train import distributed
    from engine.train.package import assemble_stylizer
    from engine.train.prepare import find_cache
    from engine.train.scene_pairs import is_bank

    out = Path(args.out)
    dist, device = distributed.setup(args.device)
    try:
        if dist.is_main and not is_bank(args.data):
            try:
                find_cache(args.data)
            except FileNotFoundError:
                _prepare(args, Path(args.data))
        distributed.barrier(dist)
        steps = {"vae": args.vae_steps, "vocoder": args.vocoder_steps, "ldm": args.ldm_steps}
        for name in STAGE_COMMANDS:
            _stage(args, name, steps[name] if steps[name] is not None else args.steps, out / name,
                   vae_dir=out / "vae" / "model" if name == "ldm" else None, context=(dist, device))
        if dist.is_main:
            ident = assemble_stylizer(out / "vae" / "model", out / "vocoder" / "model", out / "ldm" / "model",
                                      out / "stylizer")
            _log(f"stylizer package {ident[:12]} written to {out / 'stylizer'}")
    finally:
        distributed.teardown(dist)
    return 0
