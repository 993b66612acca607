"""The scene estimator's corpus: many rooms x talkers x ambiences x degradations, with truth.

Each simulated room (``engine.kit.geometry``) gives a few microphone positions; each impulse
response is heard through several references (other talkers, ambiences, SNRs, lengths and
production degradations), so the expensive simulation is shared while what the network sees
varies. The truth comes from the impulse response itself (per-octave T30, DRR, C50, third-octave
response) and from the two stems (ambience-to-speech loudness). Only features are stored
(``engine.scene.features.band_levels_db``), one ``.npz`` shard per room, written atomically and
named by room index: a re-run skips finished rooms, and a corpus is a pure function of its
config.
"""

from __future__ import annotations

import functools
import json
import os
import zlib
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "heldout")
HELD_OUT_AMBIENCES: frozenset[str] = frozenset({"real:restaurant", "real:river", "real:thunder", "proc:traffic"})
_HELDOUT_SEED_OFFSET = 1_000_000


@dataclass(frozen=True)
class SceneCorpusConfig:
    # Many rooms heard a few times each: the room simulation is cheap next to rendering a
    # reference, and the estimator's error fell with the number of rooms, not references.
    rooms: int = 5000
    mics_per_room: int = 2
    references_per_mic: int = 2
    min_seconds: float = 5.0
    max_seconds: float = 20.0
    sample_rate_hz: int = 48000
    split: str = "train"
    seed: int = 0


def target_names() -> list[str]:
    """The regression targets, in the order of a shard's ``targets`` columns."""
    from engine.scene.features import FEATURE_BANDS_HZ
    from engine.scene.profile import OCTAVE_BANDS_HZ

    return (
        [f"rt60_{int(b)}" for b in OCTAVE_BANDS_HZ] + ["drr", "c50", "amb_to_speech"]
        + [f"resp_{b:g}" for b in FEATURE_BANDS_HZ]
    )


def render_scene_corpus(out: str | Path, config: SceneCorpusConfig, workers: int = 1, log=None) -> Path:
    """Render every missing room shard of ``config`` into ``out`` (resumable; see module docstring)."""
    if config.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {config.split!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "corpus.json"
    cfg = {**asdict(config), "targets": target_names()}
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if {k: old.get(k) for k in cfg if k != "rooms"} != {k: v for k, v in cfg.items() if k != "rooms"}:
            raise ValueError(f"{out} holds a corpus with another config; use a new folder")
    tmp = cfg_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg, indent=2))
    os.replace(tmp, cfg_path)
    todo = [i for i in range(config.rooms) if not (out / f"room-{i:06d}.npz").exists()]
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.time()
    jobs = [(out, config, i) for i in todo]
    if workers <= 1:
        results = map(_render_star, jobs)
    else:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers, initializer=_single_thread)
        results = pool.imap_unordered(_render_star, jobs)
    try:
        for n, problem in enumerate(results):
            if problem:
                log(problem)
            if (n + 1) % 10 == 0 or n + 1 == len(todo):
                log(f"room {n + 1}/{len(todo)} ({time.time() - t0:.0f} s)")
    finally:
        if workers > 1:
            pool.close()
            pool.join()
    return out


def _single_thread() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"


def _render_star(args) -> str | None:
    """One room in a worker; a room that cannot be simulated is reported, not fatal to the corpus."""
    from engine.errors import RoomtoneError

    try:
        render_room_shard(*args)
    except (RoomtoneError, ValueError) as exc:
        return f"room {args[2]} skipped: {exc}"
    return None


def room_seed(config: SceneCorpusConfig, index: int) -> np.random.SeedSequence:
    offset = _HELDOUT_SEED_OFFSET if config.split == "heldout" else 0
    return np.random.SeedSequence([config.seed, offset + index])


