"""`roomtone train all` on a tiny corpus -> a package engine.diffusion loads and samples from."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from engine.diffusion import Stylizer, StylizerPipeline, load_checkpoint
from engine.train.cli import main, register
from engine.train.dataset import PairCache


def test_train_all_writes_a_package_the_pipeline_samples_from(tiny_cache, tmp_path):
    out = tmp_path / "run"
    rc = main(["train", "all", "--data", str(tiny_cache), "--out", str(out), "--steps", "2", "--batch", "2",
               "--log-every", "1", "--val-every", "2"])
    assert rc == 0
    for stage in ("vae", "vocoder", "ldm"):
        records = [json.loads(line) for line in (out / stage / "log.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records if r["split"] == "train"] == [1, 2]
        assert any(r["split"] == "val" for r in records)
    model, config = load_checkpoint(out / "stylizer")
    assert isinstance(model, Stylizer) and config.condition.mode == "audio-visual"
    assert config.vae.latent_scale != 1.0  # measured from the trained VAE
    assert config.vae.latent_clip is not None and 0.5 < config.vae.latent_clip < 20.0  # ~3.5 for unit-variance latents

    data = PairCache(tiny_cache, "val", image_px=config.condition.image_size_px)
    batch = data.batch([0])
    pipe = StylizerPipeline.from_stylizer(model)
    tokens = pipe.encode_condition(hint_wave=batch["condition"], hint_image=batch["image"])
    result = pipe(batch["enhanced"], tokens, steps=2, seed=0)
    assert result.wave.shape == batch["enhanced"].shape and bool(torch.isfinite(result.wave).all())


def test_corpus_command_and_registration(tmp_path):
    assert main(["train", "corpus", "--out", str(tmp_path / "c"), "--recordings", "1", "--minutes", "0.05",
                 "--no-images"]) == 0
    assert (tmp_path / "c" / "corpus.json").is_file() and (tmp_path / "c" / "rec_00000.flac").is_file()
    parser = argparse.ArgumentParser(prog="roomtone")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "ldm", "--data", "D", "--steps", "5", "--out", "O", "--device", "cuda",
                              "--batch", "4", "--resume", "--size", "small"])
    assert (args.train_command, args.steps, args.device, args.batch, args.resume, args.size) == \
        ("ldm", 5, "cuda", 4, True, "small")
    assert callable(args.func)


def test_scene_commands_pass_their_options_on(tmp_path):
    """--references-per-mic reaches the corpus (its corpus.json records the config it is a function
    of), and --init is parsed for `train scene`."""
    from engine.kit.speech import espeak_available

    parser = argparse.ArgumentParser(prog="roomtone")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "scene", "--data", "D", "--out", "O", "--init", "P", "--lr", "5e-4"])
    assert (args.init, args.lr, args.resume) == ("P", 5e-4, False)
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (the corpus voices)")
    assert main(["train", "scene-corpus", "--out", str(tmp_path / "c"), "--rooms", "1", "--references-per-mic", "1",
                 "--workers", "1"]) == 0
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["references_per_mic"] == 1
    with np.load(tmp_path / "c" / "room-000000.npz") as z:
        assert z["lengths"].size == 2  # 2 microphone positions x 1 reference
