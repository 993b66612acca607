"""Training the stylizer with engine.train's loop (step-indexed batches, JSONL log, resumable state).

One step (CUT with an audio-visual discriminator):
  x   an input image, (y, a) a real image with its sound;  fake = G(x, a),  idt = G(y, a)
  D:  LSGAN, real (y, a) -> 1, (fake, a) -> 0, and -- as in the paper's mismatched pairs and in
      matching-aware GANs -- a real image with another scene's sound (y, a') -> 0, so the discriminator
      must read the sound (a' is drawn from another label when the data has labels, else another pair)
  G:  LSGAN(D(fake, a) -> 1) + PatchNCE(x, fake) + PatchNCE(y, idt)  (identity NCE on target images)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from engine.train.dataset import step_generator
from engine.visual.losses import PatchNCELoss, lsgan
from engine.visual.model import AVDiscriminator, PatchProjector, StyleGenerator, VisualConfig, make_conditioner, \
    nce_channels

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class PictureTrainConfig:
    """Hyper-parameters (CUT's: Adam 2e-4, betas (0.5, 0.999), lambda_NCE 1, 256 patches -> 64 here)."""

    steps: int = 1000
    batch_size: int = 4
    lr: float = 2e-4
    d_lr: float | None = None  # the discriminator's learning rate (None: lr); set each step, so a resumed run can change it
    betas: tuple[float, float] = (0.5, 0.999)
    nce_weight: float = 1.0
    mismatch_weight: float = 1.0  # v1: 0.5
    mismatch_by_label: bool = True  # v1: False (the next pair of the batch, whatever its scene)
    num_patches: int = 64
    temperature: float = 0.07
    seed: int = 0
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 2
    ckpt_every: int = 100
    workers: int = 0
    init_from: str | None = None  # a stylizer package whose generator (and conditioner) this run starts from
    model: VisualConfig = field(default_factory=VisualConfig)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "betas": list(self.betas), "model": self.model.to_dict()}


class Stylizer(nn.Module):
    """What ships: the generator and its conditioner (audio encoder or label embedding)."""

    def __init__(self, c: VisualConfig) -> None:
        super().__init__()
        self.config = c
        self.cond = make_conditioner(c)
        self.gen = StyleGenerator(c)

    def forward(self, image: Tensor, condition: Tensor) -> Tensor:
        return self.gen(image, self.cond(condition))


def save_stylizer(model: Stylizer, directory: str | Path) -> Path:
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / WEIGHTS_FILE))
    (d / CONFIG_FILE).write_text(json.dumps({"format": "roomtone.visual", "version": 1,
                                             "model": model.config.to_dict()}, indent=2) + "\n")
    return d


def load_stylizer(directory: str | Path) -> Stylizer:
    """Rebuild a stylizer from its package alone (config.json + weights.safetensors)."""
    from safetensors.torch import load_file

    from engine.errors import RoomtoneError

    d = Path(directory)
    if not (d / CONFIG_FILE).is_file():
        raise RoomtoneError(f"{d}: no picture stylizer package here (config.json missing); pass --model DIR")
    model = Stylizer(VisualConfig.from_dict(json.loads((d / CONFIG_FILE).read_text())["model"]))
    model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
    return model.eval()


def _init_weights(package: str, config: VisualConfig) -> dict[str, Tensor]:
    """The generator's weights of ``package``; its recipe must be this run's (a shipped model's
    exported weights continue as a new run: the discriminator and the patch projector start fresh,
    because a package ships only what renders). A package without the noise input (v2) may start a
    run with it: the noise strengths start at zero, so the run starts from that package's function."""
    from engine.errors import RoomtoneError

    init = load_stylizer(package)
    if init.config != config and init.config != replace(config, noise=False):
        diff = {k: (v, getattr(config, k)) for k, v in init.config.__dict__.items() if getattr(config, k) != v}
        raise RoomtoneError(f"{package}: its model differs from this run's ({diff}); pass the same --image-px "
                            "and --conditioner it was trained with")
    weights = Stylizer(config).state_dict()
    weights.update(init.state_dict())
    return weights


def mismatched(labels: Tensor, g: torch.Generator) -> Tensor:
    """For each pair, the index of another pair of the batch -- one with a different label where the
    batch has one (a same-scene sound is no negative), else the next pair (v1's choice for all)."""
    n = labels.shape[0]
    out = torch.roll(torch.arange(n), 1)
    for i in range(n):
        other = (labels != labels[i]).nonzero().flatten()
        if other.numel():
            out[i] = other[torch.randint(other.numel(), (1,), generator=g)]
    return out