def render_room_shard(out: Path, config: SceneCorpusConfig, index: int) -> Path:
    """One room's references as features + truth, written to ``room-<index>.npz`` atomically."""
    from engine.kit.geometry import HELD_OUT_FAMILIES, TRAIN_FAMILIES, simulate_room

    rng = np.random.default_rng(room_seed(config, index))
    families = HELD_OUT_FAMILIES if config.split == "heldout" else TRAIN_FAMILIES
    family = families[int(rng.integers(len(families)))]
    room = simulate_room(family, rng, config.sample_rate_hz, mics=config.mics_per_room)
    talkers = TalkerPool(rng, config.split, config.sample_rate_hz)
    feats, lengths, targets, meta = [], [], [], []
    for m, rir in enumerate(room.rirs):
        truth = rir_truth(rir, config.sample_rate_hz)
        for _ in range(config.references_per_mic):
            levels, amb_to_speech, info = render_reference(rir, config, rng, talkers)
            row = truth.copy()
            row[9] = amb_to_speech
            feats.append(levels.astype(np.float16))
            lengths.append(levels.shape[0])
            targets.append(row)
            meta.append({"family": family, "mic": m, "distance_m": room.distances_m[m], **info})
    path = out / f"room-{index:06d}.npz"
    tmp = out / f".room-{index:06d}.{os.getpid()}.tmp.npz"
    np.savez(
        tmp, features=np.concatenate(feats), lengths=np.asarray(lengths, dtype=np.int32),
        targets=np.asarray(targets, dtype=np.float32), meta=np.asarray(json.dumps(meta)),
    )
    os.replace(tmp, path)
    return path


