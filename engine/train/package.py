"""Assemble the final stylizer package from the three stages' exported networks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from engine.diffusion import DiffusionConfig, MelConfig, Stylizer, StylizerConfig, load_checkpoint, save_checkpoint


def assemble_stylizer(vae_model: str | Path, vocoder_model: str | Path, ldm_model: str | Path,
                      out_dir: str | Path) -> str:
    """Stylizer package (engine.diffusion.save_checkpoint) from ``<stage>/model`` folders; returns its id.

    The VAE's config gets the ``latent_scale`` and ``latent_clip`` the LDM stage measured: they
    belong to the pair (VAE, U-Net) and the pipeline reads them from the VAE config.
    """
    ldm = Path(ldm_model)
    vae, vae_config = load_checkpoint(vae_model)
    vocoder, vocoder_config = load_checkpoint(vocoder_model)
    unet, unet_config = load_checkpoint(ldm / "unet")
    cond, cond_config = load_checkpoint(ldm / "cond_encoder")
    stats = json.loads((ldm / "latent_scale.json").read_text(encoding="utf-8"))
    vae_config = replace(vae_config, latent_scale=float(stats["latent_scale"]), latent_clip=stats.get("latent_clip"))
    formulation = "residual" if unet_config.stems > 1 else "full"
    config = StylizerConfig(mel=MelConfig(), vae=vae_config, condition=cond_config,
                            unet=unet_config, vocoder=vocoder_config, diffusion=DiffusionConfig(), formulation=formulation)
    model = Stylizer(config)
    model.vae.load_state_dict(vae.state_dict())
    model.vocoder.load_state_dict(vocoder.state_dict())
    model.unet.load_state_dict(unet.state_dict())
    model.cond_encoder.load_state_dict(cond.state_dict())
    return save_checkpoint(model, config, out_dir)
