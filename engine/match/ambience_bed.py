"""An endless ambience bed resynthesised from a short excerpt of the reference scene.

Looping an excerpt is audible within a minute (the ear learns a period); instead we splice
randomised grains from it with constant-power crossfades, never replaying the same region twice in
a row and avoiding regions that sound like speech (the reference's own dialogue bleeding into its
ambience would otherwise come back as murmurs under the new dialogue).

Streaming: the grain schedule is drawn grain by grain from one random stream, independent of how
the caller slices time, so any sequence of render() calls gives the same samples as one call.
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from engine.audio import resample

GRAIN_MIN_S = 0.5
GRAIN_MAX_S = 2.0
CROSSFADE_S = 0.1  # long enough to hide a splice, short enough to keep events intact
ALIGN_SEARCH_S = 0.01  # lag search so tonal hum is spliced in phase (no comb dips at the seam)
SPEECH_FRAME_S = 0.01
SPEECH_EXCESS_DB = 6.0  # regions this far above the excerpt's median speech-likeness are avoided
_MAX_CORRELATION = 0.95
MAX_AVOIDED_FRACTION = 0.15  # never avoid (much) more of the excerpt than this


@dataclass
class Grain:
    """One spliced region: output [out_start, out_start + length) reads source from src_start."""

    out_start: int
    length: int
    src_start: int
    fade_in: int
    rho_in: float
    fade_out: int = 0
    rho_out: float = 0.0


class AmbienceBed:
    """Produce the scene's ambience for as long as asked, at the render rate and channel count."""

    def __init__(
        self,
        excerpt: np.ndarray,
        excerpt_rate_hz: int,
        sample_rate_hz: int,
        channels: int,
        seed: int,
    ) -> None:
        excerpt = np.asarray(excerpt, dtype=np.float32)
        if excerpt.ndim == 1:
            excerpt = excerpt[:, None]
        if excerpt.ndim != 2 or channels <= 0 or sample_rate_hz <= 0 or excerpt_rate_hz <= 0:
            raise ValueError("excerpt must be (frames, channels) with positive rates and channels")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = int(channels)
        source = resample(excerpt, int(excerpt_rate_hz), self.sample_rate_hz)
        self._position = 0
        seeds = np.random.SeedSequence([int(seed), 0x414D4200]).spawn(self.channels)
        if source.shape[0] == 0 or not np.any(source):
            self._streams: list[_GrainStream] = []
        elif source.shape[1] == self.channels:
            # Same layout: one schedule for all channels keeps the excerpt's stereo image.
            self._streams = [_GrainStream(source, self.sample_rate_hz, np.random.default_rng(seeds[0]))]
        else:
            # Different layout: independent schedules from the downmix decorrelate the channels.
            mono = np.ascontiguousarray(source.mean(axis=1, keepdims=True))
            bad = _speech_like_frames(mono[:, 0], self.sample_rate_hz)
            self._streams = [
                _GrainStream(mono, self.sample_rate_hz, np.random.default_rng(s), bad) for s in seeds
            ]

    def render(self, frames: int) -> np.ndarray:
        """The next `frames` frames of the bed as (frames, channels) float32."""
        if frames < 0:
            raise ValueError("frames must be >= 0")
        out = np.zeros((frames, self.channels), dtype=np.float32)
        width = self.channels // max(len(self._streams), 1)
        for i, stream in enumerate(self._streams):
            stream.render_into(out[:, i * width : (i + 1) * width], self._position)
        self._position += frames
        return out

    @property
    def grains(self) -> list[list[Grain]]:
        """Every grain scheduled so far, per stream (for tests and diagnostics)."""
        return [list(s.history) for s in self._streams]


