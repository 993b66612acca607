"""Band-power envelopes from one chunked STFT: the common front end of reverb and spectrum analysis.

One STFT serves every band (octave for decays, third-octave for spectra) so a 60 s reference is
analysed in a fraction of a second, and chunking keeps memory bounded for 10-minute clips. A
~32 ms Hann window resolves the 125 Hz octave (several bins) while its ~16 ms effective
smoothing is short next to the fastest decay we care about (RT60 0.2 s = 300 dB/s).
"""

from __future__ import annotations

import numpy as np

HOP_S = 0.005
WINDOW_S = 0.032


def stft_params(sample_rate_hz: int, hop_s: float = HOP_S) -> tuple[int, int]:
    """(window, hop) in samples; the window is a power of two near WINDOW_S for FFT speed."""
    win = int(2 ** np.round(np.log2(WINDOW_S * sample_rate_hz)))
    hop = max(1, int(round(hop_s * sample_rate_hz)))
    return win, hop


def band_edges_hz(centres_hz: tuple[float, ...], fraction: float) -> np.ndarray:
    """(n, 2) lower/upper edges for bands of ``fraction`` octave (1 or 1/3) around the centres."""
    c = np.asarray(centres_hz, dtype=np.float64)
    half = 2.0 ** (fraction / 2.0)
    return np.stack([c / half, c * half], axis=1)


def band_matrix(edges_hz: np.ndarray, n_fft: int, sample_rate_hz: int) -> np.ndarray:
    """(bins, bands) 0/1 matrix summing FFT bins into bands; bands beyond Nyquist stay empty."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    m = np.zeros((freqs.size, edges_hz.shape[0]), dtype=np.float32)
    for j, (lo, hi) in enumerate(edges_hz):
        m[(freqs >= lo) & (freqs < hi), j] = 1.0
    return m


def band_power(
    x: np.ndarray, sample_rate_hz: int, edges_hz: np.ndarray, chunk_frames: int = 4000, hop_s: float = HOP_S
) -> np.ndarray:
    """(frames, bands) power per band and STFT frame of a 1-D signal, frame k centred at k * hop.

    Scaled so a stationary signal's band power equals its mean-square in that band (Parseval with
    the window's energy), so spectra come out in dBFS per band.
    """
    x = np.asarray(x, dtype=np.float32)
    win, hop = stft_params(sample_rate_hz, hop_s)
    window = np.hanning(win).astype(np.float32)
    scale = 2.0 / (win * float(np.sum(window**2)))
    m = band_matrix(edges_hz, win, sample_rate_hz)
    padded = np.pad(x, (win // 2, win // 2 + hop))
    n_frames = max(0, (padded.size - win) // hop + 1)
    out = np.empty((n_frames, edges_hz.shape[0]), dtype=np.float32)
    for f0 in range(0, n_frames, chunk_frames):
        f1 = min(n_frames, f0 + chunk_frames)
        idx = (np.arange(f0, f1) * hop)[:, None] + np.arange(win)[None, :]
        spec = np.fft.rfft(padded[idx] * window, axis=1)
        p = (spec.real**2 + spec.imag**2) * scale
        out[f0:f1] = p @ m
    return out
