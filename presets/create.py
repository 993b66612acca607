"""Making a preset from a reference clip: engine analysis in, a ScenePreset out (with its scene embedding and
the diffusion checkpoint's condition tokens, when one is available)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.progress import CancelToken, ProgressCallback
from presets.store import ScenePreset

SCENE_EMBEDDING_KEY = "scene"  # (1, dim) float32: the learned scene estimator's embedding


def preset_from_reference(
    name: str,
    path: str | Path,
    frame_s: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ScenePreset:
    """Analyse a reference (audio or video) into an unsaved preset; Library.add() stores it."""
    from engine.scene import analyse_reference, load_reference

    path = Path(path)
    audio, rate, thumbnail = load_reference(path, frame_s=frame_s)
    analysis = analyse_reference(audio, rate, progress=progress, cancel=cancel)
    source = {
        "kind": "video" if thumbnail is not None else "audio",
        "file": path.name,
        "duration_s": round(len(audio) / rate, 3),
        "sample_rate_hz": rate,
        "channels": int(audio.shape[1]),
        "speech_fraction": round(float(analysis.speech_fraction), 3),
    }
    if frame_s is not None:
        source["frame_s"] = frame_s
    # Which estimator made the profile (the design's "a preset records which made it"), and its
    # scene embedding so presets can be compared and searched by scene.
    source["analysis"] = {"estimator": analysis.estimator, "learned": list(analysis.learned_fields)}
    embeddings = {}
    if analysis.scene_embedding is not None:
        embeddings[SCENE_EMBEDDING_KEY] = analysis.scene_embedding[None, :]
    checkpoint = None
    condition = condition_embeddings(analysis.reference_excerpt, analysis.excerpt_sample_rate_hz, thumbnail)
    if condition is not None:
        tokens, checkpoint = condition
        embeddings.update(tokens)
    return ScenePreset.from_analysis(name, analysis, source=source, thumbnail_png=thumbnail, embeddings=embeddings,
                                     embeddings_checkpoint=checkpoint)


def condition_embeddings(reference: np.ndarray, rate_hz: int,
                         thumbnail_png: bytes | None) -> tuple[dict[str, np.ndarray], str] | None:
    """({EMBEDDING_KEY: tokens}, checkpoint id) from the diffusion checkpoint renders would use, so a
    new preset's first diffusion render embeds nothing; None when no checkpoint is available (the
    preset is then made without them, and its first diffusion render embeds it)."""
    from engine import engine_status

    if not engine_status("diffusion")[0]:
        return None
    from engine.stylize.condition import EMBEDDING_KEY, embed_with_available_checkpoint

    embedded = embed_with_available_checkpoint(reference, rate_hz, thumbnail_png)
    if embedded is None:
        return None
    tokens, checkpoint = embedded
    return {EMBEDDING_KEY: tokens}, checkpoint
