"""Streaming ITU-R BS.1770-4 integrated loudness.

Deliverables are specified in LUFS, and renders are longer than memory, so the meter keeps only
K-weighting filter state and one energy per 100 ms per channel (the 75 % overlap of 400 ms gating
blocks means every gating block is exactly four consecutive 100 ms sub-blocks).

The K-weighting runs as an FIR (the two biquads' impulse response, which has decayed below float64
rounding within K_WEIGHTING_FIR_S) through the FFT block convolver: a sample-serial IIR cost as much
as the whole scene render, and an FIR lets a render fold the weighting into the FFTs it already does
(``add_weighted``).
"""

from __future__ import annotations

import math

import numpy as np

from engine.audio.convolver import BlockConvolver

#: Reported for silence or anything below the absolute gate, so callers never see -inf or NaN.
LOUDNESS_FLOOR_LUFS = -70.0
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_SUB_BLOCKS_PER_GATE = 4  # 400 ms block, 100 ms hop
# Passband (Nyquist) gain of the BS.1770 48 kHz RLB high-pass: 4 / (1 - a1 + a2).
_HIGHPASS_PASSBAND_GAIN = 4.0 / (1.0 + 1.99004745483398 + 0.99007225036621)
# The RLB high-pass (38 Hz, Q 0.5) rings longest: its response is below 1e-20 of its peak by then.
K_WEIGHTING_FIR_S = 0.25


def k_weighting_sos(sample_rate_hz: int) -> np.ndarray:
    """BS.1770 pre-filter (high shelf) and RLB high-pass as second-order sections at any rate.

    BS.1770 only prints 48 kHz coefficients. The shelf uses the cookbook design (+4 dB, 1500 Hz,
    Q 0.707, as pyloudnorm does): it reproduces the 48 kHz filter to 0.001 dB and, unlike a
    bilinear transform pre-warped at the shelf frequency, keeps its shape at 8-16 kHz. The
    high-pass keeps the passband gain of BS.1770's [1, -2, 1] numerator at every rate (pyloudnorm
    normalises it to unity, so it reads 0.043 LU lower than the standard).
    """
    fs = float(sample_rate_hz)
    a = 10.0 ** (4.0 / 40.0)
    w0 = 2.0 * math.pi * 1500.0 / fs
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * (1.0 / math.sqrt(2.0)))
    two_sqrt_a_alpha = 2.0 * math.sqrt(a) * alpha
    a0 = (a + 1) - (a - 1) * cos_w0 + two_sqrt_a_alpha
    shelf = [
        a * ((a + 1) + (a - 1) * cos_w0 + two_sqrt_a_alpha) / a0,
        -2.0 * a * ((a - 1) + (a + 1) * cos_w0) / a0,
        a * ((a + 1) + (a - 1) * cos_w0 - two_sqrt_a_alpha) / a0,
        1.0,
        2.0 * ((a - 1) - (a + 1) * cos_w0) / a0,
        ((a + 1) - (a - 1) * cos_w0 - two_sqrt_a_alpha) / a0,
    ]
    f0_hz, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0_hz / fs)
    a0 = 1.0 + k / q + k * k
    a1, a2 = 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0
    # Same passband gain at every rate as the printed 48 kHz filter (b = [1, -2, 1]).
    gain = _HIGHPASS_PASSBAND_GAIN * (1.0 - a1 + a2) / 4.0
    highpass = [gain, -2.0 * gain, gain, 1.0, a1, a2]
    return np.array([shelf, highpass], dtype=np.float64)


