"""Audio-visual pairs for the stylizer, from a folder of videos (PyAV) or of image + sound pairs.

Everything is decoded once into tensors (a few hundred pairs at 128 px fit in memory) and kept in
``<data>/.roomtone-picture-<px>.safetensors``, so a resumed run does not decode again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from engine.errors import InputError
from engine.visual.model import VisualConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SOUND_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
META_FILE = "meta.json"  # optional: {"<stem>": {"label": int, "factor": float}}


def _mel_filters(n_fft: int, n_mels: int, sample_rate_hz: int) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    mels = np.linspace(hz_to_mel(30.0), hz_to_mel(sample_rate_hz / 2), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    fb = np.zeros((n_mels, bins.size))
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return fb.astype(np.float32)


def log_mel(wave: np.ndarray, c: VisualConfig) -> Tensor:
    """(1, n_mels, frames) log-power mel of a mono wave at ``c.sample_rate_hz``, cut or padded to the
    window. Absolute level is kept on purpose (louder sound -> larger change)."""
    n = int(round(c.window_s * c.sample_rate_hz))
    w = np.zeros(n, dtype=np.float32)
    w[:min(n, wave.size)] = wave[:n]
    n_fft, hop = 512, 256
    spec = torch.stft(torch.from_numpy(w), n_fft, hop, window=torch.hann_window(n_fft), return_complex=True)
    power = spec.abs() ** 2
    mel = torch.from_numpy(_mel_filters(n_fft, c.n_mels, c.sample_rate_hz)) @ power
    return (torch.log10(mel + 1e-8)[None] + 4.0) / 4.0  # roughly -1..1 for -80..0 dB


def read_sound(path: str | Path, sample_rate_hz: int) -> np.ndarray:
    """Mono float32 at ``sample_rate_hz`` from any file soundfile or PyAV can open."""
    import soundfile as sf
    import soxr

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - soundfile raises several types for unreadable files
        raise InputError(path, f"cannot read the sound ({exc}); use WAV or FLAC") from exc
    mono = audio.mean(axis=1)
    if rate != sample_rate_hz:
        mono = soxr.resample(mono, rate, sample_rate_hz).astype(np.float32)
    return mono


def load_image(path: str | Path, px: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8; resized to px x px when given."""
    from PIL import Image

    try:
        im = Image.open(path).convert("RGB")
    except Exception as exc:  # noqa: BLE001
        raise InputError(path, f"cannot read the image ({exc})") from exc
    if px is not None:
        im = im.resize((px, px), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def video_pairs(path: str | Path, c: VisualConfig, every_s: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, audio window centred on it) every ``every_s`` seconds of a video with a soundtrack."""
    import av

    from engine.visual.video import read_video

    frames, times, audio, _rate = read_video(path, c.sample_rate_hz)
    if audio is None:
        raise InputError(path, "the video has no soundtrack; pass image + sound pairs instead")
    half = int(c.window_s * c.sample_rate_hz) // 2
    out, next_t = [], 0.0
    for frame, t in zip(frames, times):
        if t + 1e-6 < next_t:
            continue
        centre = int(t * c.sample_rate_hz)
        lo = max(0, centre - half)
        out.append((np.asarray(av.VideoFrame.from_ndarray(frame, format="rgb24")
                               .reformat(width=c.image_px, height=c.image_px).to_ndarray()), audio[lo:lo + 2 * half]))
        next_t = t + every_s
    return out


class PictureData(Dataset):
    """Tensors: image (3, px, px) in [-1, 1], mel (1, n_mels, frames), label (one-hot), factor."""

    def __init__(self, images: Tensor, mels: Tensor, labels: Tensor, factors: Tensor, num_labels: int) -> None:
        self.images, self.mels, self.labels, self.factors = images, mels, labels, factors
        self.num_labels = num_labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": self.images[i].float() / 127.5 - 1.0, "mel": self.mels[i],
                "label": torch.nn.functional.one_hot(self.labels[i], self.num_labels).float(),
                "factor": self.factors[i]}

    def batch(self, indices: list[int]) -> dict[str, Tensor]:
        items = [self[i] for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def split(self, val_fraction: float, seed: int = 0) -> tuple["PictureData", "PictureData"]:
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=g)
        nv = int(round(len(self) * val_fraction))
        return self.subset(order[nv:]), self.subset(order[:nv])

    def subset(self, idx: Tensor) -> "PictureData":
        return PictureData(self.images[idx], self.mels[idx], self.labels[idx], self.factors[idx], self.num_labels)

    @staticmethod
    def from_folder(folder: str | Path, c: VisualConfig) -> "PictureData":
        """Pairs from videos and/or same-stem image + sound files; cached beside the data."""
        from safetensors.torch import load_file, save_file

        root = Path(folder)
        if not root.is_dir():
            raise InputError(root, "not a folder; pass a folder of videos or of image + sound pairs")
        cache = root / f".roomtone-picture-{c.image_px}-{c.n_mels}.safetensors"
        if cache.is_file():
            t = load_file(str(cache))
            return PictureData(t["images"], t["mels"], t["labels"], t["factors"], int(t["num_labels"]))
        meta = json.loads((root / META_FILE).read_text()) if (root / META_FILE).is_file() else {}
        images, mels, labels, factors = [], [], [], []
        for p in sorted(root.iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                sound = next((p.with_suffix(e) for e in SOUND_EXTENSIONS if p.with_suffix(e).is_file()), None)
                if sound is None:
                    continue
                pairs = [(load_image(p, c.image_px), read_sound(sound, c.sample_rate_hz))]
            elif p.suffix.lower() in VIDEO_EXTENSIONS:
                pairs = video_pairs(p, c)
            else:
                continue
            m = meta.get(p.stem, {})
            for img, wave in pairs:
                images.append(torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1))
                mels.append(log_mel(wave, c))
                labels.append(int(m.get("label", 0)))
                factors.append(float(m.get("factor", 0.0)))
        if not images:
            raise InputError(root, "no videos with sound and no image + sound pairs (same file stem) found")
        num_labels = max(c.num_labels, max(labels) + 1)
        data = PictureData(torch.stack(images), torch.stack(mels), torch.tensor(labels),
                           torch.tensor(factors, dtype=torch.float32), num_labels)
        save_file({"images": data.images.contiguous(), "mels": data.mels.contiguous(), "labels": data.labels,
                   "factors": data.factors, "num_labels": torch.tensor(num_labels)}, str(cache))
        return data
