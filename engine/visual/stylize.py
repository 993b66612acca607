"""Restyle a picture or every frame of a video by a sound (the public entry points).

The net runs at its training size; its *change* (output - input at low resolution) is upsampled
and added to the full-resolution input, so the picture keeps its size and detail. A video uses one
embedding for the whole clip, so the look is steady from frame to frame.

Mixing two sounds mixes what the net hears of each: both go through the audio encoder and their
embeddings are weighed. Mixing the waveforms let the more salient sound take over -- with the
shipped package, 10 % birdsong in a rain sound already switched the rain off, while the
embedding mix thins the rain out step by step (bench/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import RoomtoneError

DEFAULT_MODEL = Path(__file__).with_name("checkpoints") / "roomtone-picture"


def _model(model_dir: str | Path | None):
    from engine.visual.train import load_stylizer

    return load_stylizer(model_dir or DEFAULT_MODEL)


@dataclass(frozen=True)
class SoundMix:
    """Two sounds' log-mels and the second's share: ``restyle_frames`` weighs their embeddings."""

    first: object  # Tensor (1, 1, mels, frames)
    second: object
    weight: float


def sound_condition(model, sound: np.ndarray, gain_db: float = 0.0, mix: np.ndarray | None = None,
                    mix_weight: float = 0.0):
    """What the net is conditioned on: the log-mel of ``sound`` with the gain applied; with ``mix``, a
    SoundMix of it and ``mix``'s log-mel (``mix_weight``: the second sound's share, 0..1)."""
    import torch

    from engine.visual.dataset import log_mel

    if not 0.0 <= mix_weight <= 1.0:
        raise RoomtoneError(f"--mix-weight must be between 0 and 1, got {mix_weight}")
    c = model.config
    n = int(round(c.window_s * c.sample_rate_hz))

    def window(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            raise RoomtoneError("the sound is empty; pass a sound of at least a fraction of a second")
        start = max(0, (x.size - n) // 2)
        return np.resize(x[start:start + n], n)  # short sounds loop

    def mel(x: np.ndarray):
        return log_mel(x, c)[None].to(torch.float32)

    first = mel(window(sound) * 10 ** (gain_db / 20))
    return first if mix is None else SoundMix(first, mel(window(mix)), float(mix_weight))


def embed(model, condition):
    """The embedding of a condition (a log-mel, a one-hot label, or a SoundMix)."""
    if isinstance(condition, SoundMix):
        return (1 - condition.weight) * model.cond(condition.first) + condition.weight * model.cond(condition.second)
    return model.cond(condition)


def restyle_frames(frames: list[np.ndarray], condition, model) -> list[np.ndarray]:
    """RGB uint8 frames (any size) -> restyled frames of the same size."""
    import torch
    import torch.nn.functional as F

    px = model.config.image_px
    out = []
    with torch.no_grad():
        emb = embed(model, condition)
        for f in frames:
            x = torch.from_numpy(np.array(f, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 127.5 - 1
            small = F.interpolate(x, size=(px, px), mode="bilinear", antialias=True, align_corners=False)
            change = model.gen(small, emb) - small
            big = F.interpolate(change, size=x.shape[-2:], mode="bilinear", align_corners=False)
            y = ((x + big).clamp(-1, 1) + 1) * 127.5
            out.append(y[0].permute(1, 2, 0).round().to(torch.uint8).numpy())
    return out


def restyle_picture(image: str | Path, sound: str | Path, out: str | Path, *, gain_db: float = 0.0,
                    mix: str | Path | None = None, mix_weight: float = 0.5,
                    model_dir: str | Path | None = None) -> Path:
    """Write ``image`` restyled to look like it goes with ``sound`` to ``out`` (PNG, same size)."""
    from PIL import Image

    from engine.visual.dataset import load_image, read_sound

    model = _model(model_dir)
    sr = model.config.sample_rate_hz
    cond = sound_condition(model, read_sound(sound, sr), gain_db, read_sound(mix, sr) if mix else None,
                           mix_weight if mix else 0.0)
    result = restyle_frames([load_image(image)], cond, model)[0]
    final = Path(out)
    tmp = final.with_name(".tmp-" + final.name)
    Image.fromarray(result).save(tmp, format="PNG")
    tmp.replace(final)
    return final


def restyle_video(video: str | Path, out: str | Path, *, sound: str | Path | None = None, gain_db: float = 0.0,
                  mix: str | Path | None = None, mix_weight: float = 0.5,
                  model_dir: str | Path | None = None) -> Path:
    """Restyle every frame by the clip's own soundtrack (or ``sound``): one embedding for the clip."""
    from engine.visual.dataset import read_sound
    from engine.visual.video import read_video, write_video

    model = _model(model_dir)
    sr = model.config.sample_rate_hz
    frames, _times, track, rate = read_video(video, sr)
    drive = read_sound(sound, sr) if sound else track
    if drive is None:
        raise RoomtoneError(f"{video}: the clip has no soundtrack; pass --sound SOUND")
    cond = sound_condition(model, drive, gain_db, read_sound(mix, sr) if mix else None, mix_weight if mix else 0.0)
    write_video(out, restyle_frames(frames, cond, model), rate, track, sr)
    return Path(out)


def restyle_still(png: bytes, sound: np.ndarray, sample_rate_hz: int, *, gain_db: float = 0.0,
                  model_dir: str | Path | None = None) -> bytes:
    """A preset's still (PNG bytes) restyled by a sound array ((n,) or (n, ch) at ``sample_rate_hz``);
    returns PNG bytes of the same size. The desktop's door: arrays in, bytes out, no files."""
    import io

    import soxr
    from PIL import Image

    model = _model(model_dir)
    mono = np.asarray(sound, dtype=np.float32)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    if sample_rate_hz != model.config.sample_rate_hz:
        mono = soxr.resample(mono, sample_rate_hz, model.config.sample_rate_hz).astype(np.float32)
    try:
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for a bad image
        raise RoomtoneError(f"the preset's still is not a readable image ({exc})") from exc
    result = restyle_frames([image], sound_condition(model, mono, gain_db), model)[0]
    buf = io.BytesIO()
    Image.fromarray(result).save(buf, format="PNG")
    return buf.getvalue()
