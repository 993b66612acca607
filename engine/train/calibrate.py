"""Stem-level calibration of a residual stylizer, measured on held-back scene pairs.

A small, briefly trained model renders its stems at a biased level: its uncertain log-mel latents
regress towards quieter spectra, and the vocoder loses a few dB more (bench/diagnose_residual_level.py
measured the reverb 7-14 dB low on the bank's own examples). The bias is a property of the trained
package, so it is measured once after training, on examples the training run never drew (another
PairConfig seed), and stored in the package (``StylizerConfig.stem_gain_db``); the engine applies it
before the faders. The hint gets a flat grey frame, as a preset made from audio alone does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

CALIBRATION_SEED = 424242  # a PairConfig seed no training run uses (runs use --seed, default 0)


def measure_stem_bias_db(package: str | Path, bank_dir: str | Path, examples: int = 24, guidance: float = 4.5,
                         steps: int = 25) -> tuple[float, ...]:
    """Median (truth - output) level in dB of each stem over ``examples`` held-back pairs."""
    from engine.diffusion import StylizerPipeline, load_checkpoint
    from engine.diffusion.pipeline import make_sampler
    from engine.train.scene_pairs import PairConfig, SceneBank, render_example

    model, config = load_checkpoint(package)
    if config.formulation != "residual":
        raise ValueError(f"{package}: a {config.formulation} model has no stems to calibrate")
    pipe = StylizerPipeline.from_stylizer(model, make_sampler("dpmpp", config))
    bank = SceneBank(bank_dir)
    grey = torch.full((1, 3, config.condition.image_size_px, config.condition.image_size_px), 0.5)
    gaps: list[list[float]] = []
    with torch.no_grad():
        for i in range(examples):
            ex = render_example(bank, PairConfig(seed=CALIBRATION_SEED), i)
            condition = pipe.encode_condition(torch.from_numpy(ex["condition"])[None], grey)
            out = pipe(torch.from_numpy(ex["enhanced"])[None], condition, steps=steps, guidance_scale=guidance,
                       seed=i).wave[0].numpy()
            gaps.append([_db(ex[name]) - _db(out[k]) for k, name in enumerate(config.stem_names)])
    return tuple(round(float(v), 2) for v in np.median(np.asarray(gaps), axis=0))


def calibrate_package(package: str | Path, bank_dir: str | Path, out_dir: str | Path, **kw) -> tuple[str, tuple]:
    """Write ``package`` with its measured stem gains to ``out_dir``; returns (checkpoint id, gains)."""
    from engine.diffusion import load_checkpoint, save_checkpoint

    gains = measure_stem_bias_db(package, bank_dir, **kw)
    model, config = load_checkpoint(package)
    config = replace(config, stem_gain_db=gains)
    model.config = config
    return save_checkpoint(model, config, out_dir), gains


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))
