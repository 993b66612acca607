"""The three training stages -- VAE, vocoder, conditional LDM -- behind one small interface.

Every stage owns its networks and AdamW optimizers and does one step on a batch dict
(``target``, ``enhanced``, ``condition`` waves (B, samples) and, when prepared, ``image``
(B, 3, P, P) in [0, 1]). All randomness of a step comes from ``step_generator(seed, step, k)``,
so the step number alone fixes it (exact resume, rank-consistent DDP).

Vocoder: MR-STFT + mel L1 only, no discriminator. Our choice: the GAN terms mostly buy
high-band crispness at several times the cost per step, and the vocoder must train on two CPU
cores at the tiny size; a discriminator can be added as a fourth stage later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from engine.diffusion import ConditionEncoder, LatentUNet, MelFrontEnd, MelVAE, NoiseSchedule, PatchDiscriminator, \
    StylizerConfig, VocosVocoder, load_checkpoint, save_checkpoint
from engine.diffusion.config import FORMULATIONS, RESIDUAL_STEMS
from engine.train import losses
from engine.train.dataset import step_generator

STAGES = ("vae", "vocoder", "ldm")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one stage's run. Optimiser numbers are the paper's (AudioLDM's)."""

    stage: str
    size: str = "tiny"
    steps: int = 1000
    batch_size: int = 8  # per process; DDP's global batch is batch_size x world size
    lr: float = 1e-4
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1e-6
    weight_decay: float = 1e-3
    grad_clip: float = 1.0
    seed: int = 0
    condition_mode: str = "audio-visual"
    crop_frames: int | None = None  # VAE/vocoder train on random crops of this many mel frames; None: whole window
    kl_weight: float = 1e-6
    disc_start_step: int = 2000  # VAE adversarial terms start here (LDM's warm-up)
    adv_weight: float = 0.1
    fm_weight: float = 1.0
    latent_scale_batches: int = 8  # batches of VAE latents measured for the diffusion scale
    log_every: int = 10
    val_every: int = 500
    val_batches: int = 4
    ckpt_every: int = 500
    workers: int = 0  # DataLoader workers
    init_from: str | None = None  # a stylizer package (or stage package) whose matching weights start the run
    formulation: str = "full"  # "residual": the model renders the scene's reverb and ambience, not the words

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.steps < 0 or self.batch_size <= 0:
            raise ValueError("steps must be >= 0 and batch_size > 0")
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, got {self.formulation!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "betas": list(self.betas)}

    def model_config(self) -> StylizerConfig:
        base = StylizerConfig.named(self.size, self.formulation)
        return replace(base, condition=replace(base.condition, mode=self.condition_mode))

    @property
    def target_keys(self) -> tuple[str, ...]:
        """The batch waves the model renders, one latent each: ("target",) or the residual's stems."""
        return RESIDUAL_STEMS if self.formulation == "residual" else ("target",)


LATENT_CLIP_QUANTILE = 0.999  # samplers clip x0 to the |latent| this share of training latents stay under


def make_optimizer(params, config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                             weight_decay=config.weight_decay)


def init_matching(module: nn.Module, package: str | Path, part: str) -> tuple[int, int]:
    """Copy into ``module`` every tensor of ``package``'s ``part`` (vae, vocoder, unet, cond_encoder)
    whose name and shape match; returns (copied, skipped). Fine-tuning across formulations: the
    residual U-Net differs from the full one only in its input and output convolutions."""
    model, _ = load_checkpoint(package)
    source = getattr(model, part, model).state_dict()
    own = module.state_dict()
    take = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict({**own, **take})
    return len(take), len(own) - len(take)


def _num(value: Tensor) -> float:
    return float(value.detach())


def _clip_step(optimizer: torch.optim.Optimizer, params: list[nn.Parameter], clip: float) -> None:
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()


