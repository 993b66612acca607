"""The training loop shared by all stages: batches by step, JSONL logs, validation, resumable state.

Output folder of a stage::

    log.jsonl     one JSON object per logged step ({"step", "split": "train"|"val", losses..., "steps_per_s"})
    state/        resumable state (engine.train.state), rewritten every ckpt_every steps and at the end
    model/        the trained networks as engine.diffusion packages (written at the end)
    config.json   the TrainConfig of the run
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader

from engine.train import distributed
from engine.train.dataset import PairCache, StepBatchSampler, batch_indices, collate
from engine.train.stages import Stage
from engine.train.state import has_state, load_state, save_state

LOG_FILE = "log.jsonl"


def _trim_log(path: Path, last_step: int) -> None:
    """On resume, drop log lines past the resumed step so the log reads as one run."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def _step_seed(seed: int, step: int) -> int:
    return (seed * 7_919 + step) % (2**63 - 1)


def run_stage(stage: Stage, train: PairCache, val: PairCache | None, out_dir: str | Path, *, resume: bool = False,
              dist: distributed.Dist = distributed.Dist(), log: Callable[[str], None] | None = None) -> dict:
    """Train ``stage`` up to ``stage.config.steps`` total steps; returns the last logged losses."""
    c = stage.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_dir, log_path = out / "state", out / LOG_FILE
    start = 0
    if has_state(state_dir):
        if not resume:
            raise FileExistsError(f"{out} already holds a training state; pass --resume or choose another --out")
        start, extra = load_state(state_dir, stage.modules, stage.optimizers)
        stage.extra.update(extra)
        if dist.is_main:
            _trim_log(log_path, start)
    else:
        if dist.is_main and log_path.exists():
            log_path.unlink()
        stage.prepare(lambda k: train.batch(batch_indices(len(train), c.batch_size, c.seed + 1, k)))
    stage.distribute(distributed.wrapper(dist, stage.device))
    if dist.is_main:
        (out / "config.json").write_text(json.dumps(c.to_dict(), indent=2) + "\n", encoding="utf-8")

    sampler = StepBatchSampler(len(train), c.batch_size, c.seed, start, c.steps, dist.rank, dist.world_size)
    loader = DataLoader(train, batch_sampler=sampler, num_workers=c.workers, collate_fn=collate,
                        pin_memory=stage.device.type == "cuda", persistent_workers=False)
    last: dict = {}
    t0, logged_at = time.perf_counter(), start
    with log_path.open("a", encoding="utf-8") as logf:
        def write(record: dict) -> None:
            if dist.is_main:
                logf.write(json.dumps(record) + "\n")
                logf.flush()

        for step, batch in zip(range(start, c.steps), loader):
            torch.manual_seed(_step_seed(c.seed, step))  # dropout and anything else on the global RNG
            losses = stage.train_step(batch, step)
            if not all(math.isfinite(v) for v in losses.values()):
                raise FloatingPointError(f"step {step}: non-finite loss {losses}")
            done = step + 1
            if done % c.log_every == 0 or done == c.steps or step == start:
                losses = _mean_over_ranks(losses, dist, stage.device)
                now = time.perf_counter()
                rate = (done - logged_at) / max(now - t0, 1e-9)
                t0, logged_at = now, done
                last = {"step": done, "split": "train", **losses, "steps_per_s": round(rate, 4)}
                write(last)
                if log and dist.is_main:
                    log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
            if val is not None and len(val) and (done % c.val_every == 0 or done == c.steps):
                record = {"step": done, "split": "val", **validate(stage, val)}
                write(record)
                if log and dist.is_main:
                    log(f"validation {record}")
            if done % c.ckpt_every == 0 or done == c.steps:
                if dist.is_main:
                    save_state(state_dir, done, stage.modules, stage.optimizers, stage.extra)
                distributed.barrier(dist)
    if dist.is_main:
        stage.export(out / "model")
    distributed.barrier(dist)
    return last


def _mean_over_ranks(losses: dict[str, float], dist: distributed.Dist, device: torch.device) -> dict[str, float]:
    """Logged losses are the mean over DDP ranks (every rank logs on the same steps, so this is safe)."""
    if not dist.enabled:
        return losses
    keys = sorted(losses)
    t = torch.tensor([losses[k] for k in keys], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return {k: float(v) / dist.world_size for k, v in zip(keys, t.tolist())}


@torch.no_grad()
def validate(stage: Stage, val: PairCache) -> dict[str, float]:
    """Mean losses over up to ``val_batches`` fixed batches (the first examples, in order)."""
    c = stage.config
    sums: dict[str, float] = {}
    n = 0
    for k in range(c.val_batches):
        idx = list(range(k * c.batch_size, min(len(val), (k + 1) * c.batch_size)))
        if not idx:
            break
        for key, v in stage.validate_step(val.batch(idx), k).items():
            sums[key] = sums.get(key, 0.0) + v
        n += 1
    return {k: v / max(n, 1) for k, v in sums.items()}
