"""Where the model's band meets the match engine's: the crossovers and the level join.

The model renders at 16 kHz; above its band the match engine's render is used (see
engine.stylize.renderer for which formulation takes which):

* ``power_crossover``: the residual's power-complementary pair (its stems are diffuse sounds);
* ``crossover_lowpass``: the full formulation's complementary FIR (out = delay(match) + LP(model - match));
* ``LevelJoin``: a gain that makes the match engine's stem above the crossover continue the model's level;
* ``StreamFIR`` / ``StreamDelay``: the streaming filters and delay lines they run in.
"""

from __future__ import annotations

import numpy as np

CROSSOVER_HZ = 7000.0  # below soxr HQ's passband edge at 8 kHz Nyquist (~7.3 kHz) and the vocoder's top
CROSSOVER_BAND_HZ = (6300.0, 7300.0)  # the residual's power-complementary ramp (see power_crossover)
LEVEL_JOIN_BAND_HZ = (5600.0, 6400.0)
LEVEL_JOIN_PRIOR_S = 0.25
LEVEL_JOIN_MAX_DB = 24.0
POWER_CROSSOVER_TAPS_PER_KHZ = 8  # 4 would leave a 0.4 dB dip at the ramp's middle; 8 leaves < 0.1 dB
CROSSOVER_TAPS_PER_KHZ = 4  # FIR length ~ 4 taps per kHz of source rate: ~1 kHz transition band


def crossover_lowpass(rate_hz: int) -> np.ndarray:
    from scipy.signal import firwin

    taps = int(round(CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1
    return firwin(taps, CROSSOVER_HZ, fs=rate_hz, window=("kaiser", 8.0))


def power_crossover(rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) linear-phase FIRs of equal length with |L|^2 + |H|^2 = 1.

    Why power- and not amplitude-complementary: the model's residual and the match engine's above
    the crossover are independent renderings of a diffuse sound (tails, beds), so their powers add;
    L + H = 1 would leave a 3 dB hole where both are at half amplitude. Gains follow a cos/sin ramp
    over CROSSOVER_BAND_HZ, below the resampler's passband edge.
    """
    from scipy.signal import firwin2

    taps = int(round(POWER_CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1
    lo_hz, hi_hz = CROSSOVER_BAND_HZ
    freqs = np.concatenate([[0.0], np.linspace(lo_hz, hi_hz, 33), [rate_hz / 2.0]])
    ramp = np.concatenate([[0.0], np.linspace(0.0, 1.0, 33), [1.0]])
    low = firwin2(taps, freqs, np.cos(0.5 * np.pi * ramp), fs=rate_hz, window=("kaiser", 6.0))
    high = firwin2(taps, freqs, np.sin(0.5 * np.pi * ramp), fs=rate_hz, window=("kaiser", 6.0))
    return low, high


class StreamFIR:
    """A FIR over (frames, channels) blocks, with its state carried from block to block."""

    def __init__(self, taps: np.ndarray, channels: int) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        self.state = np.zeros((len(self.taps) - 1, channels))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import lfilter

        if len(x) == 0:
            return np.zeros((0, self.state.shape[1]))
        y, self.state = lfilter(self.taps, [1.0], np.asarray(x, dtype=np.float64), axis=0, zi=self.state)
        return y


class StreamDelay:
    def __init__(self, frames: int, channels: int) -> None:
        self.line = np.zeros((frames, channels), np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        joined = np.concatenate([self.line, np.asarray(x, np.float32)])
        self.line = joined[len(x):]
        return joined[: len(x)]


class LevelJoin:
    """Gain for the match engine's stem above the crossover, so its level continues the model's.

    The model and the match engine estimate a scene's level independently; where they disagree the
    crossover would show a step of that size (a model hearing pink noise renders a 17 dB louder bed
    than the preset's). Both are measured in the third octaves just below the ramp
    (``LEVEL_JOIN_BAND_HZ``), accumulated from the start of the file (the dB ratio is shrunk
    towards 0 by n / (n + ``LEVEL_JOIN_PRIOR_S``), so the first blocks stay near unity), and
    clamped to +-LEVEL_JOIN_MAX_DB. Cumulative sums: the gain settles instead of riding the signal.
    """

    def __init__(self, rate_hz: int, channels: int) -> None:
        from scipy.signal import firwin

        taps = firwin(int(round(POWER_CROSSOVER_TAPS_PER_KHZ * rate_hz / 1000.0)) | 1, LEVEL_JOIN_BAND_HZ,
                      pass_zero=False, fs=rate_hz)
        self._model, self._match = StreamFIR(taps, 1), StreamFIR(taps, channels)
        self._prior = LEVEL_JOIN_PRIOR_S * rate_hz
        self._p_model = self._p_match = 0.0
        self._n = 0

    def __call__(self, model: np.ndarray, match: np.ndarray) -> float:
        gain = self.gain
        if len(model):
            self._p_model += float(np.sum(self._model(model[:, None]) ** 2))
            # Per channel, as each output channel plays it (the mid of decorrelated channels is 3 dB lower).
            self._p_match += float(np.mean(np.sum(self._match(match) ** 2, axis=0)))
            self._n += len(model)
        return gain

    @property
    def gain(self) -> float:
        """From what came before this block (so a block's gain never depends on its own samples)."""
        if self._n == 0 or self._p_match <= 0.0 or self._p_model <= 0.0:
            return 1.0
        db = 10.0 * np.log10(self._p_model / self._p_match) * self._n / (self._n + self._prior)
        return float(10.0 ** (np.clip(db, -LEVEL_JOIN_MAX_DB, LEVEL_JOIN_MAX_DB) / 20.0))
