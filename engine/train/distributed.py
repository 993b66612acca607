"""torchrun-compatible process setup: DDP when WORLD_SIZE > 1, a plain single process otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> tuple[Dist, torch.device]:
    """Read torchrun's env vars; init NCCL (cuda) or gloo (cpu) when there are several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dist = Dist(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda but no CUDA device is visible")
        torch.cuda.set_device(dist.local_rank)
        dev = torch.device("cuda", dist.local_rank)
    else:
        dev = torch.device(device)
    if dist.enabled and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist, dev


def wrapper(dist: Dist, device: torch.device):
    """The function stages use to wrap their trained networks: DDP or identity."""
    if not dist.enabled:
        return lambda module: module

    def wrap(module: nn.Module) -> nn.Module:
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    return wrap


def barrier(dist: Dist) -> None:
    if dist.enabled:
        torch.distributed.barrier()


def teardown(dist: Dist) -> None:
    if dist.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