class Stage:
    """Base: ``modules`` (saved), ``optimizers`` (saved), ``train_step``, ``validate_step``, ``export``."""

    name = ""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.model_config = config.model_config()
        torch.manual_seed(config.seed)  # identical initial weights for a given seed (and on every rank)
        self.device = device
        self.mel = MelFrontEnd(self.model_config.mel).to(device)
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.extra: dict[str, Any] = {}

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace the networks used in forward passes by ``wrap(net)`` (DDP); saving uses the raw ones."""

    def gen(self, step: int, stream: int) -> torch.Generator:
        return step_generator(self.config.seed, step, stream)

    def _to(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _crop(self, mel: Tensor, step: int) -> tuple[Tensor, int]:
        n = self.config.crop_frames
        if n is None or n >= mel.shape[-1]:
            return mel, 0
        start = int(torch.randint(0, mel.shape[-1] - n + 1, (1,), generator=self.gen(step, 1)))
        return mel[..., start:start + n], start

    def prepare(self, train_data: Callable[[int], dict[str, Tensor]]) -> None:
        """Called once before the first step of a fresh run (not on resume)."""

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        raise NotImplementedError

    def validate_step(self, batch: dict[str, Tensor], index: int) -> dict[str, float]:
        raise NotImplementedError

    def export(self, directory: Path) -> None:
        raise NotImplementedError


class VAEStage(Stage):
    """Mel VAE on target AND enhanced mels (a per-example coin picks which), because the LDM
    encodes both; adversarial + feature-matching terms after ``disc_start_step``."""

    name = "vae"

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        super().__init__(config, device)
        self.vae = MelVAE(self.model_config.vae).to(device)
        self.disc = PatchDiscriminator(self.model_config.vae).to(device)
        self.modules = {"vae": self.vae, "disc": self.disc}
        self.optimizers = {"vae": make_optimizer(self.vae.parameters(), config),
                           "disc": make_optimizer(self.disc.parameters(), config)}
        self.train_vae: nn.Module = self.vae
        self.train_disc: nn.Module = self.disc
        if config.init_from:
            init_matching(self.vae, config.init_from, "vae")

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        self.train_vae, self.train_disc = wrap(self.vae), wrap(self.disc)

    def _input_mel(self, batch: dict[str, Tensor], step: int) -> Tensor:
        g = self.gen(step, 2)
        keys = (*self.config.target_keys, "enhanced")
        waves = torch.stack([batch[k] for k in keys])
        b = waves.shape[1]
        if len(keys) == 2:  # the coin of the full formulation, drawn as before (same runs, same numbers)
            pick = (torch.rand(b, generator=g) >= 0.5).long()
        else:
            pick = torch.randint(0, len(keys), (b,), generator=g)
        wave = waves[pick.to(self.device), torch.arange(b, device=self.device)]
        return self.mel(wave)[:, None]

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        c = self.config
        batch = self._to(batch)
        self.vae.train()
        self.disc.train()
        mel, _ = self._crop(self._input_mel(batch, step), step)
        recon, posterior = self.train_vae(mel, generator=self.gen(step, 3))
        rec = losses.vae_reconstruction(recon, mel)
        kl = losses.vae_kl(posterior.kl(), mel)
        loss = rec + c.kl_weight * kl
        out = {"rec_l1": _num(rec), "kl": _num(kl)}
        adversarial = step >= c.disc_start_step
        if adversarial:
            # The raw discriminator here: its gradients from this pass are discarded, so no allreduce.
            logits, feats = self.disc(torch.cat([recon, mel]))
            b = mel.shape[0]
            g_adv = losses.hinge_generator(logits[:b])
            fm = losses.feature_matching([f[b:] for f in feats], [f[:b] for f in feats])
            loss = loss + c.adv_weight * g_adv + c.fm_weight * fm
            out.update(g_adv=_num(g_adv), fm=_num(fm))
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_step(opt, list(self.vae.parameters()), c.grad_clip)
        if adversarial:
            d_opt = self.optimizers["disc"]
            d_opt.zero_grad(set_to_none=True)
            logits, _ = self.train_disc(torch.cat([mel, recon.detach()]))
            b = mel.shape[0]
            d_loss = losses.hinge_discriminator(logits[:b], logits[b:])
            d_loss.backward()
            _clip_step(d_opt, list(self.disc.parameters()), c.grad_clip)
            out["d_loss"] = _num(d_loss)
        out["loss"] = _num(loss)
        return out

    @torch.no_grad()
    def validate_step(self, batch: dict[str, Tensor], index: int) -> dict[str, float]:
        batch = self._to(batch)
        self.vae.eval()
        mel = self.mel(torch.cat([batch[k] for k in self.config.target_keys]))[:, None]
        recon, posterior = self.vae(mel, sample_posterior=False)
        return {"rec_l1": float(losses.vae_reconstruction(recon, mel)),
                "kl": float(losses.vae_kl(posterior.kl(), mel))}

    def export(self, directory: Path) -> None:
        save_checkpoint(self.vae, self.vae.config, directory)


class VocoderStage(Stage):
    """Vocos on ground-truth mels of the target waves (the scene sound the vocoder must render)."""

    name = "vocoder"

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        super().__init__(config, device)
        self.vocoder = VocosVocoder(self.model_config.vocoder).to(device)
        self.modules = {"vocoder": self.vocoder}
        self.optimizers = {"vocoder": make_optimizer(self.vocoder.parameters(), config)}
        self.train_vocoder: nn.Module = self.vocoder
        if config.init_from:
            init_matching(self.vocoder, config.init_from, "vocoder")

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        self.train_vocoder = wrap(self.vocoder)

    def _wave(self, batch: dict[str, Tensor], step: int | None) -> Tensor:
        """The sound the vocoder must render: the target, or (residual) one of its stems per example."""
        keys = self.config.target_keys
        if len(keys) == 1:
            return batch[keys[0]]
        waves = torch.stack([batch[k] for k in keys])
        b = waves.shape[1]
        g = self.gen(step, 2) if step is not None else torch.Generator().manual_seed(0)
        pick = torch.randint(0, len(keys), (b,), generator=g).to(self.device)
        return waves[pick, torch.arange(b, device=self.device)]

    def _losses(self, wave: Tensor, step: int | None) -> tuple[Tensor, dict[str, float]]:
        mel = self.mel(wave)
        start = 0
        if step is not None:
            mel, start = self._crop(mel, step)
        hop = self.model_config.mel.hop_length
        real = wave[:, start * hop:(start + mel.shape[-1]) * hop]
        fake = self.train_vocoder(mel) if step is not None else self.vocoder(mel)
        stft = losses.multi_resolution_stft(fake, real)
        mel_l1 = losses.mel_l1(self.mel(fake), self.mel(real))
        loss = stft + losses.MEL_LOSS_WEIGHT * mel_l1
        return loss, {"loss": _num(loss), "mrstft": _num(stft), "mel_l1": _num(mel_l1)}

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        batch = self._to(batch)
        self.vocoder.train()
        loss, out = self._losses(self._wave(batch, step), step)
        opt = self.optimizers["vocoder"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_step(opt, list(self.vocoder.parameters()), self.config.grad_clip)
        return out

    @torch.no_grad()
    def validate_step(self, batch: dict[str, Tensor], index: int) -> dict[str, float]:
        self.vocoder.eval()
        return self._losses(self._wave(self._to(batch), None), None)[1]

    def export(self, directory: Path) -> None:
        save_checkpoint(self.vocoder, self.vocoder.config, directory)


class ConditionalDenoiser(nn.Module):
    """U-Net + condition encoder as one module, so DDP wraps (and allreduces) them together;
    ``find_unused_parameters`` covers the null embedding on steps where nothing is dropped."""

    def __init__(self, unet: LatentUNet, cond_encoder: ConditionEncoder) -> None:
        super().__init__()
        self.unet, self.cond_encoder = unet, cond_encoder

    def forward(self, noisy: Tensor, enhanced: Tensor, timesteps: Tensor, audio_mel: Tensor | None,
                image: Tensor | None, drop_mask: Tensor | None) -> Tensor:
        return self.unet(noisy, enhanced, timesteps, self.cond_encoder(audio_mel, image, drop_mask))


class LDMStage(Stage):
    """Conditional LDM: eps-prediction MSE on VAE latents of the target, given the enhanced
    latent and the hint; the condition is dropped (null tokens) for ``condition_dropout`` of
    examples so classifier-free guidance works. The VAE is frozen; its latents are scaled to
    unit variance by ``latent_scale``, measured on the training data before the first step."""

    name = "ldm"

    def __init__(self, config: TrainConfig, device: torch.device, vae_dir: str | Path) -> None:
        super().__init__(config, device)
        vae, vae_config = load_checkpoint(vae_dir, device=device)
        if vae_config != replace(self.model_config.vae, latent_scale=vae_config.latent_scale,
                                 latent_clip=vae_config.latent_clip):
            raise ValueError(f"{vae_dir}: the VAE was trained at another size than {config.size!r}")
        self.vae = vae.eval().requires_grad_(False)
        self.unet = LatentUNet(self.model_config.unet).to(device)
        self.cond_encoder = ConditionEncoder(self.model_config.condition).to(device)
        if config.init_from:
            self._init_from(config.init_from)
        self.denoiser = ConditionalDenoiser(self.unet, self.cond_encoder)
        self.train_denoiser: nn.Module = self.denoiser
        self.schedule = NoiseSchedule(self.model_config.diffusion)
        self.modules = {"unet": self.unet, "cond_encoder": self.cond_encoder}
        self.optimizers = {"denoiser": make_optimizer(self.denoiser.parameters(), config)}
        self.extra = {"latent_scale": 1.0}

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        self.train_denoiser = wrap(self.denoiser)

    def _init_from(self, package: str | Path) -> None:
        """Fine-tuning: a shipped model keeps what it learnt while a larger corpus adds scenes. The
        condition encoder must match exactly; the U-Net takes every tensor that fits (all of them
        within one formulation; all but the input/output convolutions across formulations)."""
        _, config = load_checkpoint(package)
        own = self.model_config
        if config.condition != own.condition or replace(config.unet, stems=own.unet.stems) != own.unet:
            raise ValueError(f"{package}: its U-Net/condition encoder were built at another size or condition "
                             f"mode than {self.config.size!r}/{self.config.condition_mode!r}")
        init_matching(self.cond_encoder, package, "cond_encoder")
        init_matching(self.unet, package, "unet")  # across formulations conv_in/conv_out stay fresh

    @property
    def latent_scale(self) -> float:
        return float(self.extra["latent_scale"])

    @torch.no_grad()
    def prepare(self, train_data: Callable[[int], dict[str, Tensor]]) -> None:
        """latent_scale = 1 / std of posterior samples of target latents (LDM's recipe)."""
        zs = []
        for k in range(self.config.latent_scale_batches):
            batch = self._to(train_data(k))
            for key in self.config.target_keys:
                posterior = self.vae.encode(self.mel(batch[key])[:, None])
                zs.append(posterior.sample(step_generator(self.config.seed, k, 9)))
        z = torch.cat(zs).float()
        self.extra["latent_scale"] = float(1.0 / z.std().clamp(min=1e-6))
        self.extra["latent_clip"] = float(torch.quantile((z * self.extra["latent_scale"]).abs().flatten()[:1_000_000],
                                                         LATENT_CLIP_QUANTILE))

    def _inputs(self, batch: dict[str, Tensor], g: torch.Generator, sample: bool) -> tuple[Tensor, ...]:
        cc = self.model_config.condition
        scale = self.latent_scale
        with torch.no_grad():
            parts = []
            for key in self.config.target_keys:  # residual: reverb and ambience latents, stacked on channels
                posterior = self.vae.encode(self.mel(batch[key])[:, None])
                parts.append(posterior.sample(g) if sample else posterior.mode())
            z0 = torch.cat(parts, dim=1) * scale
            ze = self.vae.encode(self.mel(batch["enhanced"])[:, None]).mode() * scale
        audio = self.mel(batch["condition"])[:, None] if cc.uses_audio else None
        image = batch.get("image") if cc.uses_image else None
        if cc.uses_image and image is None:
            raise ValueError(f"condition mode {cc.mode!r} needs images; prepare the data with pictures "
                             "or pass --condition audio")
        return z0, ze, audio, image

    def _loss(self, batch: dict[str, Tensor], g: torch.Generator, train: bool) -> tuple[Tensor, dict[str, float]]:
        z0, ze, audio, image = self._inputs(batch, g, sample=train)
        b = z0.shape[0]
        t = torch.randint(0, self.schedule.num_train_timesteps, (b,), generator=g)
        noise = torch.randn(z0.shape, generator=g).to(self.device)
        drop = torch.rand(b, generator=g) < self.model_config.diffusion.condition_dropout
        if not train:
            drop = torch.zeros(b, dtype=torch.bool)
        noisy = self.schedule.add_noise(z0, noise, t)
        net = self.train_denoiser if train else self.denoiser
        eps = net(noisy, ze, t.to(self.device), audio, image, drop.to(self.device))
        loss = losses.epsilon_mse(eps, noise)
        return loss, {"loss": _num(loss), "dropped": float(drop.float().mean())}

    def train_step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        batch = self._to(batch)
        self.denoiser.train()
        loss, out = self._loss(batch, self.gen(step, 4), train=True)
        opt = self.optimizers["denoiser"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_step(opt, list(self.denoiser.parameters()), self.config.grad_clip)
        return out

    @torch.no_grad()
    def validate_step(self, batch: dict[str, Tensor], index: int) -> dict[str, float]:
        self.denoiser.eval()
        loss, _ = self._loss(self._to(batch), step_generator(self.config.seed, index, 8), train=False)
        return {"loss": _num(loss)}

    def export(self, directory: Path) -> None:
        save_checkpoint(self.unet, self.unet.config, directory / "unet")
        save_checkpoint(self.cond_encoder, self.cond_encoder.config, directory / "cond_encoder")
        stats = {"latent_scale": self.latent_scale, "latent_clip": self.extra.get("latent_clip")}
        (directory / "latent_scale.json").write_text(json.dumps(stats) + "\n", encoding="utf-8")


def build_stage(config: TrainConfig, device: torch.device, vae_dir: str | Path | None = None) -> Stage:
    if config.stage == "vae":
        return VAEStage(config, device)
    if config.stage == "vocoder":
        return VocoderStage(config, device)
    if vae_dir is None:
        raise ValueError("the ldm stage needs a trained VAE package (--vae DIR)")
    return LDMStage(config, device, vae_dir)
