"""A tiny jittered stylizer saved as a checkpoint package, and its ONNX export, shared per module."""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import Stylizer, StylizerConfig, save_checkpoint

from tests.diffusion.conftest import jitter_, one_thread  # noqa: F401  (autouse here too)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """(path, model, checkpoint id) of a tiny audio-visual stylizer with non-trivial weights."""
    torch.manual_seed(0)
    config = StylizerConfig.named("tiny")
    model = jitter_(Stylizer(config), seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    return path, model, save_checkpoint(model, config, path)


@pytest.fixture(scope="session")
def onnx_dir(tiny_checkpoint, tmp_path_factory):
    from engine.runtime.onnx_export import export_onnx

    _, model, ident = tiny_checkpoint
    out = tmp_path_factory.mktemp("onnx") / "export"
    export_onnx(model, ident, out)
    return out
