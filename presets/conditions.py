"""Keeping a preset's re-embedded condition tokens between runs (engine.stylize.condition.ConditionStore).

A render with a checkpoint other than the one that embedded a preset embeds it again; without a
place to keep the result, every later run would too. A user preset takes the tokens back into its
own folder (one atomic ``save_preset``: the folder holds the old preset or the new, never half of
each). A factory preset is read-only and replaced with the program, so its tokens go to a cache
inside the user library (``CACHE_DIR``, a dot-folder the library never lists as a preset), one file
per (preset id, checkpoint id), tagged with a digest of what was embedded so that a rebuilt factory
preset is never given the old one's tokens.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.errors import PresetError, printable
from presets.store import EMBEDDINGS, MAX_FILE_BYTES, embeddings_as_used, load_preset, save_preset

CACHE_DIR = ".condition-cache"

_folder_locks_guard = threading.Lock()
_folder_locks: dict[Path, threading.Lock] = {}


def _folder_lock(folder: Path) -> threading.Lock:
    """One lock per preset folder: two checkpoints' tokens saved at once must not interleave swaps."""
    with _folder_locks_guard:
        return _folder_locks.setdefault(Path(folder).resolve(), threading.Lock())


@dataclass(frozen=True)
class UserPresetConditions:
    """Saves tokens back into the user preset stored in ``folder``."""

    folder: Path

    def load(self, preset, checkpoint_id: str) -> np.ndarray | None:
        return None  # a user preset's tokens are in its own embeddings, which the engine reads first

    def save(self, preset, checkpoint_id: str, tokens: np.ndarray) -> None:
        """Re-read the folder and write it back with the tokens, so a rename made since the preset
        was loaded is kept; nothing is written when the folder now holds another preset."""
        from engine.stylize.condition import EMBEDDING_KEY

        with _folder_lock(self.folder):
            current = load_preset(self.folder)
            if current.id != preset.id:
                raise PresetError(f"{printable(self.folder)} now holds preset {current.id}, not {preset.id}")
            if current.embeddings_checkpoint == checkpoint_id and EMBEDDING_KEY in current.embeddings:
                return  # another process kept them first
            embeddings = {**current.embeddings, EMBEDDING_KEY: np.asarray(tokens, dtype=np.float32)}
            save_preset(replace(current, embeddings=embeddings, embeddings_checkpoint=checkpoint_id), self.folder)


@dataclass(frozen=True)
class FactoryConditionCache:
    """Tokens of read-only presets, one safetensors file each in ``directory``."""

    directory: Path

    def path(self, preset, checkpoint_id: str) -> Path:
        checkpoint = hashlib.sha256(checkpoint_id.encode("utf-8")).hexdigest()[:16]
        return self.directory / f"{preset.id}.{checkpoint}.safetensors"

    def load(self, preset, checkpoint_id: str) -> np.ndarray | None:
        """The cached tokens when they were made from this preset's excerpt by this checkpoint; None
        for a missing, damaged or stale file (it is simply made again and replaced)."""
        from safetensors import safe_open

        from engine.stylize.condition import EMBEDDING_KEY, condition_digest

        path = self.path(preset, checkpoint_id)
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES[EMBEDDINGS]:
                return None
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if (meta.get("preset_id"), meta.get("checkpoint_id"), meta.get("digest")) != \
                        (preset.id, checkpoint_id, condition_digest(preset)):
                    return None
                tokens = {EMBEDDING_KEY: f.get_tensor(EMBEDDING_KEY)}
            return embeddings_as_used(tokens)[EMBEDDING_KEY]
        except Exception:  # unreadable, damaged (safetensors raises several types) or out of bounds: make anew
            return None

    def save(self, preset, checkpoint_id: str, tokens: np.ndarray) -> None:
        """Written to a temporary file beside the final one, then renamed over it (os.replace)."""
        from safetensors.numpy import save_file

        from engine.stylize.condition import EMBEDDING_KEY, condition_digest

        path = self.path(preset, checkpoint_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(handle)
        try:
            save_file({EMBEDDING_KEY: np.ascontiguousarray(tokens, dtype=np.float32)}, tmp,
                      metadata={"preset_id": preset.id, "checkpoint_id": checkpoint_id,
                                "digest": condition_digest(preset)})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def condition_store(folder: Path, factory: bool, user_dir: Path) -> UserPresetConditions | FactoryConditionCache:
    """Where the tokens of the preset read from ``folder`` are kept: its folder, or the library's cache."""
    return FactoryConditionCache(Path(user_dir) / CACHE_DIR) if factory else UserPresetConditions(Path(folder))
