"""A synthetic corpus of long "recordings" made with the scene kit, shaped like real data.

Each recording is ONE scene held fixed for minutes -- one room, one microphone, one ambience,
one SNR -- with many utterances by a small cast of talkers taking turns, which is exactly the
property of real video the pretext task relies on (two windows of one recording share a
scene). Optionally a 256 px still is drawn with numpy from the scene's truth (hue from the
ambience, wall texture and brightness from the decay, perspective from the room size), so the
visual branch has something learnable to look at.

Layout of a corpus folder::

    corpus.json          manifest: the scene truth of every recording (SceneSpec, talkers, RT60s)
    rec_00000.flac       16 kHz mono PCM_24
    rec_00000.png        the still (``--no-images`` leaves it out)

Held-out scenes: a corpus is made from ``(split, seed)``. Training corpora take seeds in
[0, HELDOUT_SEED_OFFSET); ``split='heldout'`` adds HELDOUT_SEED_OFFSET (1,000,000) to the seed, so
held-out corpora draw from a seed range no training corpus can use, and recording i's scene
comes from SeedSequence([effective_seed, i]). Same (split, seed, counts) -> the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "heldout")
HELDOUT_SEED_OFFSET = 1_000_000
MANIFEST = "corpus.json"
FORMAT = "roomtone.train.corpus"
IMAGE_SIZE_PX = 256


@dataclass(frozen=True)
class CorpusConfig:
    recordings: int
    minutes: float
    seed: int = 0
    split: str = "train"
    sample_rate_hz: int = 16000
    images: bool = True
    max_talkers: int = 3
    turn_range_s: tuple[float, float] = (6.0, 25.0)  # one talker speaks this long before the next

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if not 0 <= self.seed < HELDOUT_SEED_OFFSET:
            raise ValueError(f"seed must be in [0, {HELDOUT_SEED_OFFSET}); held-out scenes use --split heldout")
        if self.recordings <= 0 or self.minutes <= 0 or self.max_talkers <= 0:
            raise ValueError("recordings, minutes and max_talkers must be positive")

    @property
    def effective_seed(self) -> int:
        return self.seed + (HELDOUT_SEED_OFFSET if self.split == "heldout" else 0)


def scene_image(spec: Any, size_px: int = IMAGE_SIZE_PX, seed: int = 0) -> np.ndarray:
    """A still (size, size, 3) uint8 that depends on the scene, drawn with numpy.

    Cues, each tied to one acoustic fact: hue <- ambience name; brightness and smoothness of the
    walls <- mid RT60 (hard, live rooms are pale and smooth, dead ones dark and textured); size
    of the back wall and tile pitch <- room volume (a big hall's far wall looks small); outdoor
    scenes get a sky. A little seeded noise keeps two scenes with equal truth from being identical.
    """
    rng = np.random.default_rng(seed)
    hue = int(hashlib.sha256(spec.ambience.encode()).hexdigest()[:6], 16) % 360 / 360.0
    rt60 = float(spec.room.mid_rt60_s())
    live = float(np.clip(np.log(rt60 / 0.2) / np.log(25.0), 0.0, 1.0))  # 0.2 s -> 0, 5 s -> 1
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    base = _hsv_to_rgb(hue, 0.55 - 0.3 * live, 0.35 + 0.5 * live)
    if spec.room.kind == "outdoor":
        sky = _hsv_to_rgb(0.58, 0.5, 0.9)
        horizon = 0.45 + 0.1 * rng.uniform()
        img = np.where((yy < horizon)[..., None], sky * (1.0 - 0.4 * yy[..., None]), base)
        img = img + 0.08 * (np.sin(xx * 60.0 + 4.0 * yy) > 0.7)[..., None] * (yy > horizon)[..., None]
    else:
        volume = float(spec.room.volume_m3)
        margin = float(np.clip(0.12 + 0.08 * np.log10(volume), 0.1, 0.4))  # bigger room -> smaller far wall
        inside = (xx > margin) & (xx < 1 - margin) & (yy > margin * 0.8) & (yy < 1 - margin * 1.2)
        floor = yy > 1 - margin * 1.2
        pitch = 4.0 + 12.0 * np.log10(volume)  # tiles per image width
        tiles = (np.sin(xx * pitch * np.pi) * np.sin(yy * pitch * np.pi) > 0).astype(np.float64)
        texture = (1.0 - live) * 0.25 * rng.standard_normal((size_px, size_px))
        img = base[None, None] * (0.75 + 0.1 * tiles + texture)[..., None]
        img = np.where(inside[..., None], img * 1.15, img)
        img = np.where(floor[..., None], img * 0.6, img)
    img = img + 0.02 * rng.standard_normal(img.shape)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.asarray(colorsys.hsv_to_rgb(h, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))))


def _dry_speech(seconds: float, sample_rate_hz: int, talkers: list[Any], turn_range_s: tuple[float, float],
                rng: np.random.Generator) -> np.ndarray:
    """Turns of the cast, one talker at a time, each turn several utterances long."""
    from engine.kit.speech import speech_source

    n = int(round(seconds * sample_rate_hz))
    parts, total, last = [], 0, -1
    while total < n:
        choices = [i for i in range(len(talkers)) if i != last] or [0]
        last = choices[int(rng.integers(len(choices)))]
        turn_s = min(float(rng.uniform(*turn_range_s)), (n - total) / sample_rate_hz)
        turn_s = max(turn_s, 1.0 / sample_rate_hz)
        part = speech_source(turn_s, sample_rate_hz, rng, speaker=talkers[last])[:, 0]
        parts.append(part)
        total += part.size
    return np.concatenate(parts)[:n]


def render_audio(config: CorpusConfig, index: int) -> tuple[Any, list[Any]]:
    """(SceneRecording, talkers) of recording ``index``: the same bytes every call, which is what
    lets an evaluation recover a recording's dry speech without the corpus having stored it."""
    from engine.kit.scene import random_scene, render_scene
    from engine.kit.speech import random_speaker

    rng = np.random.default_rng(np.random.SeedSequence([config.effective_seed, index]))
    spec = random_scene(rng)
    talkers = [random_speaker(rng) for _ in range(int(rng.integers(1, config.max_talkers + 1)))]
    seconds = config.minutes * 60.0
    dry = _dry_speech(seconds, config.sample_rate_hz, talkers, config.turn_range_s, rng)
    return render_scene(spec, seconds, config.sample_rate_hz, speech=dry), talkers


def render_recording(config: CorpusConfig, index: int, out_dir: Path) -> dict[str, Any]:
    """Render recording ``index`` into ``out_dir``; returns its manifest entry."""
    import soundfile as sf
    from PIL import Image

    rec, talkers = render_audio(config, index)
    spec, seconds = rec.spec, config.minutes * 60.0
    name = f"rec_{index:05d}"
    sf.write(out_dir / f"{name}.flac", rec.mix[:, 0], config.sample_rate_hz, subtype="PCM_24")
    entry: dict[str, Any] = {
        "id": name, "audio": f"{name}.flac", "image": None, "seconds": seconds,
        "scene": {"room": asdict(spec.room), "ambience": spec.ambience, "snr_db": spec.snr_db, "seed": spec.seed},
        "talkers": [asdict(t) for t in talkers],
        "rt60_band_s": [round(float(v), 4) for v in rec.rt60_band_s],
        "drr_db": round(float(rec.drr_db), 3),
    }
    if config.images:
        Image.fromarray(scene_image(spec, seed=spec.seed)).save(out_dir / f"{name}.png", optimize=False)
        entry["image"] = f"{name}.png"
    return entry


def read_corpus_config(folder: str | Path) -> CorpusConfig:
    """The config a corpus folder was made with (from its manifest)."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder}: not a roomtone training corpus (no {MANIFEST} of format {FORMAT})")
    config = dict(manifest["config"])
    return CorpusConfig(**{**config, "turn_range_s": tuple(config["turn_range_s"])})


def write_corpus(config: CorpusConfig, out_dir: str | Path, workers: int = 1) -> Path:
    """Render every recording, then write the manifest last (a folder with corpus.json is complete)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    indices = range(config.recordings)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            entries = list(pool.map(render_recording, [config] * len(indices), indices, [out] * len(indices)))
    else:
        entries = [render_recording(config, i, out) for i in indices]
    manifest = {"format": FORMAT, "version": 1, "config": {**asdict(config), "turn_range_s": list(config.turn_range_s)},
                "effective_seed": config.effective_seed, "recordings": entries}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST)
    return out / MANIFEST
