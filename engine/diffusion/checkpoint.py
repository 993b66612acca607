"""Checkpoint packages: a folder with config.json + weights.safetensors, never a pickle.

A package rebuilds its model from the config alone, so loading runs no code from the file.
The checkpoint id is a SHA-256 over tensor names, dtypes, shapes and bytes: it names the
weights (two saves of the same weights get the same id) and detects corruption on load.

config.json::

    {"format": "roomtone.diffusion", "version": 1, "model": "Stylizer",
     "config_type": "StylizerConfig", "config": {...}, "checkpoint_id": "<sha256 hex>"}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engine.diffusion.config import ConditionEncoderConfig, StylizerConfig, UNetConfig, VAEConfig, VocoderConfig, \
    _Config
from engine.diffusion.models.encoders import ConditionEncoder
from engine.diffusion.models.stylizer import Stylizer
from engine.diffusion.models.unet import LatentUNet
from engine.diffusion.models.vae import MelVAE, PatchDiscriminator
from engine.diffusion.models.vocoder import VocosVocoder
from engine.errors import RoomtoneError

FORMAT = "roomtone.diffusion"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"

# model class name -> (class, config class). Only these can be loaded: the file names a kind, never code.
MODELS: dict[str, tuple[type[nn.Module], type[_Config]]] = {
    "Stylizer": (Stylizer, StylizerConfig),
    "MelVAE": (MelVAE, VAEConfig),
    "PatchDiscriminator": (PatchDiscriminator, VAEConfig),
    "LatentUNet": (LatentUNet, UNetConfig),
    "ConditionEncoder": (ConditionEncoder, ConditionEncoderConfig),
    "VocosVocoder": (VocosVocoder, VocoderConfig),
}


class CheckpointError(RoomtoneError, ValueError):
    """A checkpoint folder is missing, from a newer version, inconsistent or corrupted."""


def checkpoint_id(state_dict: dict[str, Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _model_kind(model: nn.Module, config: _Config) -> str:
    name = type(model).__name__
    if name not in MODELS or not isinstance(model, MODELS[name][0]):
        raise CheckpointError(f"cannot package a {name}; known models: {sorted(MODELS)}")
    if not isinstance(config, MODELS[name][1]):
        raise CheckpointError(f"{name} needs a {MODELS[name][1].__name__}, got {type(config).__name__}")
    if getattr(model, "config", config) != config:
        raise CheckpointError(f"config does not match the one {name} was built with")
    return name


def save_checkpoint(model: nn.Module, config: _Config, directory: str | Path) -> str:
    """Write the package and return its checkpoint id. config.json is written last, so a folder
    with a config.json is complete."""
    from safetensors.torch import save_file

    kind = _model_kind(model, config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    ident = checkpoint_id(state)
    weights_tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(weights_tmp), metadata={"format": FORMAT, "version": str(VERSION), "checkpoint_id": ident})
    os.replace(weights_tmp, directory / WEIGHTS_FILE)
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": kind,
                                "config_type": type(config).__name__, "config": config.to_dict(),
                                "checkpoint_id": ident}
    config_tmp = directory / (CONFIG_FILE + ".tmp")
    config_tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(config_tmp, directory / CONFIG_FILE)
    return ident


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """config.json, validated; cheap (reads no weights), for listing packages."""
    path = Path(directory) / CONFIG_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not a checkpoint package (no {CONFIG_FILE})") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} package")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: package version {version!r} is newer than this Roomtone reads ({VERSION})")
    kind = manifest.get("model")
    if kind not in MODELS or manifest.get("config_type") != MODELS[kind][1].__name__:
        raise CheckpointError(f"{path}: unknown model {kind!r} / config {manifest.get('config_type')!r}")
    return manifest


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu",
                    verify: bool = True) -> tuple[nn.Module, _Config]:
    """Rebuild (model, config) from a package; the model is in eval mode on ``device``."""
    return _build(Path(directory), read_manifest(directory), device, verify)


def load_stylizer(checkpoint_dir: str | Path, device: str | torch.device = "cpu"):
    """(Stylizer, StylizerConfig, checkpoint id) from a Stylizer package, its manifest read once.

    Not cached: engine.runtime.select.MODELS is the one cache of loaded models."""
    directory = Path(checkpoint_dir).resolve()
    manifest = read_manifest(directory)
    if manifest["model"] != "Stylizer":
        raise RoomtoneError(f"{directory}: a {manifest['model']} package, not a Stylizer")
    model, config = _build(directory, manifest, device, verify=True)
    return model, config, manifest["checkpoint_id"]


def _build(directory: Path, manifest: dict[str, Any], device: str | torch.device,
           verify: bool) -> tuple[nn.Module, _Config]:
    from safetensors.torch import load_file

    model_cls, config_cls = MODELS[manifest["model"]]
    try:
        config = config_cls.from_dict(manifest["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}: bad config ({exc})") from None
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    state = load_file(str(weights), device="cpu")
    if verify and checkpoint_id(state) != manifest.get("checkpoint_id"):
        raise CheckpointError(f"{weights}: weights do not match checkpoint_id (corrupted or edited)")
    model = model_cls(config)  # type: ignore[call-arg]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not fit the config ({exc})") from None
    return model.to(device).eval(), config


# -- where the product finds its checkpoint --------------------------------------------------------

CHECKPOINT_ENV = "ROOMTONE_CHECKPOINT"
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "roomtone-residual"
# The paper's full-signal formulation, kept so the two are compared on the same evaluation.
FULL_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "roomtone-tiny"


def available_checkpoint() -> Path | None:
    """$ROOMTONE_CHECKPOINT when set (and a package), else the shipped checkpoints/roomtone-residual, else None."""
    env = os.environ.get(CHECKPOINT_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(SHIPPED_CHECKPOINT)
    for path in candidates:
        try:
            read_manifest(path)
        except RoomtoneError:
            continue
        return path
    return None


def require_checkpoint(checkpoint_dir: str | Path | None = None, remedy: str = "use --engine match") -> Path:
    """``checkpoint_dir``, else the available package; the one "no checkpoint" error, with ``remedy``."""
    path = Path(checkpoint_dir) if checkpoint_dir is not None else available_checkpoint()
    if path is None:
        raise RoomtoneError(f"the diffusion engine needs a trained checkpoint: none is shipped with this build and "
                            f"${CHECKPOINT_ENV} is not set to one; {remedy}")
    return path


def diffusion_available() -> bool:
    return available_checkpoint() is not None


def checkpoint_formulation(checkpoint_dir: str | Path | None = None) -> str | None:
    """"full" or "residual" for a package (default: the available one), None when there is none.
    Cheap (reads config.json only), so the level stage can ask before any model is loaded."""
    path = checkpoint_dir if checkpoint_dir is not None else available_checkpoint()
    if path is None:
        return None
    return str(read_manifest(path)["config"].get("formulation", "full"))