class PictureStage:
    """The engine.train.loop stage interface (modules, optimizers, extra, train/validate step, export)."""

    name = "picture"

    def __init__(self, config: PictureTrainConfig, device: torch.device = torch.device("cpu")) -> None:
        torch.manual_seed(config.seed)
        self.config, self.device = config, device
        c = config.model
        self.G = Stylizer(c).to(device)
        if config.init_from:
            self.G.load_state_dict(_init_weights(config.init_from, c))
        self.D = AVDiscriminator(c).to(device)
        self.F = PatchProjector(nce_channels(c)).to(device)
        self.nce = PatchNCELoss(config.temperature)
        self.modules: dict[str, nn.Module] = {"G": self.G, "D": self.D, "F": self.F}
        adam = lambda p: torch.optim.Adam(p, lr=config.lr, betas=tuple(config.betas))  # noqa: E731
        self.optimizers = {"G": adam(list(self.G.parameters()) + list(self.F.parameters())), "D": adam(self.D.parameters())}
        self.extra: dict[str, Any] = {}

    def prepare(self, train_data: Callable[[int], dict[str, Tensor]]) -> None:
        pass

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        pass  # single process on the CPU

    def _cond(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["mel"] if self.config.model.conditioner == "audio" else batch["label"]

    def _nce(self, fs: list[Tensor], out: Tensor, g: torch.Generator) -> Tensor:
        """PatchNCE between the source's encoder features ``fs`` (the keys) and the output's."""
        fo = self.G.gen.encode(out)
        ks, ids = self.F(fs, self.config.num_patches, None, generator=g)
        qs, _ = self.F(fo, self.config.num_patches, ids)
        return sum(self.nce(q, k) for q, k in zip(qs, ks)) / len(qs)

    def _forward(self, batch: dict[str, Tensor], step: int) -> tuple[Tensor, ...]:
        """x, y, cond, wrong (indices of the mismatched sounds), fake, idt, the step's generator."""
        b = {k: v.to(self.device) for k, v in batch.items()}
        y, cond = b["image"], self._cond(b)
        n = y.shape[0]
        g = step_generator(self.config.seed, step, 1)
        x = y[torch.randperm(n, generator=g).to(self.device)]  # inputs: other pictures of the batch
        labels = b["label"].argmax(dim=1).cpu() if self.config.mismatch_by_label and "label" in b \
            else torch.zeros(n, dtype=torch.long)
        wrong = mismatched(labels, g).to(self.device)
        emb = self.G.cond(cond)  # once for both generator passes
        fx, fy = [], []  # the sources' encoder features, PatchNCE's keys
        noise = torch.randn((2, n, 1, *y.shape[-2:]), generator=g).to(self.device)
        fake, idt = self.G.gen(x, emb, fx, noise[0]), self.G.gen(y, emb, fy, noise[1])
        return x, y, cond, wrong, fake, idt, g, (fx, fy)

    def _d_loss(self, y: Tensor, cond: Tensor, wrong: Tensor, fake: Tensor) -> Tensor:
        e = self.D.cond(cond)  # per-example norms: the wrong sounds' embeddings are e[wrong]
        return 0.5 * (lsgan(self.D.score(y, e), True) + lsgan(self.D.score(fake.detach(), e), False)) \
            + self.config.mismatch_weight * lsgan(self.D.score(y, e[wrong]), False)

    def _g_losses(self, feats: tuple[list[Tensor], list[Tensor]], cond: Tensor, fake: Tensor, idt: Tensor,
                  g: torch.Generator) -> dict[str, Tensor]:
        with torch.no_grad():
            e = self.D.cond(cond)
        g_gan = lsgan(self.D.score(fake, e), True)
        nce = 0.5 * (self._nce(feats[0], fake, g) + self._nce(feats[1], idt, g))
        return {"g_gan": g_gan, "nce": nce, "g": g_gan + self.config.nce_weight * nce}

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        self.G.train(), self.D.train(), self.F.train()
        x, y, cond, wrong, fake, idt, g, feats = self._forward(batch, step)
        d = self._d_loss(y, cond, wrong, fake)
        for group in self.optimizers["D"].param_groups:
            group["lr"] = self.config.d_lr or self.config.lr
        self.optimizers["D"].zero_grad(set_to_none=True)
        d.backward()
        self.optimizers["D"].step()
        L = self._g_losses(feats, cond, fake, idt, g)
        self.optimizers["G"].zero_grad(set_to_none=True)
        L["g"].backward(inputs=list(self.G.parameters()) + list(self.F.parameters()))
        self.optimizers["G"].step()
        return {"d": float(d.detach()), **{k: float(v.detach()) for k, v in L.items()}}

    @torch.no_grad()
    def validate_step(self, batch: dict[str, Tensor], index: int) -> dict[str, float]:
        self.G.eval(), self.D.eval(), self.F.eval()
        x, y, cond, wrong, fake, idt, g, feats = self._forward(batch, 10**9 + index)
        d = self._d_loss(y, cond, wrong, fake)
        return {"d": float(d), **{k: float(v) for k, v in self._g_losses(feats, cond, fake, idt, g).items()}}

    def export(self, directory: Path) -> None:
        save_stylizer(self.G, directory)


def train_picture(data: str | Path, out: str | Path, config: PictureTrainConfig, *, resume: bool = False,
                  log: Callable[[str], None] | None = None) -> dict:
    """Train on a folder (videos or image + sound pairs); OUT/model is the package, OUT/state resumes."""
    from engine.errors import RoomtoneError
    from engine.train.loop import run_stage
    from engine.visual.dataset import PictureData

    full = PictureData.from_folder(data, config.model)
    if full.num_labels > config.model.num_labels:
        raise RoomtoneError(f"{data}: labels up to {full.num_labels - 1} but the model has {config.model.num_labels}")
    train, val = full.split(0.05, config.seed) if len(full) >= 40 else (full, None)
    try:
        return run_stage(PictureStage(config), train, val, out, resume=resume, log=log)
    except FileExistsError as exc:
        raise RoomtoneError(str(exc)) from exc
