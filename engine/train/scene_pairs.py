"""Supervised dry -> scene pairs for the diffusion engine, rendered on the fly from a bank.

The self-supervised pretext (engine.train.prepare) needs an enhancement pass per clip (DF3 + WPE,
~2x real time) and only ever sees the few scenes its corpus holds. Synthetic scenes need neither:
the dry line, the room's response and the ambience are known, so every part of the recording is
exact. What is slow to make -- rooms (pyroomacoustics), voices (espeak-ng), ambience beds -- is
made once into a *bank*; each training example is then drawn from it by index (two FFT
convolutions and a few gains, a few ms), so a run sees a new combination of room, microphone,
talker, line, ambience and level on every step.

An example (all mono, the model rate, one training window):

* ``enhanced``  -- the dry line plus the engine's light input noise (H at inference is the identity);
* ``reverb``    -- the line through the room's response without its direct sound (the +-2.5 ms DRR
  window); ``ambience`` -- the bed at a drawn ambience-to-speech level. These are the residual
  formulation's two targets: the engine adds them to the direct path it renders itself.
* ``target``    -- direct + reverb + ambience: the full formulation's (the paper's) target;
* ``condition`` -- the hint: another window of speech (often another talker) in the same room and
  ambience, at a random level and sometimes band-limited or coded like a real reference;
* ``image``     -- a still drawn from the scene's truth (engine.train.corpus.scene_image).

Levels follow the engine: the dry line at the model's speech level (MODEL_SPEECH_LUFS) and the room
scaled so the scene keeps the line's loudness, as the match engine's ``speech_gain`` does; the
residual is therefore in the units the engine adds it in.

Bank layout (``roomtone train scene-pairs``): ``bank.json`` + ``rooms-NNNN.npz`` (rooms, a few
microphones each) + ``voices-NNNN.npz`` (talkers, a few lines each) + ``ambience.npz``. Shards are
written atomically and skipped when present, so an interrupted build resumes; a split's banks are
drawn from its own room families, voices and ambiences (engine.kit.geometry, engine.kit.voices,
scene_corpus.HELD_OUT_AMBIENCES).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

# The engine's own levels, so training sees the input exactly as a render gives it to the model.
from engine.stylize.level import MODEL_SPEECH_LUFS
from engine.stylize.noise import INPUT_NOISE_STD

BANK_MANIFEST = "bank.json"
BANK_FORMAT = "roomtone.train.scene-pairs"
SPLITS = ("train", "heldout")
DIRECT_HALF_WINDOW_MS = 2.5  # the DRR's direct-sound window (engine.kit.acoustics.drr_db)
PRE_ROLL_S = 1.5  # speech before the window, so the window's reverb holds tails of earlier words
ROOMS_PER_SHARD = 20
TALKERS_PER_SHARD = 20
BED_SECONDS = 30.0
BED_VARIANTS = 3


@dataclass(frozen=True)
class BankConfig:
    rooms: int = 800
    mics_per_room: int = 2
    talkers: int = 200
    lines_per_talker: int = 6
    split: str = "train"
    seed: int = 0
    sample_rate_hz: int = 16000
    kit_room_share: float = 0.25  # engine.kit shoebox/outdoor rooms (what the evaluation's scenes use) among the rooms

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.rooms <= 0 or self.talkers <= 0 or self.mics_per_room <= 0 or self.lines_per_talker <= 0:
            raise ValueError("rooms, talkers, mics_per_room and lines_per_talker must be positive")


@dataclass(frozen=True)
class PairConfig:
    """How examples are drawn from a bank; ``examples`` is the virtual size of the data set."""

    examples: int = 1_000_000
    seed: int = 0
    window_s: float = 2.56
    snr_db: tuple[float, float] = (0.0, 35.0)
    no_ambience_share: float = 0.08  # a treated stage has no bed, only its noise floor
    other_talker_share: float = 0.6  # the hint is spoken by another person than the line
    hint_gain_db: float = 10.0  # +- range: a reference's level says nothing about the scene
    hint_degrade_share: float = 0.25
    line_gain_jitter_db: float = 3.0
    image_px: int = 64


# -- the bank -------------------------------------------------------------------------------------


def build_bank(out: str | Path, config: BankConfig, workers: int = 1, log: Callable[[str], None] | None = None) -> Path:
    """Render (or finish rendering) a bank; returns its folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / BANK_MANIFEST
    if manifest.exists():
        have = json.loads(manifest.read_text(encoding="utf-8"))
        if have.get("config") != _config_json(config):
            raise ValueError(f"{out} holds a bank made with other settings; choose another --out")
    else:
        _atomic_write_text(manifest, json.dumps({"format": BANK_FORMAT, "config": _config_json(config)}, indent=2) + "\n")
    jobs = [("rooms", k) for k in range(-(-config.rooms // ROOMS_PER_SHARD))]
    jobs += [("voices", k) for k in range(-(-config.talkers // TALKERS_PER_SHARD))]
    jobs = [j for j in jobs if not (out / f"{j[0]}-{j[1]:04d}.npz").exists()]
    if not (out / "ambience.npz").exists():
        _write_ambience(out, config)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers, initializer=_single_thread) as pool:
            for done, path in enumerate(pool.imap_unordered(_shard_star, [(out, config, *j) for j in jobs]), 1):
                if log:
                    log(f"bank: {done}/{len(jobs)} shards ({path.name})")
    else:
        for done, job in enumerate(jobs, 1):
            path = _write_shard(out, config, *job)
            if log:
                log(f"bank: {done}/{len(jobs)} shards ({path.name})")
    return out


def _config_json(config: BankConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))


def _single_thread() -> None:
    torch.set_num_threads(1)


def _shard_star(args) -> Path:
    return _write_shard(*args)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _shard_rng(config: BankConfig, kind: str, shard: int) -> np.random.Generator:
    offset = 1_000_000 if config.split == "heldout" else 0
    return np.random.default_rng([config.seed, offset + shard, zlib.crc32(kind.encode())])


def _write_shard(out: Path, config: BankConfig, kind: str, shard: int) -> Path:
    path = out / f"{kind}-{shard:04d}.npz"
    rng = _shard_rng(config, kind, shard)
    if kind == "rooms":
        first = shard * ROOMS_PER_SHARD
        rooms = [_room(config, rng) for _ in range(first, min(config.rooms, first + ROOMS_PER_SHARD))]
        rirs = [h for room in rooms for h in room["rirs"]]
        _atomic_savez(path, rir=np.concatenate(rirs), rir_lengths=np.asarray([len(h) for h in rirs], np.int64),
                      mics=np.asarray([len(r["rirs"]) for r in rooms], np.int64),
                      meta=np.asarray(json.dumps([{k: v for k, v in r.items() if k != "rirs"} for r in rooms])))
    else:
        from engine.kit.voices import talker_lines

        first = shard * TALKERS_PER_SHARD
        lines, counts, who = [], [], []
        for _ in range(first, min(config.talkers, first + TALKERS_PER_SHARD)):
            talker, said = talker_lines(rng, config.split, config.lines_per_talker, config.sample_rate_hz)
            lines += said
            counts.append(len(said))
            who.append(talker.voice)
        _atomic_savez(path, audio=np.concatenate(lines).astype(np.float16),
                      line_lengths=np.asarray([len(x) for x in lines], np.int64), lines=np.asarray(counts, np.int64),
                      meta=np.asarray(json.dumps(who)))
    return path


def _room(config: BankConfig, rng: np.random.Generator) -> dict:
    """One room: its microphones' responses (trimmed 60 dB below their peak energy) and the truth
    the still is drawn from."""
    from engine.kit.geometry import HELD_OUT_FAMILIES, TRAIN_FAMILIES, simulate_room
    from engine.kit.rooms import random_room, room_impulse_response

    sr = config.sample_rate_hz
    if config.split == "train" and rng.uniform() < config.kit_room_share:
        room = random_room(rng, kind="outdoor" if rng.uniform() < 0.15 else "shoebox")
        rirs = []
        for _ in range(config.mics_per_room):
            h = room_impulse_response(room, sr, rng)
            rirs.append(_trim(np.asarray(h, np.float64).reshape(len(h), -1)[:, 0]))
        return {"family": f"kit-{room.kind}", "rt60_s": float(room.mid_rt60_s()), "volume_m3": float(room.volume_m3),
                "outdoor": room.kind == "outdoor", "rirs": rirs}
    families = HELD_OUT_FAMILIES if config.split == "heldout" else TRAIN_FAMILIES
    family = families[int(rng.integers(len(families)))]
    sim = simulate_room(family, rng, sr, mics=config.mics_per_room)
    return {"family": family, "rt60_s": float(sim.target_rt60_s), "volume_m3": float(sim.volume_m3),
            "outdoor": family == "outdoor", "rirs": [_trim(h) for h in sim.rirs]}


def _trim(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float32)
    energy = np.cumsum(h[::-1].astype(np.float64) ** 2)[::-1]
    keep = int(np.searchsorted(-energy, -energy[0] * 1e-6)) + 1
    return np.ascontiguousarray(h[: max(keep, 1)])


def _write_ambience(out: Path, config: BankConfig) -> None:
    from engine.kit.scene import ambience_source
    from engine.train.scene_corpus import ambience_names

    beds, names = [], []
    for name in ambience_names(config.split):
        for variant in range(BED_VARIANTS):
            rng = np.random.default_rng([config.seed, zlib.crc32(name.encode()), variant])
            bed = ambience_source(name, BED_SECONDS, config.sample_rate_hz, rng)[:, 0]
            bed = bed / max(float(np.sqrt(np.mean(bed.astype(np.float64) ** 2))), 1e-9) * 0.05
            beds.append(bed.astype(np.float32))
            names.append(name)
    _atomic_savez(out / "ambience.npz", audio=np.stack(beds), names=np.asarray(json.dumps(names)))


class SceneBank:
    """A bank in memory (fork-shared by DataLoader workers): responses, lines and beds."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        manifest = folder / BANK_MANIFEST
        if not manifest.exists():
            raise FileNotFoundError(f"{folder} is not a scene-pairs bank (no {BANK_MANIFEST}); "
                                    "make one with `roomtone train scene-pairs`")
        self.folder = folder
        self.config = BankConfig(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in json.loads(manifest.read_text(encoding="utf-8"))["config"].items()})
        self.rooms: list[list[np.ndarray]] = []
        self.room_meta: list[dict] = []
        for path in sorted(folder.glob("rooms-*.npz")):
            with np.load(path) as z:
                rirs = np.split(z["rir"], np.cumsum(z["rir_lengths"])[:-1])
                mics = z["mics"]
                starts = np.concatenate([[0], np.cumsum(mics)])
                self.rooms += [rirs[starts[i]:starts[i + 1]] for i in range(len(mics))]
                self.room_meta += json.loads(str(z["meta"]))
        self.talkers: list[list[np.ndarray]] = []
        for path in sorted(folder.glob("voices-*.npz")):
            with np.load(path) as z:
                lines = np.split(z["audio"], np.cumsum(z["line_lengths"])[:-1])
                starts = np.concatenate([[0], np.cumsum(z["lines"])])
                self.talkers += [lines[starts[i]:starts[i + 1]] for i in range(len(z["lines"]))]
        with np.load(folder / "ambience.npz") as z:
            self.beds = z["audio"]
            self.bed_names: list[str] = json.loads(str(z["names"]))
        if not self.rooms or not self.talkers:
            raise FileNotFoundError(f"{folder}: the bank has no rooms or no voices yet; finish it with "
                                    "`roomtone train scene-pairs` (it resumes)")

    @property
    def sample_rate_hz(self) -> int:
        return int(self.config.sample_rate_hz)


# -- examples ------------------------------------------------------------------------------------


def split_direct(rir: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """(direct sound, the rest): the +-2.5 ms around the peak, as the DRR counts it."""
    h = np.asarray(rir, dtype=np.float64)
    peak = int(np.argmax(np.abs(h)))
    half = int(round(DIRECT_HALF_WINDOW_MS * 1e-3 * sample_rate_hz))
    direct = np.zeros_like(h)
    lo, hi = max(0, peak - half), peak + half + 1
    direct[lo:hi] = h[lo:hi]
    return direct, h - direct


def render_example(bank: SceneBank, config: PairConfig, index: int) -> dict[str, np.ndarray]:
    """Example ``index`` (a pure function of the bank, the config and the index)."""
    from scipy.signal import oaconvolve

    rng = np.random.default_rng([config.seed, index])
    sr = bank.sample_rate_hz
    n = int(round(config.window_s * sr))
    pre = int(round(PRE_ROLL_S * sr))
    room = int(rng.integers(len(bank.rooms)))
    rirs = bank.rooms[room]
    h = rirs[int(rng.integers(len(rirs)))]
    hint_h = rirs[int(rng.integers(len(rirs)))]
    talker = int(rng.integers(len(bank.talkers)))
    other = int(rng.integers(len(bank.talkers))) if rng.uniform() < config.other_talker_share else talker

    dry = _speech(bank.talkers[talker], n + pre, sr, rng)
    dry *= _gain_to(dry, sr, MODEL_SPEECH_LUFS + rng.uniform(-1, 1) * config.line_gain_jitter_db)
    direct_h, late_h = split_direct(h, sr)
    direct = oaconvolve(dry, direct_h)[: n + pre]
    late = oaconvolve(dry, late_h)[: n + pre]
    keep = _loudness_ratio(dry, direct + late, sr)
    direct, late = direct[pre:] * keep, late[pre:] * keep
    dry = dry[pre:]

    bed_index = int(rng.integers(len(bank.beds)))
    silent = rng.uniform() < config.no_ambience_share
    snr_db = float(rng.uniform(*config.snr_db))
    # A treated stage still has a noise floor (and an all-zero target would make the vocoder's
    # spectral-convergence loss divide by zero): white noise 70-85 dB below full scale.
    floor = 10 ** (-rng.uniform(70, 85) / 20)
    ambience = rng.standard_normal(n) * floor if silent else \
        _bed(bank.beds[bed_index], n, rng) * _level(direct + late, sr, snr_db, bank.beds[bed_index])

    hint_dry = _speech(bank.talkers[other], n + pre, sr, rng)
    hint_dry *= _gain_to(hint_dry, sr, MODEL_SPEECH_LUFS)
    hint_wet = oaconvolve(hint_dry, np.asarray(hint_h, np.float64))[: n + pre][pre:]
    hint_wet *= _loudness_ratio(hint_dry[pre:], hint_wet, sr)
    hint_amb = rng.standard_normal(n) * floor if silent else _bed(bank.beds[bed_index], n, rng) * _level(hint_wet, sr, snr_db, bank.beds[bed_index])
    hint = (hint_wet + hint_amb) * 10 ** (rng.uniform(-1, 1) * config.hint_gain_db / 20)
    if rng.uniform() < config.hint_degrade_share:
        from engine.kit.degrade import degrade

        hint = degrade(hint.astype(np.float32), sr, rng)[0].astype(np.float64)

    enhanced = dry + rng.standard_normal(n) * INPUT_NOISE_STD
    meta = bank.room_meta[room]
    image = _still(meta, bank.bed_names[bed_index], config.image_px, int(rng.integers(2**31)))
    f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)  # noqa: E731
    return {"enhanced": f32(enhanced), "reverb": f32(late), "ambience": f32(ambience),
            "target": f32(direct + late + ambience), "condition": f32(hint), "image": image}


def _speech(lines: list[np.ndarray], n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of one talker's lines with natural pauses (and the odd line run together)."""
    out = np.zeros(n)
    pos = int(rng.uniform(-1.0, 0.3) * sr)
    while pos < n:
        x = np.asarray(lines[int(rng.integers(len(lines)))], dtype=np.float64)
        x = x * 10 ** (rng.uniform(-3, 3) / 20) / max(float(np.sqrt(np.mean(x**2))), 1e-9) * 0.07
        lo, hi = max(pos, 0), min(pos + x.size, n)
        if hi > lo:
            out[lo:hi] += x[lo - pos: hi - pos]
        pos += x.size + int(rng.uniform(0.05, 0.9) * sr)
    return out


def _lufs(x: np.ndarray, sr: int) -> float:
    from engine.audio import integrated_loudness

    value = integrated_loudness(np.asarray(x, np.float64)[:, None], sr)
    if not np.isfinite(value):  # nothing above the gate: fall back to plain RMS in dB
        value = 20 * np.log10(max(float(np.sqrt(np.mean(np.square(x)))), 1e-9))
    return float(value)


def _gain_to(x: np.ndarray, sr: int, lufs: float) -> float:
    return float(10 ** ((lufs - _lufs(x, sr)) / 20))


def _loudness_ratio(reference: np.ndarray, x: np.ndarray, sr: int) -> float:
    return float(10 ** ((_lufs(reference, sr) - _lufs(x, sr)) / 20))


def _bed(bed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(max(1, bed.size - n)))
    seg = np.asarray(bed[start:start + n], dtype=np.float64)
    return np.pad(seg, (0, n - seg.size))


def _level(speech: np.ndarray, sr: int, snr_db: float, bed: np.ndarray) -> float:
    """Gain putting the bed ``snr_db`` LU below the speech (measured on the whole bed, so a quiet
    stretch of it stays quiet, as in a real recording)."""
    return float(10 ** ((_lufs(speech, sr) - snr_db - _lufs(bed[: 10 * sr], sr)) / 20))


def _still(meta: dict, ambience: str, size_px: int, seed: int) -> np.ndarray:
    from types import SimpleNamespace

    from engine.train.corpus import scene_image

    room = SimpleNamespace(kind="outdoor" if meta.get("outdoor") else "shoebox", volume_m3=max(meta["volume_m3"], 10.0),
                           mid_rt60_s=lambda: meta["rt60_s"])
    img = scene_image(SimpleNamespace(ambience=ambience, room=room), size_px=size_px, seed=seed)
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0


class ScenePairs(Dataset):
    """The training loop's data set over a bank (the same interface as engine.train.dataset.PairCache)."""

    with_images = True

    def __init__(self, bank: SceneBank, config: PairConfig) -> None:
        self.bank, self.config = bank, config
        self.sample_rate_hz = bank.sample_rate_hz
        self.window_samples = int(round(config.window_s * bank.sample_rate_hz))

    def __len__(self) -> int:
        return self.config.examples

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: torch.from_numpy(v) for k, v in render_example(self.bank, self.config, int(i)).items()}

    def batch(self, indices: list[int]) -> dict[str, Tensor]:
        items = [self[i] for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def is_bank(folder: str | Path) -> bool:
    return (Path(folder) / BANK_MANIFEST).exists()
