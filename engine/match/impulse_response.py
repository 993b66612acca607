"""A synthetic room impulse response built from a scene's band RT60s and its DRR.

The analyser only hands us a handful of numbers, so the response is a statistical room model:
a unit direct impulse at t = 0 (so the render adds no latency), a few sparse early reflections
whose density grows like t**2 (as image sources do), and a diffuse tail of noise whose decay rate
varies smoothly with frequency. The reflections and the diffuse noise share one excitation whose
expected power is flat, so every frequency decays exactly exponentially from the first reflection
on: that is what keeps a Schroeder measurement of the result equal to the profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from engine.scene.profile import SceneProfile

SPEED_OF_SOUND_M_S = 343.0
MAX_LENGTH_S = 12.0
LENGTH_PER_RT60 = 1.2  # -72 dB at the end of the slowest band: far below any T30 fit range
MIN_LENGTH_S = 0.1
# Air absorption above the profile's top band (ISO 9613-1, 20 C, 50 % RH: ~0.1 dB/m at 8 kHz,
# growing about as f^2): the octave RT60s stop at 8 kHz, and a tail keeps losing highs above it
# faster the longer it travels, so a church's top octave darkens while a booth's barely does.
AIR_DB_PER_M_AT_8K = 0.1
_DB60_NEPER = 3.0 * math.log(10.0)  # amplitude decay rate (1/s) times RT60 for a 60 dB energy drop
_BANDS_PER_OCTAVE = 3  # decay filterbank resolution: fine enough that neighbouring rates barely differ
_LOWEST_BAND_HZ = 20.0
_END_FADE_S = 0.005
_MAX_REFLECTIONS = 400


@dataclass(frozen=True)
class ImpulseResponse:
    """Direct and reverberant parts kept apart so the renderer can write them as separate stems."""

    direct: np.ndarray  # (frames, channels) float32: the dry path, a unit impulse at t = 0
    late: np.ndarray  # (frames, channels) float32: early reflections + diffuse tail
    sample_rate_hz: int

    @property
    def full(self) -> np.ndarray:
        return self.direct + self.late

    @property
    def channels(self) -> int:
        return int(self.direct.shape[1])

    def __len__(self) -> int:
        return int(self.direct.shape[0])


@dataclass(frozen=True)
class _RoomGeometry:
    """Timing of the early part, implied by room size because the profile has no geometry."""

    volume_m3: float
    first_reflection_s: float
    mixing_s: float  # end of the early part: the diffuse tail is fully faded in by then


def synthesise_ir(
    profile: SceneProfile,
    sample_rate_hz: int,
    channels: int,
    seed: int,
    wet_db: float = 0.0,
) -> ImpulseResponse:
    """Build the scene's response at the render rate; wet_db raises the reverberant part (lowers DRR).

    Every channel shares the direct impulse but gets its own reflections and tail noise, which is
    what a spaced pair or a surround array hears in a diffuse field (decorrelated reverb).
    """
    if sample_rate_hz <= 0 or channels <= 0:
        raise ValueError("sample rate and channel count must be positive")
    sr = int(sample_rate_hz)
    bands_hz = np.asarray(profile.bands_hz, dtype=np.float64)
    rt60_s = np.asarray(profile.rt60_s, dtype=np.float64)
    audible = bands_hz < sr / 2.0
    if not audible.any():
        audible[0] = True
    longest_s = float(rt60_s[audible].max())
    frames = int(round(min(max(LENGTH_PER_RT60 * longest_s, MIN_LENGTH_S), MAX_LENGTH_S) * sr))
    room = _room_geometry(float(np.median(rt60_s[audible])))

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x52495200]))
    design_rt60_s = _compensate_for_band_measurement(bands_hz, rt60_s, sr, frames / sr)
    shaper = _DecayShaper(frames, sr, bands_hz, design_rt60_s)
    late = np.empty((frames, channels), dtype=np.float32)
    reverberant_energy = 10.0 ** (-profile.drr_db / 10.0)  # direct energy is 1
    wet_gain = 10.0 ** (wet_db / 20.0)
    excitations = np.stack([_excitation(frames, sr, room, rng) for _ in range(channels)])
    tails = shaper.shape(excitations)  # (channels, frames), all channels in one FFT pass
    early_w = _early_weight(frames, sr) if profile.c50_db is not None else None  # one crossover for all
    for ch in range(channels):
        tail = tails[ch]
        tail[: int(room.first_reflection_s * sr)] = 0.0  # zero-phase bands leak a little before onset
        fade = min(int(_END_FADE_S * sr), frames // 4)
        if fade > 0:
            tail[frames - fade :] *= np.cos(0.5 * np.pi * (np.arange(fade) + 0.5) / fade) ** 2
        energy = float(np.dot(tail, tail))
        if energy <= 0.0:
            late[:, ch] = 0.0
            continue
        tail *= math.sqrt(reverberant_energy / energy)
        if early_w is not None:
            tail *= _clarity_gain(tail, early_w, sr, reverberant_energy, profile.c50_db)
        late[:, ch] = tail * wet_gain
    direct = np.zeros((frames, channels), dtype=np.float32)
    direct[0, :] = 1.0
    return ImpulseResponse(direct=direct, late=late, sample_rate_hz=sr)


CLARITY_SPLIT_S = 0.05  # C50's boundary
_CLARITY_FADE_S = (0.04, 0.06)  # the early/late gain crosses over here, so no step sits at 50 ms
_CLARITY_GAIN_RANGE = (0.05, 20.0)  # energy factors: at most -13 / +13 dB on either part


def _early_weight(frames: int, sr: int) -> np.ndarray:
    """The early part's share of each sample's gain: 1 before 40 ms, 0 after 60 ms, cos² between."""
    lo, hi = _CLARITY_FADE_S
    u = np.clip((np.arange(frames) / sr - lo) / (hi - lo), 0.0, 1.0)
    return np.cos(0.5 * np.pi * u) ** 2


def _clarity_gain(tail: np.ndarray, early_w: np.ndarray, sr: int, reverberant_energy: float,
                  c50_db: float) -> np.ndarray:
    """Per-sample amplitude gain that gives the response (unit direct + ``tail``) the scene's C50.

    An exponential tail from the first reflection fixes how much of the reverberant energy comes in
    the first 50 ms; a real room puts more there (floor, desk and near-wall reflections), and that
    early energy counts against the DRR yet helps intelligibility. So with the DRR alone a
    close-miked room rendered more washed than it sounds. The early part (before 40 ms) and the
    late part (after 60 ms) get energy factors a and b, crossed over in between, solved so that the
    reverberant energy stays the DRR's and C50 is the profile's; the late decay rate is untouched.
    """
    n = tail.size
    e = tail.astype(np.float64) ** 2
    split = min(int(round(CLARITY_SPLIT_S * sr)), n)
    m = np.array([[np.dot(early_w[:split], e[:split]), np.dot(1.0 - early_w[:split], e[:split])],
                  [np.dot(early_w[split:], e[split:]), np.dot(1.0 - early_w[split:], e[split:])]])
    late_target = (1.0 + reverberant_energy) / (1.0 + 10.0 ** (c50_db / 10.0))
    late_target = min(late_target, reverberant_energy)
    try:
        a, b = np.linalg.solve(m, [reverberant_energy - late_target, late_target])
    except np.linalg.LinAlgError:
        return np.ones(n)
    a, b = (float(np.clip(v, *_CLARITY_GAIN_RANGE)) for v in (a, b))
    gain2 = b + (a - b) * early_w
    gain2 *= reverberant_energy / float(np.dot(gain2, e))  # the DRR wins where a clip bit
    return np.sqrt(gain2)


def _room_geometry(mid_rt60_s: float) -> _RoomGeometry:
    """Guess a room from its RT60: Sabine with mean absorption 0.3 in a cube gives L ~ 11 m * RT60."""
    side_m = float(np.clip(11.2 * mid_rt60_s, 2.0, 40.0))
    first_s = float(np.clip(side_m / (2.0 * SPEED_OF_SOUND_M_S), 0.004, 0.02))
    mixing_s = float(np.clip(first_s + 0.1 * mid_rt60_s, first_s + 0.01, 0.08))
    return _RoomGeometry(volume_m3=side_m**3, first_reflection_s=first_s, mixing_s=mixing_s)


def _excitation(frames: int, sr: int, room: _RoomGeometry, rng: np.random.Generator) -> np.ndarray:
    """Unit-power excitation from the first reflection on: sparse impulses fading into noise.

    The noise is faded in over the early part and the reflections carry the missing power, so the
    response is sparse at first and diffuse later, yet the expected energy envelope stays flat
    (the exponential decay is applied afterwards, per frequency).
    """
    t0, t1 = room.first_reflection_s, room.mixing_s
    t_s = np.arange(frames) / sr
    fade_in = np.clip((t_s - t0) / (t1 - t0), 0.0, 1.0)
    fade_in = np.sin(0.5 * np.pi * fade_in) ** 2
    fade_in[t_s < t0] = 0.0
    x = rng.standard_normal(frames) * fade_in

    # Image-source density: dN/dt = 4 pi c^3 t^2 / V; thinned to a cap so the early part stays sparse.
    span = t1**3 - t0**3
    expected = 4.0 * math.pi * SPEED_OF_SOUND_M_S**3 * span / (3.0 * room.volume_m3)
    count = int(np.clip(round(expected), 3, _MAX_REFLECTIONS))
    times_s = np.cbrt(t0**3 + rng.random(count) * span)
    density_per_s = count * 3.0 * times_s**2 / span
    idx = np.minimum((times_s * sr).astype(np.int64), frames - 1)
    missing_power = 1.0 - fade_in[idx] ** 2
    amplitude = np.sqrt(missing_power * sr / density_per_s)
    signs = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    np.add.at(x, idx, signs * amplitude)
    return x


def _band_masks(freqs_hz: np.ndarray, sr: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Raised-cosine 1/3-octave masks in log f that sum to one (flat below/above the outer ones).

    Returned sparse, as (first index, values) over the ascending `freqs_hz`, since each band
    touches only a sliver of a long spectrum.
    """
    nyquist_hz = sr / 2.0
    n_centres = max(1, int(math.floor(_BANDS_PER_OCTAVE * math.log2(nyquist_hz / _LOWEST_BAND_HZ))) + 1)
    centres = _LOWEST_BAND_HZ * 2.0 ** (np.arange(n_centres) / _BANDS_PER_OCTAVE)
    log_f = np.log2(np.maximum(freqs_hz, 1e-3))
    step = 1.0 / _BANDS_PER_OCTAVE
    masks = []
    for k, lc in enumerate(np.log2(centres)):
        lo = 0 if k == 0 else int(np.searchsorted(log_f, lc - step, side="right"))
        hi = len(log_f) if k == n_centres - 1 else int(np.searchsorted(log_f, lc + step, side="left"))
        u = (log_f[lo:hi] - lc) / step
        m = np.cos(0.5 * np.pi * np.clip(u, -1.0, 1.0)) ** 2
        if k == 0:
            m[u <= 0.0] = 1.0
        if k == n_centres - 1:
            m[u >= 0.0] = 1.0
        masks.append((lo, m))
    return centres, masks


