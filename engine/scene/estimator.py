"""The learned scene estimator: a small CNN over the reference's band levels, with uncertainty.

Why learned: the DSP estimator reads RT60 from free decays and DRR from decay statistics with
hand-set gates, and each fix moved one case. A network trained on tens of thousands of simulated
rooms, talkers, ambiences and degradations (``engine.train.scene_corpus``) reads the same front
end (``engine.scene.features``) and learns what of it is the room and what is the talker.

Every output is a Gaussian (mean and log-variance, trained with a beta-NLL), so the analysis can
fall back to the DSP estimate or to neutral where the network is unsure -- above a band-limited
reference's cut-off, say. The pooled vector before the heads is the scene embedding that presets
store to compare and search scenes.

A package is ``config.json`` (architecture, target names and their normalisation, id) and
``weights.safetensors``; ``load_estimator`` rebuilds it alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SHIPPED_DIR = Path(__file__).with_name("checkpoints") / "scene-estimator"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class EstimatorConfig:
    bands: int = 28
    conv_channels: tuple[int, ...] = (12, 24, 32, 48)
    hidden: int = 128
    embedding: int = 64
    targets: tuple[str, ...] = ()
    target_mean: tuple[float, ...] = ()
    target_std: tuple[float, ...] = ()


@dataclass
class SceneEstimate:
    """Per-target mean and standard deviation in physical units (log-s for RT60, dB otherwise)."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    embedding: np.ndarray
    checkpoint_id: str
    extra: dict = field(default_factory=dict)

    def get(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        idx = [i for i, n in enumerate(self.names) if n.startswith(prefix)]
        return self.mean[idx], self.std[idx]


def _build(config: EstimatorConfig):
    import torch
    from torch import nn

    class SceneNet(nn.Module):
        """(batch, bands, frames) normalised levels -> (mean, log-variance) per target, embedding."""

        def __init__(self, c: EstimatorConfig) -> None:
            super().__init__()
            ch = c.conv_channels
            strides = ((1, 2), (2, 2), (2, 2), (2, 1))
            layers, prev = [], 1
            for out_ch, stride in zip(ch, strides):
                layers += [nn.Conv2d(prev, out_ch, (3, 7), stride=stride, padding=(1, 3)), nn.GroupNorm(4, out_ch), nn.GELU()]
                prev = out_ch
            self.conv = nn.Sequential(*layers)
            freq = c.bands
            for s in strides:
                freq = (freq + 2 - 3) // s[0] + 1
            self.proj = nn.Conv1d(prev * freq, c.hidden, 1)
            self.temporal = nn.ModuleList(
                nn.Sequential(nn.Conv1d(c.hidden, c.hidden, 5, padding=2 * d, dilation=d), nn.GroupNorm(4, c.hidden), nn.GELU())
                for d in (1, 2, 4, 8)
            )
            self.attn = nn.Conv1d(c.hidden, 1, 1)
            self.embed = nn.Sequential(nn.Linear(2 * c.hidden, c.embedding), nn.GELU())
            n = len(c.targets)
            self.head = nn.Sequential(nn.Linear(c.embedding, c.hidden), nn.GELU(), nn.Linear(c.hidden, 2 * n))

        def forward(self, x):
            h = self.conv(x[:, None])  # (B, C, F', T')
            h = self.proj(h.flatten(1, 2))
            for block in self.temporal:
                h = h + block(h)
            w = torch.softmax(self.attn(h), dim=-1)
            mu = (h * w).sum(-1)
            sd = torch.sqrt(((h - mu[..., None]) ** 2 * w).sum(-1) + 1e-5)
            e = self.embed(torch.cat([mu, sd], dim=1))
            out = self.head(e)
            mean, logvar = out.chunk(2, dim=1)
            return mean, logvar.clamp(-9.0, 6.0), e

    return SceneNet(config)


def config_from_dict(raw: dict) -> EstimatorConfig:
    """An EstimatorConfig from its JSON form (lists back to tuples), as packages and states store it."""
    return EstimatorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def build_network(config: EstimatorConfig):
    """The torch module for ``config`` (random weights): training and tests start here."""
    return _build(config)


def debug_config(targets: tuple[str, ...]) -> EstimatorConfig:
    """A tiny config for CPU tests of shapes and save/load round trips."""
    n = len(targets)
    return EstimatorConfig(conv_channels=(4, 4, 8, 8), hidden=16, embedding=8, targets=targets,
                           target_mean=(0.0,) * n, target_std=(1.0,) * n)


def save_estimator(module, config: EstimatorConfig, directory: str | Path) -> str:
    """Write a package atomically (temp folder renamed); returns its id (hash of the weights)."""
    from safetensors.torch import save_file

    final = Path(directory)
    tmp = final.with_name(final.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(weights, str(tmp / WEIGHTS_FILE))
    digest = hashlib.sha256((tmp / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]
    ident = f"scene-{digest}"
    (tmp / CONFIG_FILE).write_text(json.dumps({"format": "roomtone.scene-estimator", "version": 1, "id": ident,
                                               "config": asdict(config)}, indent=2) + "\n")
    if final.exists():
        import shutil

        shutil.rmtree(final)
    os.replace(tmp, final)
    return ident


class SceneEstimator:
    """A loaded package: ``estimate(mono, sr)`` gives a SceneEstimate."""

    def __init__(self, module, config: EstimatorConfig, checkpoint_id: str) -> None:
        self.module = module.eval()
        self.config = config
        self.checkpoint_id = checkpoint_id
        self._mean = np.asarray(config.target_mean, dtype=np.float64)
        self._std = np.asarray(config.target_std, dtype=np.float64)

    def estimate(self, mono: np.ndarray, sample_rate_hz: int) -> SceneEstimate:
        from engine.scene.features import band_levels_db

        return self.estimate_levels(band_levels_db(mono, sample_rate_hz))

    def estimate_levels(self, levels_db: np.ndarray) -> SceneEstimate:
        import torch

        from engine.scene.features import normalise_levels

        x = torch.from_numpy(normalise_levels(levels_db).T.copy())[None]
        with torch.inference_mode():
            mean, logvar, emb = self.module(x)
        mean = mean[0].double().numpy() * self._std + self._mean
        std = np.exp(0.5 * logvar[0].double().numpy()) * self._std
        return SceneEstimate(tuple(self.config.targets), mean, std, emb[0].numpy().astype(np.float32), self.checkpoint_id)


def load_estimator(directory: str | Path | None = None) -> SceneEstimator:
    """Load a package (default: the shipped one); raises FileNotFoundError naming what is missing."""
    return _load(str(Path(directory) if directory is not None else SHIPPED_DIR))


@functools.lru_cache(maxsize=4)
def _load(directory: str) -> SceneEstimator:
    import torch
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"no scene-estimator package in {d} (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    meta = json.loads((d / CONFIG_FILE).read_text())
    config = config_from_dict(meta["config"])
    module = build_network(config)
    module.load_state_dict(load_file(str(d / WEIGHTS_FILE)), strict=True)
    return SceneEstimator(module, config, str(meta["id"]))


def shipped_available() -> bool:
    return (SHIPPED_DIR / CONFIG_FILE).is_file() and (SHIPPED_DIR / WEIGHTS_FILE).is_file()
