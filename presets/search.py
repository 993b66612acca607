"""Presets compared by scene: the learned estimator's embeddings, nearest first.

Names say little about a scene ("Day 3 hallway"), and profiles mix units; the scene estimator's
embedding places rooms and ambiences that sound alike near each other. Only embeddings from the
same estimator checkpoint are comparable, so presets made by another one (or by DSP alone) are
left out rather than compared across spaces.
"""

from __future__ import annotations

import numpy as np

from engine.errors import PresetError
from presets.create import SCENE_EMBEDDING_KEY
from presets.store import ScenePreset


def scene_embedding(preset: ScenePreset) -> tuple[str, np.ndarray] | None:
    """(estimator id, unit-length embedding) of a preset, or None if it has none."""
    vector = (preset.embeddings or {}).get(SCENE_EMBEDDING_KEY)
    estimator = (preset.source or {}).get("analysis", {}).get("estimator")
    if vector is None or not isinstance(estimator, str) or estimator == "dsp":
        return None
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    return (estimator, v / norm) if norm > 0 and np.isfinite(norm) else None


def similar_presets(target: ScenePreset, candidates: list[ScenePreset]) -> list[tuple[ScenePreset, float]]:
    """Candidates by cosine distance to ``target``'s scene (0 = same scene), nearest first."""
    mine = scene_embedding(target)
    if mine is None:
        raise PresetError(f"preset {target.name!r} has no scene embedding; re-create it from its reference")
    out = []
    for p in candidates:
        if p.id == target.id:
            continue
        theirs = scene_embedding(p)
        if theirs is not None and theirs[0] == mine[0] and theirs[1].shape == mine[1].shape:
            out.append((p, float(1.0 - np.dot(mine[1], theirs[1]))))
    return sorted(out, key=lambda t: t[1])