class _GrainStream:
    """One grain schedule over a (frames, k) source, rendering k channels."""

    def __init__(
        self, source: np.ndarray, sr: int, rng: np.random.Generator, bad_frames: np.ndarray | None = None
    ) -> None:
        self.source = source
        self.rng = rng
        n = source.shape[0]
        self.grain_min = max(1, min(int(GRAIN_MIN_S * sr), n))
        self.grain_max = max(self.grain_min, min(int(GRAIN_MAX_S * sr), n))
        self.crossfade = max(1, min(int(CROSSFADE_S * sr), self.grain_min // 3))
        self.align = int(ALIGN_SEARCH_S * sr)
        self.hop = max(1, int(SPEECH_FRAME_S * sr))
        if bad_frames is None:
            bad_frames = _speech_like_frames(source.mean(axis=1), sr)
        self.bad_cumsum = np.concatenate(([0], np.cumsum(bad_frames, dtype=np.int64)))
        self.active: deque[Grain] = deque()
        self.history: list[Grain] = []
        length = int(self.rng.integers(self.grain_min, self.grain_max + 1))
        first = Grain(0, length, self._pick_offset(length, None), fade_in=0, rho_in=0.0)
        self._append(first)

    def _append(self, grain: Grain) -> None:
        self.active.append(grain)
        if len(self.history) < 100000:
            self.history.append(grain)

    def render_into(self, out: np.ndarray, start: int) -> None:
        """Add this stream's frames [start, start + len(out)) into out (frames, k)."""
        frames = out.shape[0]
        end = start + frames
        # A grain's fade-out is only known once its successor is drawn: schedule past `end`.
        while self.active[-1].out_start < end:
            self._schedule_next()
        while self.active and self.active[0].out_start + self.active[0].length <= start:
            self.active.popleft()
        for g in self.active:
            a = max(start, g.out_start) - g.out_start  # grain-local range [a, b)
            b = min(end, g.out_start + g.length) - g.out_start
            if a >= b:
                continue
            # Grain-local pieces: fade-in, plain middle, fade-out; only the fades need a gain.
            fade_start = g.length - g.fade_out
            cuts = sorted({a, b, min(max(g.fade_in, a), b), min(max(fade_start, a), b)})
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                if lo >= hi:
                    continue
                piece = self.source[g.src_start + lo : g.src_start + hi]
                dst = out[g.out_start + lo - start : g.out_start + hi - start]
                if hi <= g.fade_in:
                    dst += piece * _crossfade(np.arange(lo, hi), g.fade_in, g.rho_in)[0][:, None]
                elif g.fade_out > 0 and lo >= fade_start:
                    dst += piece * _crossfade(np.arange(lo, hi) - fade_start, g.fade_out, g.rho_out)[1][:, None]
                else:
                    dst += piece

    def _schedule_next(self) -> None:
        prev = self.active[-1]
        length = int(self.rng.integers(self.grain_min, self.grain_max + 1))
        fade = min(self.crossfade, prev.length // 2, length // 2)
        src = self._pick_offset(length, prev)
        src, rho = self._align(prev, src, length, fade)
        prev.fade_out, prev.rho_out = fade, rho
        self._append(Grain(prev.out_start + prev.length - fade, length, src, fade_in=fade, rho_in=rho))

    def _pick_offset(self, length: int, prev: Grain | None) -> int:
        n = self.source.shape[0]
        last = n - length
        if last <= 0:
            return 0
        starts = np.arange(0, last + 1, self.hop)
        first_frame = starts // self.hop
        n_frames = -(-length // self.hop)
        hi = np.minimum(first_frame + n_frames, len(self.bad_cumsum) - 1)
        badness = self.bad_cumsum[hi] - self.bad_cumsum[np.minimum(first_frame, hi)]
        ok = badness == 0
        if not ok.any():
            ok = badness == badness.min()
        if prev is not None:
            # Never the same grain twice in a row: keep clear of the region just played.
            far = np.abs(starts - prev.src_start) >= max(length, prev.length) // 2
            if (ok & far).any():
                ok &= far
        # Uniform grain *centres*, clamped into the excerpt: the two end positions take the extra
        # weight, otherwise the excerpt's first and last seconds would be under-played.
        weight = np.ones(len(starts))
        weight[0] += 0.5 * length / self.hop
        weight[-1] += 0.5 * length / self.hop
        weight = weight[ok]
        choices = starts[ok]
        u = self.rng.random() * weight.sum()
        return int(choices[min(int(np.searchsorted(np.cumsum(weight), u, side="right")), len(choices) - 1)])

    def _align(self, prev: Grain, src: int, length: int, fade: int) -> tuple[int, float]:
        """Nudge the new grain by up to ±ALIGN_SEARCH_S for best match with the outgoing tail.

        Returns the shifted start and the correlation of the two crossfaded segments, which sets
        the crossfade law (equal power for uncorrelated material, nearer equal gain when alike).
        """
        n = self.source.shape[0]
        tail_start = prev.src_start + prev.length - fade
        tail = self.source[tail_start : tail_start + fade].sum(axis=1).astype(np.float64)
        lo = max(0, src - self.align)
        hi = min(n - length, src + self.align)
        if hi < lo or fade < 8:
            return src, 0.0
        # Find the lag on the central 20 ms (where a crossfade is most exposed), cheaply...
        probe = min(fade, 2 * self.align)
        p0 = (fade - probe) // 2
        tail_probe = tail[p0 : p0 + probe]
        region = self.source[lo + p0 : hi + p0 + probe].sum(axis=1).astype(np.float64)
        n_fft = 1 << int(math.ceil(math.log2(len(region) + probe)))
        spec = sfft.rfft(region, n_fft) * np.conj(sfft.rfft(tail_probe, n_fft))
        corr = sfft.irfft(spec, n_fft)[: hi - lo + 1]  # corr[k] = <region[k : k + probe], tail_probe>
        csum = np.concatenate(([0.0], np.cumsum(region * region)))
        energies = csum[probe:] - csum[:-probe]
        best = int(np.argmax(corr / np.sqrt(np.maximum(energies, 1e-30))))
        # ...then measure the correlation over the whole fade at that lag.
        head = self.source[lo + best : lo + best + fade].sum(axis=1).astype(np.float64)
        denom = math.sqrt(max(float(np.dot(head, head)) * float(np.dot(tail, tail)), 1e-30))
        r = float(np.clip(np.dot(head, tail) / denom, 0.0, _MAX_CORRELATION))
        return lo + best, r


@lru_cache(maxsize=256)
def _crossfade_table(fade: int, rho_q: int) -> tuple[np.ndarray, np.ndarray]:
    return _crossfade_law(np.arange(fade), fade, rho_q / 100.0)


def _crossfade(j: np.ndarray, fade: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Crossfade gains at grain-local frames j; rho quantised to 0.01 so tables can be cached."""
    w_in, w_out = _crossfade_table(fade, int(round(rho * 100)))
    return w_in[j], w_out[j]


def _crossfade_law(j: np.ndarray, fade: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """(fade-in, fade-out) gains keeping the expected power constant for correlation rho.

    Odd/even decomposition (Bristow-Johnson): with o = sin(pi u / 4) / sqrt(2) the law is exactly
    sin/cos at rho = 0, and e is solved from w_in^2 + w_out^2 + 2 rho w_in w_out = 1.
    """
    u = 2.0 * (j + 0.5) / fade - 1.0
    o = np.sin(0.25 * np.pi * u) / math.sqrt(2.0)
    e = np.sqrt(np.maximum((1.0 - 2.0 * o * o * (1.0 - rho)) / (2.0 * (1.0 + rho)), 0.0))
    return (e + o).astype(np.float32), (e - o).astype(np.float32)


def _speech_like_frames(mono: np.ndarray, sr: int) -> np.ndarray:
    """Per 10 ms frame: True where the excerpt looks like speech residue.

    Speech shows as strong 2-8 Hz (syllabic) modulation of the 300-3400 Hz envelope; we flag
    frames whose modulation is SPEECH_EXCESS_DB above the excerpt's median, widened by 0.1 s
    so a grain never starts or ends inside a word.
    """
    hop = max(1, int(SPEECH_FRAME_S * sr))
    n_frames = len(mono) // hop
    if n_frames < 100:  # under a second: too short to judge, and too short to be picky
        return np.zeros(max(n_frames, 1), dtype=bool)
    from scipy import signal  # here, not at the top: a render builds its bed on a worker thread

    x = mono[: n_frames * hop].astype(np.float64)
    hi_hz = min(3400.0, 0.45 * sr)
    sos = signal.butter(4, [300.0, hi_hz], "bandpass", fs=sr, output="sos")
    band = signal.sosfilt(sos, x)
    level_db = 10.0 * np.log10(np.mean(band.reshape(n_frames, hop) ** 2, axis=1) + 1e-12)
    frame_rate = 1.0 / SPEECH_FRAME_S
    # Modulation of the envelope in dB: speech swings 10-20 dB per syllable, steady beds ~2 dB.
    mod_sos = signal.butter(2, [2.0, 8.0], "bandpass", fs=frame_rate, output="sos")
    mod = signal.sosfiltfilt(mod_sos, level_db)
    smooth = np.hanning(int(0.5 * frame_rate))
    smooth /= smooth.sum()
    score = np.maximum(np.convolve(mod * mod, smooth, "same"), 1e-30)
    excess_db = 10.0 * np.log10(score / max(float(np.median(score)), 1e-30))
    # A very eventful texture (birdsong) is modulated everywhere: avoid only its worst part, or
    # the bed would lose the events that make the scene.
    threshold_db = max(SPEECH_EXCESS_DB, float(np.quantile(excess_db, 1.0 - MAX_AVOIDED_FRACTION)))
    bad = excess_db > threshold_db
    widen = int(0.1 * frame_rate)
    return np.convolve(bad.astype(float), np.ones(2 * widen + 1), "same") > 0