def _rt60_at(centres_hz: np.ndarray, bands_hz: np.ndarray, rt60_s: np.ndarray) -> np.ndarray:
    """log RT60 interpolated linearly in log f, flat below the lowest band; above the top band the
    top band's decay plus the air's extra absorption there (AIR_DB_PER_M_AT_8K)."""
    rt = np.exp(np.interp(np.log2(centres_hz), np.log2(bands_hz), np.log(rt60_s)))
    top_hz = float(bands_hz[-1])
    extra_db_per_m = AIR_DB_PER_M_AT_8K * (np.square(centres_hz / 8000.0) - (top_hz / 8000.0) ** 2)
    extra_db_per_s = np.where(centres_hz > top_hz, extra_db_per_m, 0.0) * SPEED_OF_SOUND_M_S
    return 60.0 / (60.0 / rt + extra_db_per_s)


def _compensate_for_band_measurement(
    bands_hz: np.ndarray, rt60_s: np.ndarray, sr: int, length_s: float, iterations: int = 4
) -> np.ndarray:
    """Band RT60s to design with, so that octave-band measurement of the result gives rt60_s back.

    The profile's numbers are octave-band measurements (Schroeder T30 on octave-filtered audio).
    With a smooth RT60 curve, a band whose neighbour rings longer measures long, because the slow
    neighbour energy in its skirts dominates the late decay. We predict that measurement from the
    expected (noise-free) energy envelope and correct the design a few times (fixed point).
    """
    nyquist_hz = sr / 2.0
    freqs_hz = np.geomspace(_LOWEST_BAND_HZ / 2.0, nyquist_hz * 0.999, 800)
    weight = freqs_hz  # white noise power per log-frequency step
    centres, masks = _band_masks(freqs_hz, sr)
    mask_matrix = np.zeros((len(masks), len(freqs_hz)))  # (centres, freqs)
    for k, (lo, m) in enumerate(masks):
        mask_matrix[k, lo : lo + len(m)] = m
    t_s = np.linspace(0.0, length_s, 300)
    measurable = [i for i, b in enumerate(bands_hz) if b * math.sqrt(2.0) < 0.95 * nyquist_hz]
    band_weights = {}
    for i in measurable:
        power = _octave_filter_power(freqs_hz, bands_hz[i], sr)
        band_weights[i] = weight * power**2  # zero-phase filtering squares the magnitude
    design = rt60_s.astype(np.float64).copy()
    for _ in range(iterations):
        rates = _DB60_NEPER / _rt60_at(centres, bands_hz, design)
        amplitude = mask_matrix.T @ np.exp(-np.outer(rates, t_s))  # (freqs, times)
        power = amplitude**2
        for i in measurable:
            measured = _t30_from_envelope(band_weights[i] @ power, t_s)
            if math.isfinite(measured) and measured > 0.0:
                design[i] *= rt60_s[i] / measured
        design = np.clip(design, 0.5 * rt60_s, 2.0 * rt60_s)
    return design


