"""Scene retrieval: is each output closer to its own scene's truth than to any other scene's?

Why: per-metric errors can look fine on average while every output drifts to the same generic
"medium room with some noise". Retrieval asks whether an output is recognisably ITS scene.

Descriptor distance: each descriptor group (log2 RT60 over 250 Hz-4 kHz, DRR, ambience level,
octave ambience-spectrum shape; see ``SceneMeasures.descriptor``) is z-scored with the spread of
that dimension over the truths of the test set, and divided by sqrt(its size), so each of the
four groups weighs the same whatever its number of dimensions. Euclidean distance on top.
"""

from __future__ import annotations

import numpy as np

from engine.evaluation.metrics import SceneMeasures


def retrieval_hits(outputs: list[SceneMeasures], truths: list[SceneMeasures]) -> list[float]:
    """1.0 where output i's nearest truth is truth i, else 0.0 (outputs[i] belongs to truths[i])."""
    if len(outputs) != len(truths):
        raise ValueError("one output per truth is needed")
    if len(truths) < 2:
        return [1.0] * len(truths)
    truth_vectors = _vectors(truths)
    output_vectors = _vectors(outputs)
    scale = np.std(truth_vectors, axis=0)
    scale[~(scale > 1e-9)] = 1.0
    weights = _group_weights(truths[0])
    t = truth_vectors / scale * weights
    o = output_vectors / scale * weights
    distances = np.linalg.norm(o[:, None, :] - t[None, :, :], axis=2)
    return [float(np.argmin(row) == i) for i, row in enumerate(distances)]


def _vectors(items: list[SceneMeasures]) -> np.ndarray:
    return np.array([np.concatenate(list(m.descriptor().values())) for m in items], dtype=np.float64)


def _group_weights(example: SceneMeasures) -> np.ndarray:
    groups = example.descriptor()
    return np.concatenate([np.full(v.size, 1.0 / np.sqrt(v.size)) for v in groups.values()])
