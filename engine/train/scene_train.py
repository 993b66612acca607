"""Training loop of the scene estimator: random crops of cached band levels, beta-NLL, resumable.

Crops of 4 s up to the whole reference teach the network every length a user gives; each batch
shares one crop length so it stacks without padding. Targets are standardised with the training
corpus' statistics (stored in the package, so estimates come back in physical units). The loss is
the beta-NLL of Seitzer et al. (2022): a Gaussian NLL whose per-sample weight is the predicted
variance to the power beta, so hard examples are not simply given up as "uncertain". State is
saved with ``engine.train.state`` (no pickle) every ``ckpt_every`` steps; ``resume`` continues.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

MIN_CROP_FRAMES = 400  # 4 s at the feature hop
MAX_CROP_FRAMES = 2000  # 20 s
VAL_CROP_FRAMES = 1200  # 12 s, the bench's reference length


@dataclass(frozen=True)
class SceneTrainConfig:
    steps: int = 6000
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    beta: float = 0.5
    val_fraction: float = 0.04
    seed: int = 0
    ckpt_every: int = 250
    log_every: int = 50
    threads: int = 2


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def target_stats(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-target mean and spread; a target with no value in the corpus gets (0, 1)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no ambience in a tiny corpus)
        mean = np.nanmean(targets, axis=0)
        std = np.nanstd(targets, axis=0)
    return np.nan_to_num(mean), np.where(np.isfinite(std) & (std > 1e-3), std, 1.0)


def _draw_batch(lengths, train_idx, batch, rng, max_frames=MAX_CROP_FRAMES):
    """(indices, crop): a crop length drawn log-uniformly over 4-20 s, then references that long.

    Drawing the batch first and cropping to its shortest member (as before) trained almost only
    on 4-6 s crops, since 32 references of 5-20 s nearly always include a short one, while users
    give 12-60 s: the network never learnt to pool evidence over a long reference.
    """
    longest = int(lengths[train_idx].max())
    lo, hi = min(MIN_CROP_FRAMES, longest), min(max_frames, longest)
    crop = int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))
    pool = train_idx[lengths[train_idx] >= crop]
    return rng.choice(pool, size=min(batch, pool.size), replace=False), crop


def _batch(feats, targets, idx, rng, mean, std, crop):
    import torch

    from engine.scene.features import normalise_levels

    xs = []
    for i in idx:
        n = feats[i].shape[0]
        s = int(rng.integers(0, n - crop + 1))
        xs.append(normalise_levels(feats[i][s : s + crop].astype(np.float32)).T)
    y = (targets[idx] - mean) / std
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(y.astype(np.float32))


def beta_nll(mean, logvar, y, beta: float):
    import torch

    mask = torch.isfinite(y)
    y0 = torch.where(mask, y, torch.zeros_like(y))
    var = logvar.exp()
    nll = 0.5 * (logvar + (y0 - mean) ** 2 / var)
    if beta > 0:
        nll = nll * var.detach() ** beta
    return (nll * mask).sum() / mask.sum().clamp(min=1)


def train_scene_estimator(data: list[str | Path], out: str | Path, config: SceneTrainConfig, resume: bool = False,
                          model_config=None, init: str | Path | None = None) -> Path:
    """Train on the corpus folders in ``data``; writes OUT/state (resumable), OUT/model (package), OUT/log.jsonl.

    ``init``: a package to start from, with its architecture and its targets' normalisation, so
    step 0 computes what that package does. Its optimiser state is not kept (packages hold none):
    the run warms up and decays its own learning rate. This is how a shipped estimator goes on
    learning from a corpus of new rooms without re-rendering the one it was trained on.
    """
    import torch

    from engine.scene.estimator import EstimatorConfig, build_network, config_from_dict, save_estimator
    from engine.train.scene_corpus import load_scene_corpus, target_names
    from engine.train.state import has_state, load_state, save_state

    torch.set_num_threads(config.threads)
    names = tuple(target_names())
    start_from = _init_package(init, names) if init is not None else None  # refused before the corpus loads
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    feats, targets = [], []
    for folder in data:
        f, t, _ = load_scene_corpus(folder)
        feats += f
        targets.append(t)
    targets = np.concatenate(targets)
    lengths = np.array([f.shape[0] for f in feats])
    rng = np.random.default_rng(config.seed)
    # Validation by whole rooms would need room ids; references of one mic are consecutive, so a
    # contiguous tail block keeps most of its rooms out of training.
    n_val = max(1, int(len(feats) * config.val_fraction))
    train_idx, val_idx = np.arange(len(feats) - n_val), np.arange(len(feats) - n_val, len(feats))
    state_dir = out / "state"
    if resume and has_state(state_dir):
        meta = json.loads((state_dir / "state.json").read_text())
        mc = config_from_dict(meta["extra"]["model_config"])
    else:
        if has_state(state_dir):
            raise FileExistsError(f"{out} already holds a training state; pass --resume or choose another --out")
        if start_from is not None:
            mc = start_from.config
        else:
            mean, std = target_stats(targets[train_idx])
            mc = replace(model_config or EstimatorConfig(), targets=names,
                         target_mean=tuple(float(v) for v in mean), target_std=tuple(float(v) for v in std))
    mean, std = np.asarray(mc.target_mean), np.asarray(mc.target_std)
    net = build_network(mc)
    if start_from is not None and not (resume and has_state(state_dir)):
        net.load_state_dict(start_from.module.state_dict())
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    if resume and has_state(state_dir):
        start, _ = load_state(state_dir, {"net": net}, {"opt": opt})
        _log(f"resumed at step {start}")
    _log(f"{len(train_idx)} training and {len(val_idx)} validation references; "
         f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters")
    log_path = out / "log.jsonl"
    t0 = time.time()
    for step in range(start, config.steps):
        step_rng = np.random.default_rng([config.seed, step])
        lr = config.lr * 0.5 * (1 + math.cos(math.pi * step / config.steps)) if step > 200 else config.lr * (step + 1) / 200
        for g in opt.param_groups:
            g["lr"] = lr
        idx, crop = _draw_batch(lengths, train_idx, config.batch, step_rng)
        x, y = _batch(feats, targets, idx, step_rng, mean, std, crop)
        net.train()
        m, lv, _ = net(x)
        loss = beta_nll(m, lv, y, config.beta)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            rec = {"step": done, "loss": float(loss.detach()), "lr": lr, "s": round(time.time() - t0, 1)}
            if done % (config.log_every * 4) == 0 or done == config.steps:
                rec.update(validate(net, feats, targets, val_idx, mean, std, names))
            with log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            _log(json.dumps(rec))
        if done % config.ckpt_every == 0 or done == config.steps:
            save_state(state_dir, done, {"net": net}, {"opt": opt},
                       {"model_config": asdict(mc), "train_config": asdict(config)})
    ident = save_estimator(net, mc, out / "model")
    _log(f"wrote {out / 'model'} ({ident})")
    return out / "model"


def _init_package(init: str | Path, names: tuple[str, ...]):
    """The package a run starts from; one trained on other targets cannot continue on this corpus."""
    from engine.scene.estimator import load_estimator

    try:
        package = load_estimator(init)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    if tuple(package.config.targets) != names:
        raise ValueError(f"{init}: that estimator predicts other targets than this corpus holds; start a fresh run "
                         "(without --init) instead")
    return package


def validate(net, feats, targets, idx, mean, std, names) -> dict:
    """Median absolute error per target group in physical units, on fixed 12 s crops."""
    import torch

    rng = np.random.default_rng(1234)
    # Each reference at up to 12 s: sorted by length so a batch crops (almost) nothing it has.
    idx = np.asarray(sorted(idx, key=lambda i: feats[i].shape[0]))
    preds = []
    net.eval()
    with torch.inference_mode():
        for k in range(0, len(idx), 32):
            chunk = idx[k : k + 32]
            crop = min(VAL_CROP_FRAMES, min(feats[i].shape[0] for i in chunk))
            x, _ = _batch(feats, targets, chunk, rng, mean, std, crop)
            preds.append(net(x)[0].numpy() * std + mean)
    p = np.concatenate(preds)
    t = targets[idx]
    err = np.abs(p - t)
    groups = {"rt60_rel": [i for i, n in enumerate(names) if n.startswith("rt60")],
              "rt60_mid_rel": [names.index(f"rt60_{b}") for b in (500, 1000, 2000)], "drr_db": [names.index("drr")],
              "amb_db": [names.index("amb_to_speech")], "resp_db": [i for i, n in enumerate(names) if n.startswith("resp")]}
    out = {}
    for g, cols in groups.items():
        e = err[:, cols]
        if g.startswith("rt60"):
            e = np.abs(np.exp(p[:, cols] - t[:, cols]) - 1.0)
        out[f"val_{g}"] = round(float(np.nanmedian(e)), 4)
    return out
