"""Resumable training state without pickle: tensors in safetensors, everything else in JSON.

A state folder holds::

    modules.safetensors     "<module>.<param>" for every trained network (and frozen ones the stage needs)
    optimizers.safetensors  "<optimizer>/<param index>/<key>" for every tensor of optimizer state
    state.json              step, configs, optimizer param_groups and non-tensor state, stage extras

It is written to ``<name>.tmp`` and renamed over ``<name>``, so a crash mid-save leaves the
previous state intact. The step-indexed RNG (``dataset.step_generator``) means no RNG state
needs saving: the step number alone fixes every random draw after it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

STATE_JSON = "state.json"
MODULES_FILE = "modules.safetensors"
OPTIMIZERS_FILE = "optimizers.safetensors"


def _optimizer_split(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"{name}/{idx}/{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars,
                     "indices": [int(i) for i in sd["state"]]}


def save_state(directory: str | Path, step: int, modules: dict[str, nn.Module],
               optimizers: dict[str, torch.optim.Optimizer], extra: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    final = Path(directory)
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    weights = {f"{m}.{k}": v.detach().to("cpu").contiguous()
               for m, module in modules.items() for k, v in module.state_dict().items()}
    save_file(weights, str(tmp / MODULES_FILE))
    opt_tensors: dict[str, Tensor] = {}
    opt_json: dict[str, Any] = {}
    for name, opt in optimizers.items():
        t, j = _optimizer_split(name, opt)
        opt_tensors.update(t)
        opt_json[name] = j
    save_file(opt_tensors, str(tmp / OPTIMIZERS_FILE))
    (tmp / STATE_JSON).write_text(json.dumps({"format": "roomtone.train.state", "version": 1, "step": step,
                                              "optimizers": opt_json, "extra": extra}, indent=2) + "\n",
                                  encoding="utf-8")
    old = final.with_name(final.name + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def has_state(directory: str | Path) -> bool:
    return (Path(directory) / STATE_JSON).is_file()


def load_state(directory: str | Path, modules: dict[str, nn.Module],
               optimizers: dict[str, torch.optim.Optimizer]) -> tuple[int, dict[str, Any]]:
    """Load weights and optimizer state in place; returns (step, extra)."""
    from safetensors.torch import load_file

    d = Path(directory)
    meta = json.loads((d / STATE_JSON).read_text(encoding="utf-8"))
    weights = load_file(str(d / MODULES_FILE))
    for m, module in modules.items():
        prefix = m + "."
        module.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}, strict=True)
    opt_tensors = load_file(str(d / OPTIMIZERS_FILE))
    for name, opt in optimizers.items():
        j = meta["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        for idx in j["indices"]:
            entry: dict[str, Any] = dict(j["scalars"].get(str(idx), {}))
            prefix = f"{name}/{idx}/"
            entry.update({k[len(prefix):]: v for k, v in opt_tensors.items() if k.startswith(prefix)})
            state[int(idx)] = entry
        opt.load_state_dict({"state": state, "param_groups": j["param_groups"]})
    return int(meta["step"]), meta["extra"]
