"""The procedural audio-visual set: one factor shared by picture and sound, so it has ground truth.

Scenes (label: picture <-> sound, intensity s in [0.15, 1]):
  0 clear: the base landscape            <-> real birdsong (engine.kit bundled recordings)
  1 rain:  streak density and darkness ~ s <-> procedural rain, level -42 + 24 s dBFS
  2 wind:  haze and sideways foliage smear ~ s <-> procedural wind, level -42 + 24 s dBFS
  3 water: ripples on the lake ~ s       <-> the real river recording, level -42 + 24 s dBFS
Base pictures are numpy-rendered (sky gradient, sun, fractal hills, a lake); nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SCENES = ("clear", "rain", "wind", "water")
SAMPLE_RATE_HZ = 16000


def _fractal_line(rng: np.random.Generator, w: int, octaves: int = 5) -> np.ndarray:
    x = np.zeros(w)
    for o in range(octaves):
        n = 2 ** (o + 2)
        pts = rng.standard_normal(n + 1) / (1.6 ** o)
        x += np.interp(np.linspace(0, n, w), np.arange(n + 1), pts)
    return x


def base_landscape(rng: np.random.Generator, px: int = 128) -> np.ndarray:
    """(px, px, 3) float in [0, 1]: sky, sun, two hill layers with grass texture, a lake band."""
    yy = np.linspace(0, 1, px)[:, None, None]
    top, horizon = rng.uniform([0.1, 0.3, 0.6], [0.4, 0.6, 0.95]), rng.uniform([0.6, 0.7, 0.8], [0.95, 0.95, 1.0])
    img = np.broadcast_to(top * (1 - yy) + horizon * yy, (px, px, 3)).copy()
    cx, cy = rng.uniform(0.15, 0.85) * px, rng.uniform(0.1, 0.35) * px
    Y, X = np.mgrid[:px, :px]
    sun = np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * (px * 0.05) ** 2))[..., None]
    img = img * (1 - sun) + np.array([1.0, 0.95, 0.7]) * sun
    lake_top = int(px * rng.uniform(0.72, 0.8))
    for k, (base, col) in enumerate([(0.45, rng.uniform([0.3, 0.4, 0.3], [0.5, 0.6, 0.5])),
                                     (0.6, rng.uniform([0.1, 0.35, 0.05], [0.3, 0.6, 0.2]))]):
        ridge = (base + 0.06 * _fractal_line(rng, px)) * px
        mask = (Y >= ridge[None, :])[..., None]
        tex = 1 + 0.12 * rng.standard_normal((px, px, 1))
        img = np.where(mask, col * tex * (0.8 + 0.2 * k), img)
    water = rng.uniform([0.15, 0.3, 0.45], [0.3, 0.45, 0.7])
    img[lake_top:] = water * (1 + 0.03 * rng.standard_normal((px - lake_top, px, 1)))
    return np.clip(img, 0, 1)


def apply_scene(img: np.ndarray, scene: str, s: float, rng: np.random.Generator) -> np.ndarray:
    """The picture side of a scene at intensity ``s`` (0 leaves the picture as is)."""
    px = img.shape[0]
    out = img.copy()
    if scene == "rain":
        out = out * (1 - 0.45 * s) + 0.45 * s * out.mean(axis=2, keepdims=True) * 0.8
        streaks = np.zeros((px, px))
        for _ in range(int(400 * s)):
            x0, y0, ln = rng.integers(0, px), rng.integers(-10, px), rng.integers(5, 12)
            for t in range(ln):
                y, x = y0 + t, x0 + t // 3
                if 0 <= y < px and 0 <= x < px:
                    streaks[y, x] = 1.0
        out = out * (1 - 0.6 * streaks[..., None]) + 0.85 * 0.6 * streaks[..., None]
    elif scene == "wind":
        shift = np.round(3 * s * np.sin(np.linspace(0, 6 * np.pi, px))).astype(int)
        smear = np.stack([np.roll(out[y], shift[y], axis=0) for y in range(px)])
        lower = (np.arange(px) > px * 0.4)[:, None, None]
        out = np.where(lower, 0.5 * (out + smear), out)
        out = out * (1 - 0.5 * s) + 0.5 * s * np.array([0.85, 0.85, 0.82])
    elif scene == "water":
        Y, X = np.mgrid[:px, :px]
        ripple = np.sin(Y * 1.7 + 0.3 * np.sin(X * 0.4)) * (Y > px * 0.7)
        out = out + (0.25 * s * ripple)[..., None] * np.array([0.8, 0.9, 1.0])
    return np.clip(out, 0, 1)


def scene_sound(scene: str, s: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """The sound side: mono float32 at SAMPLE_RATE_HZ; level rises with ``s`` (clear: birds at random level)."""
    from engine.kit.ambience import procedural_ambience, real_ambience

    if scene == "clear":
        x = real_ambience(str(rng.choice(["birds_morning_a", "birds_exotic"])), seconds, SAMPLE_RATE_HZ, rng)
        level_db = rng.uniform(-40, -22)
    elif scene == "water":
        x, level_db = real_ambience("river", seconds, SAMPLE_RATE_HZ, rng), -42 + 24 * s
    else:
        x, level_db = procedural_ambience(scene, seconds, SAMPLE_RATE_HZ, rng), -42 + 24 * s
    return (x[:, 0] * 10 ** ((level_db + 30.0) / 20)).astype(np.float32)  # ambience comes at -30 dBFS


def render_procedural_set(out: str | Path, examples: int, seed: int = 0, px: int = 128,
                          seconds: float = 2.0) -> Path:
    """Write ``examples`` png + flac pairs and meta.json (label, factor = s) into ``out``."""
    import soundfile as sf
    from PIL import Image

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    meta = {}
    for i in range(examples):
        rng = np.random.default_rng([seed, i])
        label = i % len(SCENES)
        scene = SCENES[label]
        s = 0.0 if scene == "clear" else float(rng.uniform(0.15, 1.0))
        img = apply_scene(base_landscape(rng, px), scene, s, rng)
        stem = f"{i:05d}_{scene}"
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(root / f"{stem}.png")
        sf.write(root / f"{stem}.flac", scene_sound(scene, s, seconds, rng), SAMPLE_RATE_HZ)
        meta[stem] = {"label": label, "factor": s, "scene": scene}
    (root / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return root
