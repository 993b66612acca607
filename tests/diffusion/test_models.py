"""Shapes of every network at the tiny size, including latent lengths that are not multiples of 16."""

from __future__ import annotations

import pytest
import torch

from engine.diffusion import (ConditionEncoder, ConditionEncoderConfig, LatentUNet, MelVAE, PatchDiscriminator,
                              StylizerConfig, UNetConfig, VAEConfig, VocoderConfig, VocosVocoder)
from engine.diffusion.models.vocoder import InverseSTFT

from .conftest import jitter_


def test_vae_compresses_4x_to_8_channels() -> None:
    vae = MelVAE(VAEConfig.named("tiny"))
    mel = torch.randn(2, 1, 64, 64)
    posterior = vae.encode(mel)
    assert posterior.mean.shape == posterior.logvar.shape == (2, 8, 16, 16)
    assert vae.decode(posterior.mode()).shape == (2, 1, 64, 64)
    assert posterior.kl().shape == (2,)


def test_vae_pads_odd_frame_counts_and_crops_back() -> None:
    vae = MelVAE(VAEConfig.named("tiny"))
    mel = torch.randn(1, 1, 64, 66)
    recon, posterior = vae(mel, generator=torch.Generator().manual_seed(0))
    assert posterior.mean.shape == (1, 8, 16, 17)
    assert recon.shape == mel.shape


def test_vae_sampling_is_seeded() -> None:
    vae = MelVAE(VAEConfig.named("tiny"))
    posterior = vae.encode(torch.randn(1, 1, 64, 16))
    a = posterior.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, posterior.sample(torch.Generator().manual_seed(3)))
    assert not torch.equal(a, posterior.sample(torch.Generator().manual_seed(4)))


def test_patch_discriminator_gives_logit_map_and_features() -> None:
    disc = PatchDiscriminator(VAEConfig.named("tiny"))
    logits, features = disc(torch.randn(2, 1, 64, 64))
    assert logits.ndim == 4 and logits.shape[:2] == (2, 1) and logits.shape[-1] > 1
    assert len(features) == VAEConfig.named("tiny").disc_layers
    assert all(f.shape[0] == 2 for f in features)


@pytest.mark.parametrize("mode, tokens", [("audio", 1 + 2), ("visual", 1 + 4), ("audio-visual", 1 + 2 + 1 + 4)])
def test_condition_encoder_modes_fuse_token_sequences(mode: str, tokens: int) -> None:
    config = ConditionEncoderConfig(mode=mode)
    encoder = ConditionEncoder(config)
    mel = torch.randn(2, 1, 64, 64)  # 64 frames -> 2 time tokens after /32
    image = torch.rand(2, 3, 64, 64)  # 64 px -> 2 x 2 patch tokens
    out = encoder(audio_mel=mel, image=image)
    assert out.shape == (2, tokens, config.context_dim)


def test_condition_encoder_parts_give_embedding_and_tokens() -> None:
    encoder = ConditionEncoder(ConditionEncoderConfig())
    embedding, seq = encoder.audio(torch.randn(1, 1, 64, 256))  # type: ignore[misc]
    assert embedding.shape == (1, 64) and seq.shape == (1, 8, 64)
    embedding, seq = encoder.image(torch.rand(1, 3, 64, 96))  # type: ignore[misc]
    assert embedding.shape == (1, 64) and seq.shape == (1, 6, 64)


def test_drop_mask_swaps_in_the_learned_null_condition() -> None:
    encoder = ConditionEncoder(ConditionEncoderConfig(mode="audio"))
    mel = torch.randn(3, 1, 64, 64)
    kept = encoder(audio_mel=mel)
    dropped = encoder(audio_mel=mel, drop_mask=torch.tensor([False, True, False]))
    assert torch.equal(dropped[0], kept[0]) and torch.equal(dropped[2], kept[2])
    assert torch.equal(dropped[1], encoder.null.expand_as(kept[1]))
    assert encoder.null.requires_grad