def _octave_filter_power(freqs_hz: np.ndarray, centre_hz: float, sr: int, order: int = 3) -> np.ndarray:
    """|H|^2 of the digital Butterworth octave band-pass the measurement uses (bilinear design).

    Closed form: the bilinear transform maps f to the analogue 2 sr tan(pi f / sr), where the
    band-pass Butterworth's power is 1 / (1 + ((w^2 - w_lo w_hi) / ((w_hi - w_lo) w))^(2 order)).
    """
    def warp(f_hz):
        return 2.0 * sr * np.tan(np.pi * np.asarray(f_hz, dtype=np.float64) / sr)

    w, lo, hi = warp(freqs_hz), warp(centre_hz / math.sqrt(2.0)), warp(centre_hz * math.sqrt(2.0))
    x = (w * w - lo * hi) / ((hi - lo) * w)
    return 1.0 / (1.0 + x ** (2 * order))


def _t30_from_envelope(energy: np.ndarray, t_s: np.ndarray) -> float:
    edc = np.cumsum(energy[::-1])[::-1]
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-30))
    sel = (edc_db <= -5.0) & (edc_db >= -35.0)
    if sel.sum() < 3:
        return float("nan")
    slope, _ = np.polyfit(t_s[sel], edc_db[sel], 1)
    return float(-60.0 / slope) if slope < 0 else float("nan")


