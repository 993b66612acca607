"""Production degradations of a reference clip: band limits, lossy codecs, level compression.

References on a real job come from phones, camera mics, MP3 dailies and compressed mixes. The
estimator must read the room through that, and it must recognise a band that carries no energy
instead of calling it a room that cuts there. pedalboard (Spotify) supplies the codecs, the
resampler and the compressor, so none of this is code of ours.
"""

from __future__ import annotations

import numpy as np


def degrade(audio: np.ndarray, sample_rate_hz: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A randomly degraded copy of mono float32 ``audio`` and a short description of what was done.

    About a third of clips stay clean. Band limits are 8, 11 and 16 kHz (phone-rate, 22.05 kHz and
    32 kHz sources); codecs are MP3 at several VBR qualities and GSM full rate.
    """
    import pedalboard as pb

    x = np.asarray(audio, dtype=np.float32)
    steps: list[str] = []
    board = []
    u = rng.uniform()
    if u < 0.33:
        return x, "clean"
    if rng.uniform() < 0.4:
        rate = int(rng.choice([16000, 22050, 32000]))
        board.append(pb.Resample(target_sample_rate=float(rate)))
        steps.append(f"band {rate // 2000} kHz")
    if rng.uniform() < 0.3:
        board.append(pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(60.0, 200.0))))
        steps.append("highpass")
    if rng.uniform() < 0.35:
        board.append(pb.Compressor(threshold_db=float(rng.uniform(-35.0, -15.0)), ratio=float(rng.uniform(2.0, 8.0)),
                                   attack_ms=float(rng.uniform(1.0, 20.0)), release_ms=float(rng.uniform(50.0, 300.0))))
        steps.append("compressor")
    codec = rng.uniform()
    if codec < 0.3:
        board.append(pb.MP3Compressor(vbr_quality=float(rng.uniform(1.0, 8.0))))
        steps.append("mp3")
    elif codec < 0.4:
        board.append(pb.GSMFullRateCompressor())
        steps.append("gsm")
    if not board:
        return x, "clean"
    peak = float(np.max(np.abs(x))) or 1.0
    y = pb.Pedalboard(board)(x[None, :] / peak * 0.5, float(sample_rate_hz))[0] * (peak / 0.5)
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    return np.ascontiguousarray(y, dtype=np.float32), "+".join(steps)
