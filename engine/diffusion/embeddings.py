"""A preset's condition for the diffusion engine: context tokens from its reference excerpt.

The tokens depend on the checkpoint's condition encoder, so they are stored in
``preset.embeddings[EMBEDDING_KEY]`` tagged with ``preset.embeddings_checkpoint`` (the checkpoint
id). A preset embedded by another checkpoint (or never) is re-embedded from its stored reference
excerpt; ``preset_condition`` updates the preset object in place so the caller may save it back.

What is embedded (the training recipe's hint clip, engine/train): ``HINT_SECONDS`` of the
reference, mono at the model rate, from its middle (the whole excerpt when shorter); for an
audio-visual or visual checkpoint, the preset's thumbnail, centre-cropped to the encoder's square
size; a preset without a thumbnail gets a flat mid-grey frame (the visual evidence is then simply
absent, which the audio tokens still carry).
"""

from __future__ import annotations

import io

import numpy as np
import torch

from engine.audio import resample
from engine.diffusion.models.stylizer import Stylizer

EMBEDDING_KEY = "condition_tokens"  # (tokens, context_dim) float32
HINT_SECONDS = 2.56  # the training windows' length


def reference_excerpt(reference: np.ndarray, rate_hz: int, model_rate_hz: int, min_samples: int,
                      seconds: float = HINT_SECONDS) -> np.ndarray:
    """(samples,) float32 at the model rate: the middle ``seconds`` of the reference."""
    ref = np.asarray(reference, dtype=np.float32)
    if ref.ndim == 1:
        ref = ref[:, None]
    mono = resample(ref.mean(axis=1, keepdims=True), int(rate_hz), model_rate_hz)[:, 0]
    n = int(round(seconds * model_rate_hz))
    if len(mono) > n:
        start = (len(mono) - n) // 2
        mono = mono[start: start + n]
    if len(mono) < min_samples:  # too short for one STFT frame: zero-pad (silence) rather than fail
        mono = np.concatenate([mono, np.zeros(min_samples - len(mono), np.float32)])
    return np.ascontiguousarray(mono, dtype=np.float32)


def thumbnail_image(png: bytes | None, size_px: int) -> np.ndarray:
    """(3, size, size) float32 in [0, 1] from PNG bytes; mid-grey when there is none."""
    if not png:
        return np.full((3, size_px, size_px), 0.5, np.float32)
    from PIL import Image

    # The same centre crop + bicubic resize as engine.train.media.square_image (not imported:
    # engine.diffusion never imports engine.train).
    with Image.open(io.BytesIO(png)) as img:
        img = img.convert("RGB")
        side = min(img.width, img.height)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((size_px, size_px), Image.BICUBIC)
        return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0


@torch.no_grad()
def embed_reference(model: Stylizer, reference: np.ndarray, rate_hz: int, thumbnail_png: bytes | None = None,
                    device: str | torch.device = "cpu", encode=None) -> np.ndarray:
    """Context tokens (tokens, context_dim) float32 for one reference excerpt (+ thumbnail).

    ``encode(audio_mel=, image=)`` runs the condition encoder (an engine.runtime backend's
    ``condition``); None runs ``model.cond_encoder`` in torch.
    """
    from engine.diffusion.mel import MelFrontEnd

    config = model.config
    cc = config.condition
    mel_front = MelFrontEnd(config.mel).to(device)
    mel = None
    if cc.uses_audio:
        hint = reference_excerpt(reference, rate_hz, config.mel.sample_rate_hz, config.mel.n_fft)
        mel = mel_front(torch.from_numpy(hint)[None].to(device))[:, None]
    image = None
    if cc.uses_image:
        image = torch.from_numpy(thumbnail_image(thumbnail_png, cc.image_size_px))[None].to(device)
    tokens = (encode or model.cond_encoder)(audio_mel=mel, image=image)
    return tokens[0].float().cpu().numpy()


def preset_condition(preset, model: Stylizer, checkpoint_id: str,
                     device: str | torch.device = "cpu", encode=None) -> tuple[torch.Tensor, bool]:
    """(tokens (1, L, context_dim) on ``device``, re-embedded?) for a preset and a checkpoint.

    Stored tokens are reused only when they were made by this checkpoint and fit its context width;
    otherwise the reference is embedded again and the preset updated in place.
    """
    stored = (preset.embeddings or {}).get(EMBEDDING_KEY)
    d = model.config.condition.context_dim
    fresh = False
    if (preset.embeddings_checkpoint != checkpoint_id or stored is None or np.ndim(stored) != 2
            or np.shape(stored)[1] != d or not np.all(np.isfinite(stored))):
        stored = embed_reference(model, preset.reference, preset.reference_rate_hz,
                                 getattr(preset, "thumbnail_png", None), device, encode)
        preset.embeddings = {**(preset.embeddings or {}), EMBEDDING_KEY: stored}
        preset.embeddings_checkpoint = checkpoint_id
        fresh = True
    tokens = torch.from_numpy(np.asarray(stored, dtype=np.float32))[None].to(device)
    return tokens, fresh