def k_weighting_fir(sample_rate_hz: int, channels: int = 1) -> np.ndarray:
    """(taps, channels) float64: the K-weighting's impulse response, sampled from its frequency response.

    Sampling on a grid eight times the kept length makes the time aliasing as small as the
    truncation, so the FIR equals the IIR cascade to float64 rounding.
    """
    taps = int(math.ceil(K_WEIGHTING_FIR_S * sample_rate_hz))
    n = 1 << int(math.ceil(math.log2(8 * taps)))
    z1 = np.exp(-2j * np.pi * np.arange(n // 2 + 1) / n)  # z^-1 on the rfft grid
    response = np.ones_like(z1)
    for b0, b1, b2, _, a1, a2 in k_weighting_sos(sample_rate_hz):
        response *= (b0 + z1 * (b1 + z1 * b2)) / (1.0 + z1 * (a1 + z1 * a2))
    h = np.fft.irfft(response, n)[:taps]
    return np.repeat(h[:, None], channels, axis=1)


class LoudnessMeter:
    """Feed blocks of any size with `add`; ask `integrated_lufs` at any time."""

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        channel_weights: tuple[float, ...] | None = None,
    ) -> None:
        """`channel_weights` defaults to 1.0 everywhere (dialogue iso tracks have no speaker layout);
        pass BS.1770 weights (1.41 for surrounds, 0 for LFE) when measuring a surround mix."""
        if sample_rate_hz <= 0 or channels <= 0:
            raise ValueError("sample rate and channel count must be positive")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = int(channels)
        weights = channel_weights if channel_weights is not None else (1.0,) * channels
        if len(weights) != channels:
            raise ValueError(f"need {channels} channel weights, got {len(weights)}")
        self._weights = np.asarray(weights, dtype=np.float64)
        self._weighting: BlockConvolver | None = None  # made on the first add(); add_weighted needs none
        self._pos = 0  # K-weighted frames accumulated
        self._sub = 0  # index of the 100 ms sub-block being accumulated
        self._partial = np.zeros(self.channels, dtype=np.float64)
        self._energies: list[np.ndarray] = []  # (k, channels) sums of squares per finished sub-block
        self._finished = 0

    def _boundary(self, k: int | np.ndarray) -> int | np.ndarray:
        """Start frame of sub-block k; integer maths so odd rates (11025 Hz) don't drift."""
        return k * self.sample_rate_hz // 10

    def add(self, block: np.ndarray) -> None:
        """Consume (frames, channels) samples, keeping filter state so block size never matters."""
        block = self._check(block)
        if block.shape[0] == 0:
            return
        if self._weighting is None:
            self._weighting = BlockConvolver([k_weighting_fir(self.sample_rate_hz, self.channels)], self.channels)
        self._accumulate(self._weighting.process(block)[0])

    def add_weighted(self, block: np.ndarray) -> None:
        """Consume samples that are already K-weighted (a render that folds the weighting into its
        own FFTs); not to be mixed with ``add`` on one meter."""
        self._accumulate(self._check(block))

    def _check(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        return block

    def _accumulate(self, y: np.ndarray) -> None:
        """Sums of squares of K-weighted frames per 100 ms sub-block."""
        n = y.shape[0]
        if n == 0:
            return
        # Squares in float64 straight from the (float32) samples: the same exact products as
        # casting first, without a second full-size temporary.
        sq = np.multiply(y, y, dtype=np.float64)
        start, end = self._pos, self._pos + n
        last_k = ((end + 1) * 10 - 1) // self.sample_rate_hz  # last k with boundary(k) <= end
        ks = np.arange(self._sub + 1, last_k + 1)
        if ks.size:
            cuts = np.asarray(self._boundary(ks)) - start  # in (0, n]
            inner = cuts[cuts < n]
            segments = np.add.reduceat(sq, np.concatenate(([0], inner)), axis=0)
            sums = segments[: len(cuts)].copy()  # sub-blocks finished here, in order
            sums[0] += self._partial
            self._energies.append(sums)
            self._finished += sums.shape[0]
            self._partial = segments[len(cuts)] if len(segments) > len(cuts) else np.zeros(self.channels)
            self._sub = int(ks[-1])
        else:
            self._partial = self._partial + sq.sum(axis=0)
        self._pos = end

    def integrated_lufs(self) -> float:
        """Gated integrated loudness so far (absolute -70 LUFS, relative -10 LU), floored at -70."""
        if self._weighting is not None and self._weighting.pending_frames:
            self._accumulate(self._weighting.flush()[0])  # the FIR is causal: its state carries on
        if self._finished >= _SUB_BLOCKS_PER_GATE:
            e = np.concatenate(self._energies, axis=0)
            m = e.shape[0] - _SUB_BLOCKS_PER_GATE + 1
            block_sums = sum(e[i : i + m] for i in range(_SUB_BLOCKS_PER_GATE))
            starts = np.arange(m)
            lengths = np.asarray(self._boundary(starts + _SUB_BLOCKS_PER_GATE)) - np.asarray(self._boundary(starts))
            z = block_sums / lengths[:, None]
        elif self._pos > 0:
            # Shorter than one gating block: measure what there is rather than report silence.
            total = (np.concatenate(self._energies, axis=0).sum(axis=0) if self._energies else 0.0) + self._partial
            z = (total / self._pos)[None, :]
        else:
            return LOUDNESS_FLOOR_LUFS
        return _gated_loudness(z, self._weights)


def _loudness(power: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(power)


def _gated_loudness(z: np.ndarray, weights: np.ndarray) -> float:
    block_lufs = _loudness(z @ weights)
    gated = block_lufs >= _ABSOLUTE_GATE_LUFS
    if not gated.any():
        return LOUDNESS_FLOOR_LUFS
    relative_gate = float(_loudness(z[gated].mean(axis=0) @ weights)) + _RELATIVE_GATE_LU
    gated &= block_lufs > relative_gate
    if not gated.any():
        return LOUDNESS_FLOOR_LUFS
    value = float(_loudness(z[gated].mean(axis=0) @ weights))
    return max(value, LOUDNESS_FLOOR_LUFS) if math.isfinite(value) else LOUDNESS_FLOOR_LUFS


def integrated_loudness(x: np.ndarray, sample_rate_hz: int) -> float:
    """One-shot convenience over `LoudnessMeter`, so both paths give the same number."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a (frames, channels) array, got shape {x.shape}")
    meter = LoudnessMeter(sample_rate_hz, x.shape[1])
    meter.add(x)
    return meter.integrated_lufs()