def rir_truth(rir: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Truth row (``target_names`` order) of one impulse response; the ambience column is NaN."""
    from engine.kit.acoustics import band_rt60_s, clarity_c50_db, drr_db, third_octave_response_db
    from engine.scene.features import FEATURE_BANDS_HZ
    from engine.scene.profile import OCTAVE_BANDS_HZ

    rt = band_rt60_s(without_direct(rir, sample_rate_hz), sample_rate_hz, OCTAVE_BANDS_HZ)
    resp = third_octave_response_db(rir, sample_rate_hz, FEATURE_BANDS_HZ)
    return np.concatenate([
        np.log(np.clip(rt, 0.05, 12.0)),
        [np.clip(drr_db(rir, sample_rate_hz), -25.0, 30.0), np.clip(clarity_c50_db(rir, sample_rate_hz), -20.0, 40.0), np.nan],
        resp,
    ]).astype(np.float32)


def without_direct(rir: np.ndarray, sample_rate_hz: int, half_window_ms: float = 2.5) -> np.ndarray:
    """The response with its direct sound (the DRR's +-2.5 ms window) removed.

    ISO 3382's T30 starts its fit 5 dB below the start of the energy decay, which assumes the
    direct sound is a small part of the energy; a close microphone (DRR +20 dB) would put the
    whole fit on the cliff after the direct sound and read a 3 s hall as 0.1 s. The room's
    decay is the reverberant part's.
    """
    from engine.kit.acoustics import direct_index

    h = np.array(rir, dtype=np.float64)
    peak = direct_index(h)
    half = int(round(half_window_ms * 1e-3 * sample_rate_hz))
    h[max(0, peak - half) : peak + half + 1] = 0.0
    return h


def ambience_names(split: str) -> list[str]:
    from engine.kit.ambience import PROCEDURAL_KINDS, list_real_ambiences

    names = [f"real:{n}" for n in list_real_ambiences()] + [f"proc:{k}" for k in PROCEDURAL_KINDS]
    return [n for n in names if (n in HELD_OUT_AMBIENCES) == (split == "heldout")]


class TalkerPool:
    """A few talkers' lines synthesised once per room and reused by its references.

    espeak-ng runs as a subprocess (~50 ms a line); drawing fresh lines for every reference
    would cost more than the room simulation. Every room still brings new talkers.
    """

    def __init__(self, rng: np.random.Generator, split: str, sample_rate_hz: int, talkers: int = 2, lines: int = 5) -> None:
        from engine.kit.voices import talker_lines

        self.split = split
        self.lines = [talker_lines(rng, split, lines, sample_rate_hz)[1] for _ in range(talkers)]


def reference_speech(seconds: float, sample_rate_hz: int, rng: np.random.Generator, pool: TalkerPool) -> np.ndarray:
    """Dry speech of one or two talkers with natural pauses (some lines nearly run together)."""
    from engine.kit.speech import alsa_voice

    n = int(round(seconds * sample_rate_hz))
    out = np.zeros(n, dtype=np.float32)
    if pool.split == "train" and rng.uniform() < 0.1:  # the one real voice we have, looped with pauses
        real = alsa_voice(sample_rate_hz)[:, 0]
        start = int(rng.integers(real.size))
        out[:] = np.tile(real, n // real.size + 2)[start : start + n]
        return out
    who = rng.choice(len(pool.lines), size=1 if rng.uniform() < 0.7 else 2, replace=False)
    pos = int(rng.uniform(0.05, 0.5) * sample_rate_hz)
    while pos < n:
        lines = pool.lines[int(rng.choice(who))]
        x = lines[int(rng.integers(len(lines)))]
        x = x * np.float32(10 ** (rng.uniform(-4, 4) / 20) / max(float(np.sqrt(np.mean(x**2))), 1e-9) * 0.07)
        take = min(x.size, n - pos)
        out[pos : pos + take] += x[:take]
        pos += x.size + int(rng.uniform(0.08, 1.4) * sample_rate_hz)
    return out


def render_reference(
    rir: np.ndarray, config: SceneCorpusConfig, rng: np.random.Generator, talkers: TalkerPool
) -> tuple[np.ndarray, float, dict]:
    """One reference through ``rir``: (band levels, ambience-to-speech LU, what was drawn)."""
    from scipy.signal import oaconvolve

    from engine.audio.loudness import integrated_loudness
    from engine.kit.degrade import degrade
    from engine.kit.scene import ambience_source
    from engine.scene.features import band_levels_db

    sr = config.sample_rate_hz
    seconds = float(rng.uniform(config.min_seconds, config.max_seconds))
    dry = reference_speech(seconds, sr, rng, talkers)
    wet = oaconvolve(dry.astype(np.float64), rir.astype(np.float64))[: dry.size]
    names = ambience_names(config.split)
    amb_name = names[int(rng.integers(len(names)))]
    if amb_name.startswith("proc:"):
        bed = _procedural_bed(amb_name, sr, int(rng.integers(4)))
        start = int(rng.integers(bed.size - dry.size))
        amb = bed[start : start + dry.size].astype(np.float64)
    else:
        amb = ambience_source(amb_name, seconds, sr, rng)[: dry.size, 0].astype(np.float64)
    amb = np.pad(amb, (0, dry.size - amb.size))
    snr_db = float(rng.uniform(0.0, 35.0))
    wet_lufs = integrated_loudness(wet[:, None], sr)
    amb_lufs_raw = integrated_loudness(amb[:, None], sr)
    amb *= 10 ** ((wet_lufs - snr_db - amb_lufs_raw) / 20)
    mix = wet + amb
    mix += rng.standard_normal(mix.size) * 10 ** (rng.uniform(-100, -75) / 20)  # mic self-noise
    mix *= 10 ** (rng.uniform(-30, -3) / 20) / max(float(np.max(np.abs(mix))), 1e-9)
    mix32, degradation = degrade(mix.astype(np.float32), sr, rng)
    levels = band_levels_db(mix32, sr)
    return levels, -snr_db, {"ambience": amb_name, "seconds": round(seconds, 2), "degradation": degradation}


@functools.lru_cache(maxsize=24)
def _procedural_bed(name: str, sample_rate_hz: int, variant: int) -> np.ndarray:
    """A 40 s procedural bed per (kind, variant), drawn from at random offsets.

    Synthesising a fresh bed per reference cost more than simulating the room; four variants
    per kind and random 5-16 s windows keep the beds varied.
    """
    from engine.kit.scene import ambience_source

    seed = np.random.SeedSequence([zlib.crc32(name.encode()), variant])
    return ambience_source(name, 40.0, sample_rate_hz, np.random.default_rng(seed))[:, 0].copy()


def load_scene_corpus(folder: str | Path) -> tuple[list[np.ndarray], np.ndarray, list[dict]]:
    """(per-reference band levels, targets (n, T), meta) of every shard in ``folder``."""
    feats, targets, meta = [], [], []
    for path in sorted(Path(folder).glob("room-*.npz")):
        with np.load(path) as z:
            f, lengths = z["features"], z["lengths"]
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            feats += [f[offsets[i] : offsets[i + 1]] for i in range(lengths.size)]
            targets.append(z["targets"])
            meta += json.loads(str(z["meta"]))
    if not feats:
        raise FileNotFoundError(f"no room-*.npz shards in {folder}; run `roomtone train scene-corpus` first")
    return feats, np.concatenate(targets), meta