class _DecayShaper:
    """Applies a per-frequency exponential decay, interpolated in log-frequency from band RT60s.

    Done as a bank of overlapping 1/3-octave bands (raised-cosine in log f, summing to one) each
    multiplied by its own exact per-sample exponential. An STFT gain would be simpler but smears
    the envelope over a frame, which biases short RT60s; this keeps every band's decay exact.
    """

    def __init__(self, frames: int, sr: int, bands_hz: np.ndarray, rt60_s: np.ndarray) -> None:
        self.frames = frames
        # Padding keeps the circular wrap of the long low-frequency band filters off the response.
        self.n_fft = 1 << int(math.ceil(math.log2(frames + int(0.25 * sr))))  # pow2: fastest here
        freqs_hz = np.fft.rfftfreq(self.n_fft, 1.0 / sr)
        centres, self.masks = _band_masks(freqs_hz, sr)
        rt_at_centres = _rt60_at(centres, bands_hz, rt60_s)
        t_s = np.arange(frames) / sr
        self.decay_rates = _DB60_NEPER / rt_at_centres
        self.t_s = t_s

    def shape(self, excitation: np.ndarray) -> np.ndarray:
        """(channels, frames) excitation -> (channels, frames) decaying tail."""
        # complex64/float32 halves the cost; the tail's own noise is far above float32 rounding.
        spectrum = sfft.rfft(excitation, self.n_fft, axis=-1, workers=2).astype(np.complex64)
        spectrum[:, 0] = 0.0  # no DC in a reverberant tail
        out = np.zeros((excitation.shape[0], self.frames), dtype=np.float64)
        band_spec = np.zeros_like(spectrum)
        prev = (0, 0)
        for (lo, mask), rate in zip(self.masks, self.decay_rates):
            hi = lo + len(mask)
            band_spec[:, prev[0] : prev[1]] = 0.0
            band_spec[:, lo:hi] = spectrum[:, lo:hi] * mask.astype(np.float32)
            prev = (lo, hi)
            band = sfft.irfft(band_spec, self.n_fft, axis=-1, workers=2)[:, : self.frames]
            out += band * np.exp(-rate * self.t_s).astype(np.float32)
        return out
