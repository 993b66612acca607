"""The DSP scene-match renderer: dry dialogue -> EQ'd direct path + synthetic reverb + ambience bed.

Everything expensive (IR synthesis, EQ design, filter spectra, the bed's loudness) happens once in
the constructor; process() is then FFT convolution plus copying grains, which is what makes a
10-minute stereo file render in a few seconds. The bed (Python-heavy, one core) is rendered on a
worker thread while the FFTs (which release the GIL) run, so both cores stay busy.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.audio import integrated_loudness
from engine.audio.convolver import BlockConvolver, fft_convolve
from engine.match.ambience_bed import AmbienceBed
from engine.match.eq import eq_filter
from engine.match.impulse_response import synthesise_ir
from engine.render import SourceInfo, Stems
from engine.scene.profile import SceneProfile
from engine.settings import Settings

SILENT_LUFS = -69.0  # dialogue at or below this is treated as silent...
ASSUMED_SPEECH_LUFS = -24.0  # ...and the ambience is set as if it held typical speech
BED_MEASURE_S = 10.0  # long enough for a gated loudness of a grainy bed to settle (< 0.2 LU)


@dataclass(frozen=True)
class SpeechPath:
    """The dry line's way through the scene: EQ'd direct sound and reverb, both (taps, channels)
    float64 and already scaled so that the scene keeps a bundled voice's loudness (``gain``)."""

    direct: np.ndarray
    late: np.ndarray
    gain: float

    def filters(self, stems: bool) -> list[np.ndarray | float]:
        """Dialogue and reverb filters, or one combined filter (half the inverse FFTs; equal to the
        stems' sum within float32) when no stems are written."""
        return [_as_gain(self.direct), _as_gain(self.late)] if stems else [_as_gain(self.response)]

    @property
    def response(self) -> np.ndarray:
        """What the scene does to an impulse on each channel (dialogue + reverb)."""
        return _add(self.direct, self.late)


def speech_path(profile: SceneProfile, settings: Settings, sample_rate_hz: int, channels: int) -> SpeechPath:
    """Synthesise the scene's filters for one rate and channel count (the costly part of a render)."""
    sr, ch = int(sample_rate_hz), int(channels)
    ir = synthesise_ir(profile, sr, ch, seed=settings.seed, wet_db=settings.wet_db)
    eq = eq_filter(profile, sr, settings.eq_amount)
    direct = _compose(eq, ir.direct)
    late = _compose(eq, ir.late)
    # Keep the restyled speech as loud as the dry line (BS.1770): a church must not make the
    # dialogue 10 dB louder or clip; the mixer's levels stay where the editor set them.
    gain = 10.0 ** (-_scene_loudness_gain_db(direct, late * 10.0 ** (-settings.wet_db / 20.0), sr) / 20.0)
    return SpeechPath(direct * gain, late * gain, gain)


def ambience_target_lufs(profile: SceneProfile, settings: Settings, dry_lufs: float) -> float:
    """The bed's loudness: the scene's ambience-to-speech ratio on the line's own loudness, trimmed."""
    return _speech_lufs(dry_lufs) + profile.ambience_to_speech_db + settings.trim_db


class SceneAmbience:
    """The scene's bed at a fixed gain, built and rendered on a worker thread so it overlaps the FFTs.

    One worker: bed calls stay in order, so the bed is the same as rendered inline. The gain can be
    set after construction (``set_level``), so a single-pass render starts building the bed while
    it is still measuring the line whose loudness sets it.
    """

    def __init__(self, excerpt: np.ndarray, excerpt_rate_hz: int, sample_rate_hz: int, channels: int,
                 seed: int, target_lufs: float | None = None) -> None:
        self._args = (excerpt, int(excerpt_rate_hz), int(sample_rate_hz), int(channels), int(seed))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roomtone-bed")
        self._bed = self._worker.submit(AmbienceBed, *self._args)
        self.gain: float | None = None
        if target_lufs is not None:
            self.set_level(target_lufs)

    def set_level(self, target_lufs: float) -> None:
        """Fix the bed's gain so that it plays at `target_lufs` (before the first submit)."""
        self.gain = _bed_gain(*self._args, target_lufs=target_lufs)

    def submit(self, frames: int) -> Future:
        """The next `frames` of bed, scaled, as a float32 (frames, channels) future."""
        if self.gain is None:
            raise RuntimeError("SceneAmbience.set_level must come before the first submit")
        return self._worker.submit(self._render, frames, np.float32(self.gain))

    def _render(self, frames: int, gain: np.float32) -> np.ndarray:
        bed = self._bed.result().render(frames)
        bed *= gain
        return bed

    def close(self) -> None:
        self._worker.shutdown(wait=False)


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
        path: SpeechPath | None = None,
    ) -> None:
        """`path`: the scene's speech path for this rate and channel count, when already made."""
        self.source = source
        self.settings = settings
        sr, ch = int(source.sample_rate_hz), int(source.channels)
        path = path or speech_path(profile, settings, sr, ch)
        self.speech_gain = path.gain
        self._convolver = BlockConvolver(path.filters(settings.stems), ch)
        self._ambience = SceneAmbience(ambience_excerpt, excerpt_rate_hz, sr, ch, settings.seed,
                                       ambience_target_lufs(profile, settings, source.loudness_lufs))
        self.ambience_gain = self._ambience.gain
        self.channels = ch

    def process(self, block: np.ndarray) -> Stems:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        bed = self._ambience.submit(self._convolver.frames_out(block.shape[0]))
        return speech_stems(self._convolver.process(block), bed.result())

    def flush(self) -> Stems:
        bed = self._ambience.submit(self._convolver.pending_frames)
        try:
            return speech_stems(self._convolver.flush(), bed.result())
        finally:
            self._ambience.close()


def speech_stems(outs: list[np.ndarray], ambience: np.ndarray) -> Stems:
    """Stems from the speech filters' outputs (two, or one combined) and the scaled bed."""
    assert ambience.shape[0] == outs[0].shape[0], "bed and convolution out of step"
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
    from engine.kit.speech import alsa_voice

    probe = alsa_voice(sr)[:, 0].astype(np.float64)
    ir = _add(direct, late)
    # Every channel: each has its own tail, and the line plays on all of them.
    wet = np.stack([fft_convolve(probe, ir[:, c])[: probe.shape[0]] for c in range(ir.shape[1])], axis=1)
    return integrated_loudness(wet, sr) - integrated_loudness(np.repeat(probe[:, None], ir.shape[1], axis=1), sr)


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
    out = fft_convolve(ir_part.astype(np.float64), eq[:, None]) if len(eq) > 1 else ir_part.astype(np.float64)
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
