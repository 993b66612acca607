"""Precompute the training pairs once: DeepFilterNet runs ~7x real time per core, far too slow
to sit inside the training loop, so ``roomtone train prepare`` writes every (target, enhanced,
condition[, frame]) example to safetensors shards that the Dataset then only reads.

Per recording: load mono 16 kHz -> cut 10 s clips -> silero-vad keeps clips with at least
``min_speech_s`` of speech -> H runs on the WHOLE clip (DF's recurrent state and WPE's filter
see context, not a 2.56 s fragment) -> ``pairs_per_clip`` pretext pairs are cut from it.

Cache layout (``<data>/.roomtone-cache/<key>/`` by default; the key hashes this config, so
ablations of H never share a cache)::

    index.json                 config, shard list, per-example provenance
    train-00000.safetensors    target, enhanced, condition: float32 (N, samples); image: uint8 (N, 3, P, P)
    val-00000.safetensors      the validation recordings (whole recordings are held out, never clips)
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.train.enhance import EnhanceConfig, enhance
from engine.train.media import Recording, list_recordings, load_mono, load_still, video_frames
from engine.train.pairs import CLIP_S, WINDOW_S, PretextSampler, split_clips

CACHE_DIRNAME = ".roomtone-cache"
INDEX = "index.json"
FORMAT = "roomtone.train.cache"


@dataclass(frozen=True)
class PrepareConfig:
    sample_rate_hz: int = 16000
    clip_s: float = CLIP_S
    window_s: float = WINDOW_S
    pairs_per_clip: int = 2
    min_speech_s: float = 1.0  # a clip with less speech than this (silero-vad) is dropped
    min_target_speech: float = 0.3  # re-draw a pair (up to 8 times) until the target is this much speech
    image_px: int = 224  # stored size; the Dataset resizes to the model's image_size_px
    val_fraction: float = 0.1
    shard_size: int = 256
    seed: int = 0
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate_hz))

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_s * self.sample_rate_hz))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PrepareConfig":
        return cls(**{**data, "enhance": EnhanceConfig(**data["enhance"])})

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def default_cache_dir(data_dir: str | Path, config: PrepareConfig) -> Path:
    return Path(data_dir) / CACHE_DIRNAME / config.key()


def validation_split(recordings: list[Recording], root: Path, fraction: float) -> set[int]:
    """Whole recordings go to validation, chosen by a hash of their path (stable as the folder
    grows); at least one when there are two or more recordings and fraction > 0."""
    if fraction <= 0 or len(recordings) < 2:
        return set()
    scores = [int(hashlib.sha256(r.path.relative_to(root).as_posix().encode()).hexdigest()[:8], 16) / 2**32
              for r in recordings]
    chosen = {i for i, s in enumerate(scores) if s < fraction}
    return chosen or {int(np.argmin(scores))}


def recording_examples(recording: Recording, index: int, config: PrepareConfig) -> dict[str, Any]:
    """All pairs of one recording as stacked arrays (empty arrays when no clip has speech)."""
    from engine.scene.vad import speech_mask, speech_segments

    rate = config.sample_rate_hz
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, index]))
    wave = load_mono(recording.path, rate)
    speech = speech_mask(speech_segments(wave, rate), wave.shape[0], rate)
    sampler = PretextSampler(config.window_samples)
    rows: dict[str, list[Any]] = {k: [] for k in ("target", "enhanced", "condition", "starts")}
    frame_times: list[float] = []
    for clip in split_clips(wave.shape[0], config.clip_samples, sampler.min_clip_samples):
        clip_speech = speech[clip.start:clip.stop]
        if clip_speech.sum() < config.min_speech_s * rate:
            continue
        clip_wave = wave[clip.start:clip.stop]
        enhanced = enhance(clip_wave, rate, config.enhance, rng)
        for _ in range(config.pairs_per_clip):
            for _attempt in range(8):
                pair = sampler.sample(clip.length, rng)
                if clip_speech[pair.target.start:pair.target.stop].mean() >= config.min_target_speech:
                    break
            t, c = pair.target, pair.condition
            rows["target"].append(clip_wave[t.start:t.stop])
            rows["enhanced"].append(enhanced[t.start:t.stop])
            rows["condition"].append(clip_wave[c.start:c.stop])
            rows["starts"].append((clip.start + t.start, clip.start + c.start))
            frame_times.append((clip.start + pair.frame_sample) / rate)
    n, w = len(rows["target"]), config.window_samples
    out: dict[str, Any] = {k: (np.stack(rows[k]).astype(np.float32) if n else np.zeros((0, w), np.float32))
                           for k in ("target", "enhanced", "condition")}
    out["starts"] = np.asarray(rows["starts"], dtype=np.int64).reshape(n, 2)
    if recording.has_picture and n:
        if recording.is_video:
            out["image"] = np.stack(video_frames(recording.path, frame_times, config.image_px))
        else:
            still = load_still(recording.image, config.image_px)  # type: ignore[arg-type]
            out["image"] = np.repeat(still[None], n, axis=0)
    return out


class _ShardWriter:
    """Buffers examples and writes fixed-size shards; the last, partial one on close."""

    def __init__(self, directory: Path, split: str, shard_size: int, with_images: bool) -> None:
        self.directory, self.split, self.shard_size, self.with_images = directory, split, shard_size, with_images
        self.buffer: list[dict[str, np.ndarray]] = []
        self.shards: list[dict[str, Any]] = []

    def add(self, example: dict[str, np.ndarray]) -> None:
        self.buffer.append(example)
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        import torch
        from safetensors.torch import save_file

        keys = ["target", "enhanced", "condition", "recording", "starts"] + (["image"] if self.with_images else [])
        tensors = {k: torch.from_numpy(np.stack([e[k] for e in self.buffer])) for k in keys}
        name = f"{self.split}-{len(self.shards):05d}.safetensors"
        save_file(tensors, str(self.directory / name))
        self.shards.append({"file": name, "examples": len(self.buffer)})
        self.buffer = []


def prepare_cache(data_dir: str | Path, config: PrepareConfig, cache_dir: str | Path | None = None,
                  workers: int = 1, log: Callable[[str], None] | None = None) -> Path:
    """Write the shard cache for every recording under ``data_dir``; returns the cache folder.

    Images are stored only when every recording has a picture: a batch must not mix examples
    with and without one (the audio-visual encoder needs both for every example).
    """
    root = Path(data_dir)
    out = Path(cache_dir) if cache_dir is not None else default_cache_dir(root, config)
    out.mkdir(parents=True, exist_ok=True)
    recordings = list_recordings(root)
    if not recordings:
        raise FileNotFoundError(f"{root}: no audio or video recordings found")
    with_images = all(r.has_picture for r in recordings)
    val = validation_split(recordings, root, config.val_fraction)
    writers = {s: _ShardWriter(out, s, config.shard_size, with_images) for s in ("train", "val")}
    sources = []
    n = len(recordings)
    if workers > 1:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(recording_examples, recordings, range(n), [config] * n)
    else:
        pool = None
        results = (recording_examples(r, i, config) for i, r in enumerate(recordings))
    try:
        for i, (rec, ex) in enumerate(zip(recordings, results)):
            split = "val" if i in val else "train"
            count = ex["target"].shape[0]
            sources.append({"path": rec.path.relative_to(root).as_posix(), "split": split, "examples": count})
            for j in range(count):
                example = {k: ex[k][j] for k in ("target", "enhanced", "condition", "starts")}
                example["recording"] = np.int64(i)
                if with_images:
                    example["image"] = ex["image"][j]
                writers[split].add(example)
            if log:
                log(f"[{i + 1}/{n}] {rec.path.name}: {count} pairs ({split})")
    finally:
        if pool is not None:
            pool.shutdown()
    for w in writers.values():
        w.flush()
    index = {"format": FORMAT, "version": 1, "config": config.to_dict(), "with_images": with_images,
             "window_samples": config.window_samples, "sample_rate_hz": config.sample_rate_hz,
             "shards": {s: w.shards for s, w in writers.items()}, "recordings": sources}
    tmp = out / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / INDEX)
    return out


def find_cache(data_dir: str | Path) -> Path:
    """``data_dir`` itself if it is a cache, else its only (or newest) prepared cache."""
    root = Path(data_dir)
    if (root / INDEX).is_file():
        return root
    caches = sorted((p.parent for p in (root / CACHE_DIRNAME).glob(f"*/{INDEX}")), key=lambda p: p.stat().st_mtime)
    if not caches:
        raise FileNotFoundError(f"{root}: no prepared cache; run `roomtone train prepare --data {root}` first")
    return caches[-1]
