"""Checkpoint packages: config.json + weights.safetensors round trip, ids, and refusal of bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.diffusion import (CheckpointError, ConditionEncoderConfig, DiffusionConfig, LatentUNet, MelConfig,
                              Stylizer, StylizerConfig, StylizerPipeline, UNetConfig, VAEConfig, VocoderConfig,
                              load_checkpoint, read_manifest, save_checkpoint)

from .conftest import jitter_


@pytest.mark.parametrize("size", ["tiny", "small", "paper"])
def test_configs_round_trip_through_json(size: str) -> None:
    config = StylizerConfig.named(size)
    assert StylizerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for cls in (MelConfig, VAEConfig, ConditionEncoderConfig, UNetConfig, VocoderConfig, DiffusionConfig):
        part = cls.named(size)
        assert cls.from_dict(json.loads(json.dumps(part.to_dict()))) == part


def test_named_rejects_unknown_sizes_and_configs_are_frozen() -> None:
    with pytest.raises(ValueError, match="size"):
        StylizerConfig.named("huge")
    with pytest.raises(Exception):
        UNetConfig().base_channels = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="context_dim"):
        StylizerConfig(unet=UNetConfig(context_dim=32))


def test_stylizer_package_round_trip_gives_identical_outputs(tiny_model: Stylizer, tmp_path: Path) -> None:
    ident = save_checkpoint(tiny_model, tiny_model.config, tmp_path / "pkg")
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["config.json", "weights.safetensors"]
    manifest = read_manifest(tmp_path / "pkg")
    assert manifest["version"] == 1 and manifest["checkpoint_id"] == ident and manifest["model"] == "Stylizer"

    loaded, config = load_checkpoint(tmp_path / "pkg")
    assert config == tiny_model.config and isinstance(loaded, Stylizer)
    g = torch.Generator().manual_seed(0)
    enhanced = torch.randn(1, 8, 16, 6, generator=g)
    condition = torch.randn(1, 4, config.unet.context_dim, generator=g)
    outs = [StylizerPipeline.from_stylizer(m)(enhanced_latent=enhanced, condition=condition, steps=2, seed=3)
            for m in (tiny_model, loaded)]
    assert torch.equal(outs[0].wave, outs[1].wave)
    assert save_checkpoint(loaded, config, tmp_path / "again") == ident  # the id names the weights


def test_id_changes_with_the_weights_and_corruption_is_caught(tmp_path: Path) -> None:
    unet = jitter_(LatentUNet(UNetConfig.named("tiny")))
    ident = save_checkpoint(unet, unet.config, tmp_path / "a")
    with torch.no_grad():
        unet.conv_out.bias.add_(1e-3)
    assert save_checkpoint(unet, unet.config, tmp_path / "b") != ident

    weights = tmp_path / "a" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checkpoint_id"):
        load_checkpoint(tmp_path / "a")


def test_bad_packages_are_refused(tmp_path: Path) -> None:
    unet = LatentUNet(UNetConfig.named("tiny"))
    with pytest.raises(CheckpointError, match="needs a UNetConfig"):
        save_checkpoint(unet, VAEConfig(), tmp_path / "x")
    with pytest.raises(CheckpointError, match="config does not match"):
        save_checkpoint(unet, UNetConfig(base_channels=16), tmp_path / "x")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "missing")
    save_checkpoint(unet, unet.config, tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "config.json").read_text())
    (tmp_path / "p" / "config.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "p")
    (tmp_path / "p" / "config.json").write_text(json.dumps({**manifest, "model": "os.system"}))
    with pytest.raises(CheckpointError, match="unknown model"):
        load_checkpoint(tmp_path / "p")