def test_condition_encoder_requires_its_modalities() -> None:
    with pytest.raises(ValueError, match="image"):
        ConditionEncoder(ConditionEncoderConfig(mode="audio-visual"))(audio_mel=torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="mode"):
        ConditionEncoderConfig(mode="smell")


@pytest.mark.parametrize("frames", [16, 13, 21, 1])
def test_unet_keeps_latent_shape_for_any_length(frames: int) -> None:
    config = UNetConfig.named("tiny")
    unet = jitter_(LatentUNet(config))
    noisy, enhanced = torch.randn(2, 8, 16, frames), torch.randn(2, 8, 16, frames)
    context = torch.randn(2, 5, config.context_dim)
    with torch.no_grad():
        eps = unet(noisy, enhanced, torch.tensor([10, 900]), context)
        assert eps.shape == noisy.shape
        assert torch.isfinite(eps).all()
        assert unet(noisy, enhanced, 10, context).shape == noisy.shape  # a scalar timestep broadcasts


def test_unet_cross_attention_sits_in_the_deepest_three_levels_both_ways() -> None:
    unet = LatentUNet(UNetConfig.named("tiny"))
    attends = [any(m.block.cross_attn is not None for m in level.attn if hasattr(m, "block")) for level in unet.down]
    assert attends == [False, True, True, True]
    attends = [any(m.block.cross_attn is not None for m in level.attn if hasattr(m, "block")) for level in unet.up]
    assert attends == [True, True, True, False]
    assert unet.conv_in.in_channels == 16


def test_unet_listens_to_the_condition_and_the_enhanced_latent() -> None:
    config = UNetConfig.named("tiny")
    unet = jitter_(LatentUNet(config))
    noisy, enhanced = torch.randn(1, 8, 16, 8), torch.randn(1, 8, 16, 8)
    context = torch.randn(1, 3, config.context_dim)
    with torch.no_grad():
        base = unet(noisy, enhanced, 500, context)
        assert not torch.allclose(base, unet(noisy, enhanced, 500, torch.randn_like(context)))
        assert not torch.allclose(base, unet(noisy, torch.randn_like(enhanced), 500, context))


def test_unet_rejects_mismatched_inputs() -> None:
    unet = LatentUNet(UNetConfig.named("tiny"))
    with pytest.raises(ValueError, match="context"):
        unet(torch.randn(1, 8, 16, 8), torch.randn(1, 8, 16, 8), 1, torch.randn(1, 3, 7))
    with pytest.raises(ValueError, match="enhanced_latent"):
        unet(torch.randn(1, 8, 16, 8), torch.randn(1, 8, 16, 9), 1, torch.randn(1, 3, 64))


def test_vocoder_gives_hop_samples_per_frame() -> None:
    vocoder = VocosVocoder(VocoderConfig.named("tiny"))
    with torch.no_grad():
        wave = vocoder(torch.randn(2, 64, 50))
    assert wave.shape == (2, 50 * 160)
    assert torch.isfinite(wave).all()


def test_inverse_stft_perfectly_reconstructs_same_padded_analysis() -> None:
    n_fft, hop = 640, 160
    istft = InverseSTFT(n_fft, hop)
    wave = torch.randn(2, 100 * hop, dtype=torch.float64)
    pad = (n_fft - hop) // 2
    spec = torch.stft(torch.nn.functional.pad(wave, (pad, pad)), n_fft, hop, window=istft.window.double(),
                      center=False, return_complex=True)
    assert spec.shape[-1] == 100
    istft.double()
    assert torch.allclose(istft(spec), wave, atol=1e-9)


def test_paper_size_is_audioldm_scale() -> None:
    config = StylizerConfig.named("paper")
    assert (config.unet.base_channels, config.unet.num_heads, config.unet.head_dim) == (128, 8, 64)
    assert config.vae.downsample_factor == 4 and config.vae.latent_channels == 8
    assert config.diffusion.guidance_scale == 4.5 and config.diffusion.condition_dropout == 0.1
