"""A preset's condition for the diffusion engine: context tokens from its reference excerpt.

The tokens depend on the checkpoint's condition encoder, so a preset stores them in
``preset.embeddings[EMBEDDING_KEY]`` tagged with ``preset.embeddings_checkpoint`` (the checkpoint
id); ``presets.create`` embeds a new preset with the shipped checkpoint. A render with another
checkpoint (or of a preset never embedded) embeds the stored reference excerpt again.

``preset_condition`` never changes the preset: one preset object is shared by every renderer of a
batch, on several threads. It keeps the tokens in a process-wide memo keyed by (preset id,
checkpoint id, a digest of what is embedded), so a batch embeds once, not once per file, and hands
them once to the preset's ``condition_store`` (``ConditionStore``, set by presets.Library) to be
saved: back into a user preset's folder, or into a cache for a read-only factory preset.

What is embedded (the training recipe's hint clip, engine/train): ``HINT_SECONDS`` of the
reference, mono at the model rate, from its middle (the whole excerpt when shorter); for an
audio-visual or visual checkpoint, the preset's thumbnail, centre-cropped to the encoder's square
size; a preset without a thumbnail gets a flat mid-grey frame (the visual evidence is then simply
absent, which the audio tokens still carry).
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np
import torch

from engine.audio import resample
from engine.diffusion.checkpoint import available_checkpoint
from engine.diffusion.mel import MelFrontEnd
from engine.diffusion.models.stylizer import Stylizer
from engine.errors import RoomtoneError
from engine.runtime.select import MODELS

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
    # the renderer never imports training code).
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


class ConditionStore(Protocol):
    """Where a preset's re-embedded tokens are kept between runs (presets.conditions implements it)."""

    def load(self, preset, checkpoint_id: str) -> np.ndarray | None:
        """Tokens saved earlier for this preset and checkpoint, or None."""

    def save(self, preset, checkpoint_id: str, tokens: np.ndarray) -> None:
        """Keep ``tokens`` for the next run; raise OSError or RoomtoneError when it cannot."""


def condition_digest(preset) -> str:
    """What the condition encoder sees of a preset (reference excerpt, its rate, thumbnail), hashed:
    two presets with equal digests get equal tokens from one checkpoint, whatever their ids."""
    reference = np.ascontiguousarray(preset.reference, dtype=np.float32)
    digest = hashlib.sha256(f"{reference.shape}|{int(preset.reference_rate_hz)}|{HINT_SECONDS}|".encode())
    digest.update(reference.tobytes())
    digest.update(getattr(preset, "thumbnail_png", None) or b"")
    return digest.hexdigest()


def usable_tokens(tokens: object, context_dim: int) -> np.ndarray | None:
    """``tokens`` as float32 (tokens, context_dim) when they can condition this checkpoint, else None."""
    if tokens is None or np.ndim(tokens) != 2 or np.shape(tokens)[1] != context_dim or np.size(tokens) == 0:
        return None
    tokens = np.asarray(tokens, dtype=np.float32)
    return tokens if np.all(np.isfinite(tokens)) else None


class ConditionMemo:
    """Tokens embedded in this process, keyed by (preset id, checkpoint id, condition digest), at most
    ``capacity``. The id is in the key so that a duplicated preset (same excerpt, new id) gets its own
    tokens saved; the digest, so that a preset changed under the same id is embedded again.

    One lock per key: threads rendering the same preset wait for the first one's embedding and reuse
    it; different presets embed in parallel.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._tokens: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}

    def key_lock(self, key: tuple[str, str, str]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key: tuple[str, str, str]) -> np.ndarray | None:
        with self._lock:
            tokens = self._tokens.get(key)
            if tokens is not None:
                self._tokens.move_to_end(key)
            return tokens

    def put(self, key: tuple[str, str, str], tokens: np.ndarray) -> None:
        tokens = np.array(tokens, dtype=np.float32)  # a private, read-only copy: callers share it
        tokens.flags.writeable = False
        with self._lock:
            self._tokens[key] = tokens
            self._tokens.move_to_end(key)
            while len(self._tokens) > self.capacity:
                old, _ = self._tokens.popitem(last=False)
                self._key_locks.pop(old, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._key_locks.clear()


CONDITION_MEMO = ConditionMemo()
log = logging.getLogger("roomtone.presets")


def preset_condition(preset, model: Stylizer, checkpoint_id: str,
                     device: str | torch.device = "cpu", encode=None) -> tuple[torch.Tensor, bool]:
    """(tokens (1, L, context_dim) on ``device``, embedded by this call?) for a preset and a checkpoint.

    In order: the preset's own tokens when this checkpoint made them; tokens this process embedded
    already (CONDITION_MEMO); tokens its ``condition_store`` kept from an earlier run; else the
    reference is embedded now and handed to the store once. The preset itself is never changed.
    A store that cannot save costs a warning, not the render: the tokens are simply made again
    next run.
    """
    d = model.config.condition.context_dim
    tokens = None
    if preset.embeddings_checkpoint == checkpoint_id:
        tokens = usable_tokens((preset.embeddings or {}).get(EMBEDDING_KEY), d)
    fresh = False
    if tokens is None:
        key = (str(getattr(preset, "id", "")), checkpoint_id, condition_digest(preset))
        with CONDITION_MEMO.key_lock(key):
            tokens = CONDITION_MEMO.get(key)
            store: ConditionStore | None = getattr(preset, "condition_store", None)
            if tokens is None and store is not None:
                tokens = usable_tokens(store.load(preset, checkpoint_id), d)
            if tokens is None:
                tokens = embed_reference(model, preset.reference, preset.reference_rate_hz,
                                         getattr(preset, "thumbnail_png", None), device, encode)
                fresh = True
                if store is not None:
                    _save(store, preset, checkpoint_id, tokens)
            CONDITION_MEMO.put(key, tokens)
    return torch.from_numpy(np.array(tokens, dtype=np.float32))[None].to(device), fresh


def _save(store: ConditionStore, preset, checkpoint_id: str, tokens: np.ndarray) -> None:
    try:
        store.save(preset, checkpoint_id, tokens)
    except (OSError, RoomtoneError) as exc:
        log.warning("preset %r: could not keep its condition tokens for checkpoint %s (%s); they are made "
                    "again on the next run", getattr(preset, "name", "?"), checkpoint_id[:12], exc)


def embed_with_available_checkpoint(reference: np.ndarray, rate_hz: int,
                                    thumbnail_png: bytes | None = None) -> tuple[np.ndarray, str] | None:
    """(tokens, checkpoint id) from the checkpoint renders would use (the shipped one, or
    $ROOMTONE_CHECKPOINT), so a new preset renders without embedding; None when there is none."""
    path = available_checkpoint()
    if path is None:
        return None
    loaded = MODELS.get(path, "cpu")
    return embed_reference(loaded.model, reference, rate_hz, thumbnail_png), loaded.checkpoint_id
