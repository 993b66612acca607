"""Learned and standard perceptual measures: STOI, speaker similarity, DNSMOS.

All three run offline from weights shipped inside their wheels (pystoi has none; resemblyzer ships
``pretrained.pt``; speechmos ships its ONNX models). Before loading we check that the weight file
is there, so a broken install is reported as "not available" instead of a download attempt.
The packages are the optional extra ``eval``; without them the metric is listed as unavailable.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

from engine.audio import resample

PERCEPTUAL_RATE_HZ = 16000
DNSMOS_WINDOW_S = 9.01  # the model's fixed input; longer clips are averaged over 1 s hops


def availability() -> dict[str, str]:
    """Metric name -> reason it cannot run ('' when it can)."""
    return {
        "stoi": _package_reason("pystoi") or _import_reason("pystoi"),
        "speaker_similarity": _weights_reason("resemblyzer", "pretrained.pt") or _import_reason("resemblyzer"),
        "dnsmos_ovrl": _weights_reason("speechmos", "dnsmos_models/sig_bak_ovr.onnx", "onnxruntime", "librosa")
        or _import_reason("speechmos.dnsmos"),
    }


def _import_reason(module: str) -> str:
    _ensure_pkg_resources()
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken optional install must not stop the evaluation
        return f"{module} cannot be imported: {type(exc).__name__}: {exc}"
    return ""


def _ensure_pkg_resources() -> None:
    """resemblyzer depends on ``webrtcvad``, whose module does ``import pkg_resources`` only to read
    its own version; setuptools >= 81 no longer ships pkg_resources. A stub with that one function
    keeps it importable (``webrtcvad-wheels`` needs none of this)."""
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return
    stub = types.ModuleType("pkg_resources")

    def get_distribution(name: str) -> types.SimpleNamespace:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "0"
        return types.SimpleNamespace(project_name=name, version=version)

    stub.get_distribution = get_distribution  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stub


def to_perceptual_rate(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Mono float32 at 16 kHz, the rate all three models expect."""
    a = np.asarray(x, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a[:, :1]
    if sample_rate_hz != PERCEPTUAL_RATE_HZ:
        a = resample(a, sample_rate_hz, PERCEPTUAL_RATE_HZ)
    return np.ascontiguousarray(a[:, 0])


def stoi(clean_16k: np.ndarray, output_16k: np.ndarray) -> float:
    """Short-Time Objective Intelligibility (Taal et al. 2011) of the output against ``clean_16k``.

    The reference is the truth mix for the STOI metric and the dry line for the STOI gap. Both
    signals are at ``PERCEPTUAL_RATE_HZ`` (pystoi resamples to its 10 kHz internally) and already
    sample-aligned, so they are only cut to a common length.
    """
    from pystoi import stoi as _stoi

    n = min(clean_16k.size, output_16k.size)
    return float(_stoi(clean_16k[:n].astype(np.float64), output_16k[:n].astype(np.float64), PERCEPTUAL_RATE_HZ))


def speaker_embedding(x_16k: np.ndarray) -> np.ndarray:
    """Resemblyzer d-vector (unit norm); resemblyzer's own VAD trims silences first."""
    _ensure_pkg_resources()
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(x_16k.astype(np.float32), source_sr=PERCEPTUAL_RATE_HZ)
    if wav.size < PERCEPTUAL_RATE_HZ // 2:  # VAD found almost nothing: embed the raw clip
        wav = x_16k.astype(np.float32)
    return _voice_encoder().embed_utterance(wav)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else float("nan")


def dnsmos_overall(x_16k: np.ndarray) -> float:
    """DNSMOS P.835 overall (OVRL) score, 1-5, over the first 9.01 s (looped if shorter).

    One model window instead of speechmos' 1 s hops: the cost is one ONNX call per output, and
    every system is scored on the same window of the same input.
    """
    n = int(DNSMOS_WINDOW_S * PERCEPTUAL_RATE_HZ) + 1
    x = np.asarray(x_16k, dtype=np.float32)
    if x.size < n:
        x = np.tile(x, int(np.ceil(n / max(x.size, 1))))
    x = np.clip(x[:n], -1.0, 1.0)
    return float(_dnsmos()(x, PERCEPTUAL_RATE_HZ, False)["ovrl_mos"])


@functools.lru_cache(maxsize=1)
def _voice_encoder():
    _ensure_pkg_resources()
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False)


@functools.lru_cache(maxsize=1)
def _dnsmos():
    from speechmos import dnsmos

    root = Path(dnsmos.__file__).parent
    return dnsmos.DNSMOS(str(root / "dnsmos_models" / "sig_bak_ovr.onnx"), str(root / "dnsmos_models" / "model_v8.onnx"))


def _package_reason(*names: str) -> str:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    return f"package(s) not installed: {', '.join(missing)} (pip install 'roomtone[eval]')" if missing else ""


def _weights_reason(package: str, weights: str, *also: str) -> str:
    reason = _package_reason(package, *also)
    if reason:
        return reason
    spec = importlib.util.find_spec(package)
    root = Path(spec.origin).parent if spec and spec.origin else None
    if root is None or not (root / weights).is_file():
        return f"{package} is installed without its bundled weights ({weights}); refusing to download"
    return ""
