"""The DSP scene-match renderer: dry dialogue -> EQ'd direct path + synthetic reverb + ambience bed.

Everything expensive (IR synthesis, EQ design, filter spectra, the bed's loudness) happens once in
the constructor; process() is then FFT convolution plus copying grains, which is what makes a
10-minute stereo file render in a few seconds. The bed (Python-heavy, one core) is rendered on a
worker thread while the FFTs (which release the GIL) run, so both cores stay busy.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from engine.audio import integrated_loudness
from engine.match.ambience_bed import AmbienceBed
from engine.match.convolver import BlockConvolver
from engine.match.eq import eq_filter
from engine.match.impulse_response import synthesise_ir
from engine.render import SourceInfo, Stems
from engine.scene.profile import SceneProfile
from engine.settings import Settings

SILENT_LUFS = -69.0  # dialogue at or below this is treated as silent...
ASSUMED_SPEECH_LUFS = -24.0  # ...and the ambience is set as if it held typical speech
BED_MEASURE_S = 10.0  # long enough for a gated loudness of a grainy bed to settle (< 0.2 LU)


class MatchRenderer:
    """Renderer protocol implementation; content latency is zero, output may arrive in chunks.

    process() returns output for whole internal convolution chunks (possibly zero frames) and
    flush() the rest, so the concatenated output always has exactly the input's length.
    """

    latency_frames: int = 0

    def __init__(
        self,
        profile: SceneProfile,
        ambience_excerpt: np.ndarray,
        excerpt_rate_hz: int,
        settings: Settings,
        source: SourceInfo,
    ) -> None:
        self.source = source
        self.settings = settings
        sr, ch = int(source.sample_rate_hz), int(source.channels)
        ir = synthesise_ir(profile, sr, ch, seed=settings.seed, wet_db=settings.wet_db)
        eq = eq_filter(profile, sr, settings.eq_amount)
        direct = _compose(eq, ir.direct)
        late = _compose(eq, ir.late)
        # Keep the restyled speech as loud as the dry line (BS.1770): a church must not make the
        # dialogue 10 dB louder or clip; the mixer's levels stay where the editor set them.
        gain = 10.0 ** (-_scene_loudness_gain_db(direct, late * 10.0 ** (-settings.wet_db / 20.0), sr) / 20.0)
        direct, late = direct * gain, late * gain
        self.speech_gain = gain
        if settings.stems:
            filters: list[np.ndarray | float] = [direct, late]
        else:
            # One combined filter: half the inverse FFTs; equal to the stems' sum within float32.
            filters = [_add(direct, late)]
        self._convolver = BlockConvolver([_as_gain(f) for f in filters], ch)
        self._bed = AmbienceBed(ambience_excerpt, excerpt_rate_hz, sr, ch, settings.seed)
        self.ambience_gain = _bed_gain(
            ambience_excerpt, excerpt_rate_hz, sr, ch, settings.seed,
            target_lufs=_speech_lufs(source.loudness_lufs) + profile.ambience_to_speech_db + settings.trim_db,
        )
        self.channels = ch
        # One worker: bed calls stay in order, so the bed is the same as rendered inline.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roomtone-bed")

    def process(self, block: np.ndarray) -> Stems:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        bed = self._bed_async(self._convolver.frames_out(block.shape[0]))
        return self._stems(self._convolver.process(block), bed)

    def flush(self) -> Stems:
        bed = self._bed_async(self._convolver.pending_frames)
        try:
            return self._stems(self._convolver.flush(), bed)
        finally:
            self._worker.shutdown(wait=False)

    def _bed_async(self, frames: int) -> Future:
        return self._worker.submit(self._bed.render, frames)

    def _stems(self, outs: list[np.ndarray], bed: Future) -> Stems:
        ambience = bed.result()
        assert ambience.shape[0] == outs[0].shape[0], "bed and convolution out of step"
        ambience *= np.float32(self.ambience_gain)
        if len(outs) == 2:
            return Stems(dialogue=outs[0], reverb=outs[1], ambience=ambience)
        return Stems(dialogue=outs[0], reverb=np.zeros_like(outs[0]), ambience=ambience)


def _speech_lufs(measured_lufs: float) -> float:
    if not math.isfinite(measured_lufs) or measured_lufs <= SILENT_LUFS:
        return ASSUMED_SPEECH_LUFS
    return float(measured_lufs)


def _scene_loudness_gain_db(direct: np.ndarray, late: np.ndarray, sr: int) -> float:
    """How much louder (BS.1770, gated) the scene makes real speech: measured on a bundled voice.

    Gating makes this far smaller than the reverb's energy gain (tails fall in pauses), so it is
    measured, not computed. The caller passes the reverb at the scene's own level (not the
    wet_db control) so that moving the reverb fader changes the reverb, not the whole line.
    """
    from scipy.signal import fftconvolve

    from engine.kit.speech import alsa_voice

    probe = alsa_voice(sr)[:, 0].astype(np.float64)
    wet = fftconvolve(probe, _add(direct, late)[:, 0])[: probe.shape[0]]
    return integrated_loudness(wet[:, None], sr) - integrated_loudness(probe[:, None], sr)


def _bed_gain(excerpt: np.ndarray, excerpt_rate_hz: int, sr: int, ch: int, seed: int, target_lufs: float) -> float:
    """Fixed gain putting the bed at target loudness, measured on the bed's own first seconds.

    A fixed gain (not an AGC) keeps the scene's natural swells; a fresh bed with the same seed
    reproduces exactly what the render will play first.
    """
    probe = AmbienceBed(excerpt, excerpt_rate_hz, sr, ch, seed).render(int(BED_MEASURE_S * sr))
    lufs = integrated_loudness(probe, sr)
    if not math.isfinite(lufs) or lufs <= -70.0 or not np.any(probe):
        return 0.0
    return float(10.0 ** ((target_lufs - lufs) / 20.0))


def _compose(eq: np.ndarray, ir_part: np.ndarray) -> np.ndarray:
    """eq * ir_part per channel (float64), trimmed of trailing zeros."""
    from scipy.signal import fftconvolve

    out = fftconvolve(ir_part.astype(np.float64), eq[:, None], axes=0) if len(eq) > 1 else ir_part.astype(np.float64)
    nz = np.flatnonzero(np.any(out != 0.0, axis=1))
    return out[: (nz[-1] + 1 if nz.size else 1)]


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.shape[0], b.shape[0])
    out = np.zeros((n, a.shape[1]))
    out[: a.shape[0]] += a
    out[: b.shape[0]] += b
    return out


def _as_gain(h: np.ndarray) -> np.ndarray | float:
    """A single-tap filter equal on all channels is a gain: apply it exactly, no FFT."""
    if h.shape[0] == 1 and np.all(h[0] == h[0, 0]):
        return float(h[0, 0])
    return h
