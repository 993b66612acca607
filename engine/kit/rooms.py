"""Room descriptions and fast, physically scaled room impulse responses.

Why a hybrid instead of pure image sources: pyroomacoustics' image-source model (ISM) is exact
for a shoebox, but the number of images grows with the cube of the order, and a 5 s room needs
order ~170 before the decay is complete -- minutes per RIR and still a sparse, metallic tail. The
late field of a real room is statistically just exponentially decaying noise, so each RIR is:

* ISM up to ``ISM_MAX_ORDER`` (pyroomacoustics ``ShoeBox`` for the geometry and wall losses, with
  the absorption from ``pra.inverse_sabine`` for the target RT60), kept up to the time ``t_c`` by
  which every image of higher order would still be missing (a conservative geometric bound);
* from ``t_c`` on, an energy-complementary crossfade into Gaussian noise whose per-octave-band
  envelope decays with the band's target RT60 and whose level is the diffuse-field energy density
  of the room (c / 4 pi V per second, the same scale as the ISM's 1 / 4 pi r images), so the
  direct-to-reverberant ratio stays physical rather than arbitrary.

A 5 s RT60 cathedral renders in well under a second. The truth used for scoring is never this
target: it is measured from the returned RIR with ``engine.kit.acoustics``.

Every RIR is normalised so the direct path is exactly 1.0 at ``DIRECT_INDEX`` (propagation delay
removed, so wet speech stays time-aligned with the dry source to within that many samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pyroomacoustics as pra
from scipy import signal

from engine.errors import RoomtoneError
from engine.kit.acoustics import OCTAVE_BANDS_HZ

SPEED_OF_SOUND_M_S = 343.0

# Direct sound lands on this sample: half the fractional-delay filter, so nothing precedes index 0.
DIRECT_INDEX = 40
_FRACTIONAL_DELAY_TAPS = 2 * DIRECT_INDEX + 1

ISM_MAX_ORDER = 10

# Outdoor responses carry only a faint, short tail (scattering from foliage, kerbs, parked cars).
_OUTDOOR_TAIL_DB = -24.0

RoomKind = Literal["shoebox", "outdoor"]


@dataclass(frozen=True)
class RoomConfig:
    """A space with one talker and one microphone.

    Exactly one of ``rt60_s`` (mid-band target, 500-1000 Hz) and ``absorption`` (uniform energy
    absorption coefficient, converted with Sabine's formula) describes the decay;
    ``rt60_band_scale`` shapes it over ``OCTAVE_BANDS_HZ`` (real rooms ring longer in the bass and
    shorter in the treble). For ``kind='outdoor'`` the z axis is height above the ground,
    ``dims_m`` bounds where reflecting facades may stand and ``rt60_s`` is the faint short tail.
    """

    kind: RoomKind = "shoebox"
    dims_m: tuple[float, float, float] = (6.0, 4.5, 2.8)
    source_m: tuple[float, float, float] = (2.0, 2.0, 1.6)
    mic_m: tuple[float, float, float] = (3.5, 2.4, 1.7)
    rt60_s: float | None = 0.5
    absorption: float | None = None
    rt60_band_scale: tuple[float, ...] = field(default=(1.0,) * len(OCTAVE_BANDS_HZ))

    def __post_init__(self) -> None:
        if self.kind not in ("shoebox", "outdoor"):
            raise RoomtoneError(f"unknown room kind {self.kind!r}; use 'shoebox' or 'outdoor'")
        if (self.rt60_s is None) == (self.absorption is None):
            raise RoomtoneError("give exactly one of rt60_s and absorption")
        if self.rt60_s is not None and not self.rt60_s > 0:
            raise RoomtoneError(f"rt60_s must be positive, got {self.rt60_s}")
        if self.absorption is not None and not 0 < self.absorption <= 1:
            raise RoomtoneError(f"absorption must be in (0, 1], got {self.absorption}")
        if len(self.rt60_band_scale) != len(OCTAVE_BANDS_HZ) or min(self.rt60_band_scale) <= 0:
            raise RoomtoneError(f"rt60_band_scale needs {len(OCTAVE_BANDS_HZ)} positive factors")
        if self.kind == "shoebox":
            for name in ("source_m", "mic_m"):
                pos = getattr(self, name)
                if any(not 0 < p < d for p, d in zip(pos, self.dims_m)):
                    raise RoomtoneError(f"{name} {pos} lies outside the room {self.dims_m}")
        elif self.source_m[2] <= 0 or self.mic_m[2] <= 0:
            raise RoomtoneError("outdoor source and mic must be above the ground (z > 0)")
        if np.allclose(self.source_m, self.mic_m):
            raise RoomtoneError("source and microphone cannot coincide")

    @property
    def volume_m3(self) -> float:
        return float(np.prod(self.dims_m))

    @property
    def surface_m2(self) -> float:
        x, y, z = self.dims_m
        return 2.0 * (x * y + x * z + y * z)

    @property
    def distance_m(self) -> float:
        return float(np.linalg.norm(np.subtract(self.source_m, self.mic_m)))

    def mid_rt60_s(self) -> float:
        """The mid-band target: given directly, or Sabine's estimate from the absorption."""
        if self.rt60_s is not None:
            return float(self.rt60_s)
        return 0.161 * self.volume_m3 / (self.surface_m2 * float(self.absorption))

    def target_band_rt60_s(self) -> np.ndarray:
        """Per-band target decay over ``OCTAVE_BANDS_HZ`` (what the RIR is built from, not its truth)."""
        return self.mid_rt60_s() * np.asarray(self.rt60_band_scale, dtype=np.float64)


def random_room(
    rng: np.random.Generator,
    rt60_range_s: tuple[float, float] = (0.2, 5.0),
    kind: RoomKind = "shoebox",
) -> RoomConfig:
    """A plausible random room: size grows with RT60, talker 0.5-5 m from the mic at head height.

    RT60 is log-uniform because perception (and our error metrics) are roughly proportional.
    Outdoor spaces ignore ``rt60_range_s``: their tail is always faint and short.
    """
    if kind == "outdoor":
        return _random_outdoor(rng)
    if kind != "shoebox":
        raise RoomtoneError(f"unknown room kind {kind!r}; use 'shoebox' or 'outdoor'")
    lo_s, hi_s = sorted(float(v) for v in rt60_range_s)
    rt60_s = float(np.exp(rng.uniform(np.log(lo_s), np.log(hi_s))))
    size_m = float(np.clip(3.5 * rt60_s**0.8 * rng.uniform(0.8, 1.3), 3.0, 40.0))
    dims = (
        size_m * rng.uniform(1.0, 1.8),
        size_m * rng.uniform(0.7, 1.1),
        float(np.clip(size_m * rng.uniform(0.4, 0.7), 2.4, 20.0)),
    )
    # Too dead for its size would need absorption > 1; shrink the room until Sabine is feasible.
    while 0.161 * np.prod(dims) / (2 * (dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2]) * rt60_s) > 0.9:
        dims = (dims[0] * 0.9, dims[1] * 0.9, max(2.4, dims[2] * 0.9))
    dims = tuple(round(d, 2) for d in dims)
    source, mic = _place_pair(rng, dims, margin_m=0.5)
    return RoomConfig(
        kind="shoebox",
        dims_m=dims,
        source_m=source,
        mic_m=mic,
        rt60_s=round(rt60_s, 3),
        rt60_band_scale=_random_band_scale(rng),
    )


def reposition_source(room: RoomConfig, rng: np.random.Generator) -> RoomConfig:
    """Same room and mic, the talker somewhere else: a second take of the same scene."""
    for _ in range(1000):
        if room.kind == "outdoor":
            distance_m = rng.uniform(0.5, 5.0)
            angle = rng.uniform(0, 2 * np.pi)
            source = (
                room.mic_m[0] + distance_m * np.cos(angle),
                room.mic_m[1] + distance_m * np.sin(angle),
                rng.uniform(1.2, 1.9),
            )
        else:
            source = tuple(rng.uniform(0.5, d - 0.5) for d in room.dims_m[:2]) + (
                rng.uniform(1.2, min(1.9, room.dims_m[2] - 0.3)),
            )
        d = float(np.linalg.norm(np.subtract(source, room.mic_m)))
        if 0.5 <= d <= 6.0 and d > 0.3 * room.distance_m:
            return replace(room, source_m=tuple(round(float(p), 3) for p in source))
    raise RoomtoneError(f"could not place a second talker in room {room.dims_m}")


def room_impulse_response(room: RoomConfig, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 RIR with the direct path exactly 1.0 at ``DIRECT_INDEX`` (see module docstring).

    ``rng`` draws the late-field noise (and, outdoors, the facades), so one seed is one RIR.
    """
    if room.kind == "outdoor":
        return _outdoor_rir(room, sample_rate_hz, rng)
    return _shoebox_rir(room, sample_rate_hz, rng)


def noise_tail(
    band_rt60_s: np.ndarray,
    n_frames: int,
    sample_rate_hz: int,
    rng: np.random.Generator,
    start_offset_s: float = 0.0,
) -> np.ndarray:
    """Unit-density Gaussian noise decaying by 60 dB in each band's RT60 (float64, 1-D).

    Bands are split with telescoping zero-phase low-passes (band k = LP_k - LP_{k-1}), which sum
    back to the original noise exactly, so equal band RT60s give a flat-spectrum tail. The envelope
    is exp(-6.91 (t + start_offset_s) / RT60) with per-sample variance that of unit-energy-per-
    second noise at t = -start_offset_s, i.e. time measured from emission.
    """
    noise = rng.standard_normal(n_frames) / np.sqrt(sample_rate_hz)
    t_s = np.arange(n_frames) / sample_rate_hz + start_offset_s
    rt60 = np.asarray(band_rt60_s, dtype=np.float64)
    bands = _split_bands(noise, sample_rate_hz)
    out = np.zeros(n_frames)
    for band_signal, band_index in bands:
        out += band_signal * np.exp(-6.908 * t_s / rt60[band_index])
    return out


def _shoebox_rir(room: RoomConfig, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    c = SPEED_OF_SOUND_M_S
    fs = float(sample_rate_hz)
    band_rt60 = room.target_band_rt60_s()
    mid_rt60 = room.mid_rt60_s()
    try:
        e_absorption, _ = pra.inverse_sabine(mid_rt60, list(room.dims_m), c=c)
    except ValueError as exc:
        raise RoomtoneError(f"RT60 {mid_rt60:.2f} s is too short for a room of {room.dims_m} m") from exc
    e_absorption = float(np.clip(e_absorption, 1e-4, 0.99))

    shoebox = pra.ShoeBox(
        list(room.dims_m),
        fs=sample_rate_hz,
        materials=pra.Material(e_absorption),
        max_order=ISM_MAX_ORDER,
        air_absorption=False,
    )
    shoebox.add_source(list(room.source_m))
    shoebox.add_microphone(np.asarray(room.mic_m, dtype=np.float64))
    shoebox.image_source_model()
    source = shoebox.sources[0]
    distances_m = np.linalg.norm(source.images - np.asarray(room.mic_m)[:, None], axis=0)
    amplitudes = source.damping[0] / (4.0 * np.pi * distances_m)
    # pyroomacoustics keeps images in float32: take the direct distance from the same numbers so
    # the direct path lands exactly on DIRECT_INDEX.
    direct = int(np.argmin(distances_m))
    direct_m = float(distances_m[direct])

    # Every image of order > ISM_MAX_ORDER is at least (order - 3) smallest-dimensions away, spread
    # over three axes; before this time the ISM is complete, after it the noise takes over.
    t_complete_s = max(ISM_MAX_ORDER - 2, 1) * min(room.dims_m) / (np.sqrt(3.0) * c)
    t_complete_s = max(t_complete_s, direct_m / c + 0.005)
    crossfade_s = max(0.005, 0.3 * t_complete_s)
    emission_index = DIRECT_INDEX - direct_m / c * fs  # fractional sample of emission (may be < 0)

    n_frames = int(np.ceil(emission_index + (t_complete_s + crossfade_s + band_rt60.max()) * fs)) + 1
    n_frames = max(n_frames, _FRACTIONAL_DELAY_TAPS + 1)
    delays = DIRECT_INDEX + (distances_m - direct_m) / c * fs
    early = _place_impulses(delays, amplitudes, n_frames)

    t_s = (np.arange(n_frames) - emission_index) / fs
    fade = np.clip((t_s - t_complete_s) / crossfade_s, 0.0, 1.0)
    early_weight = np.cos(0.5 * np.pi * fade)
    late_weight = np.sin(0.5 * np.pi * fade)

    # Diffuse-field energy density c / (4 pi V) per second, same scale as the 1 / (4 pi r) images.
    tail = noise_tail(band_rt60, n_frames, sample_rate_hz, rng, start_offset_s=float(t_s[0]))
    tail *= np.sqrt(c / (4.0 * np.pi * room.volume_m3))
    rir = early * early_weight + tail * late_weight
    _fade_out(rir, sample_rate_hz)
    return _normalise_direct(rir)


def _outdoor_rir(room: RoomConfig, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Direct path, a ground bounce and a few weak facade echoes over a faint, very short tail."""
    c = SPEED_OF_SOUND_M_S
    fs = float(sample_rate_hz)
    src = np.asarray(room.source_m, dtype=np.float64)
    mic = np.asarray(room.mic_m, dtype=np.float64)
    direct_m = float(np.linalg.norm(src - mic))
    ground_m = float(np.linalg.norm(src - mic * np.array([1.0, 1.0, -1.0])))
    paths_m = [direct_m, ground_m]
    gains = [1.0 / direct_m, rng.uniform(0.5, 0.9) / ground_m]
    # Facades: extra path 5 m up to the space's extent, each losing 10-25 dB to distance and scatter.
    extent_m = max(10.0, float(max(room.dims_m[:2])))
    for _ in range(int(rng.integers(2, 6))):
        path_m = direct_m + rng.uniform(5.0, 2.0 * extent_m)
        paths_m.append(path_m)
        gains.append(10.0 ** (-rng.uniform(10.0, 25.0) / 20.0) / path_m)
    paths = np.asarray(paths_m)
    emission_index = DIRECT_INDEX - direct_m / c * fs
    band_rt60 = room.target_band_rt60_s()
    n_frames = int(np.ceil(emission_index + (paths.max() / c + band_rt60.max()) * fs)) + _FRACTIONAL_DELAY_TAPS
    rir = _place_impulses(DIRECT_INDEX + (paths - direct_m) / c * fs, np.asarray(gains), n_frames)

    t_s = (np.arange(n_frames) - emission_index) / fs
    tail = noise_tail(band_rt60, n_frames, sample_rate_hz, rng, start_offset_s=float(t_s[0]))
    onset = np.clip((t_s - direct_m / c) / 0.002, 0.0, 1.0)
    tail *= onset
    tail_energy = float(np.sum(tail**2))
    if tail_energy > 0:
        direct_energy = (1.0 / direct_m) ** 2
        tail *= np.sqrt(direct_energy * 10.0 ** (_OUTDOOR_TAIL_DB / 10.0) / tail_energy)
    rir = rir + tail
    _fade_out(rir, sample_rate_hz)
    return _normalise_direct(rir)


def _normalise_direct(rir: np.ndarray) -> np.ndarray:
    """Scale so the sample at DIRECT_INDEX is exactly 1, including any sinc ripple of a reflection
    arriving within the fractional-delay half-width, so ``rir[DIRECT_INDEX] == 1`` is a contract."""
    return (rir / rir[DIRECT_INDEX]).astype(np.float32)


def _place_impulses(delays: np.ndarray, amplitudes: np.ndarray, n_frames: int) -> np.ndarray:
    """Sum of Hann-windowed-sinc fractional delays (as pyroomacoustics does), float64."""
    half = DIRECT_INDEX
    # Snap near-integer delays (the direct path, by construction) so their sinc is a pure unit tap.
    nearest = np.round(delays)
    delays = np.where(np.abs(delays - nearest) < 1e-6, nearest, delays)
    keep = (delays >= half) & (delays < n_frames - half - 1)
    delays, amplitudes = delays[keep], amplitudes[keep]
    base = np.floor(delays).astype(np.int64)
    frac = delays - base
    offsets = np.arange(-half, half + 1)
    x = offsets[None, :] - frac[:, None]
    window = 0.5 + 0.5 * np.cos(np.pi * x / (half + 1))
    taps = np.sinc(x) * window * amplitudes[:, None]
    out = np.zeros(n_frames)
    np.add.at(out, (base[:, None] + offsets[None, :]).ravel(), taps.ravel())
    return out


def _split_bands(x: np.ndarray, sample_rate_hz: int) -> list[tuple[np.ndarray, int]]:
    """Telescoping zero-phase split at the geometric midpoints between octave centres."""
    nyquist_hz = sample_rate_hz / 2.0
    edges = [
        (i, float(np.sqrt(OCTAVE_BANDS_HZ[i] * OCTAVE_BANDS_HZ[i + 1])))
        for i in range(len(OCTAVE_BANDS_HZ) - 1)
    ]
    edges = [(i, e) for i, e in edges if e < 0.9 * nyquist_hz]
    bands: list[tuple[np.ndarray, int]] = []
    previous = np.zeros_like(x)
    for band_index, edge_hz in edges:
        sos = signal.butter(4, edge_hz, btype="lowpass", fs=sample_rate_hz, output="sos")
        lowpassed = signal.sosfiltfilt(sos, x)
        bands.append((lowpassed - previous, band_index))
        previous = lowpassed
    top_index = edges[-1][0] + 1 if edges else 0
    bands.append((x - previous, top_index))
    return bands


def _fade_out(rir: np.ndarray, sample_rate_hz: int) -> None:
    """Hann fade over the last 50 ms so truncation at -60 dB never leaves a step."""
    n = min(int(0.05 * sample_rate_hz), rir.size // 4)
    if n > 0:
        rir[-n:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))


def _place_pair(
    rng: np.random.Generator, dims: tuple[float, float, float], margin_m: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    max_distance_m = min(5.0, 0.8 * float(np.hypot(dims[0], dims[1])))
    for _ in range(1000):
        mic = (
            rng.uniform(margin_m, dims[0] - margin_m),
            rng.uniform(margin_m, dims[1] - margin_m),
            rng.uniform(1.2, min(1.9, dims[2] - 0.3)),
        )
        distance_m = rng.uniform(0.5, max_distance_m)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        source = (
            mic[0] + distance_m * np.cos(angle),
            mic[1] + distance_m * np.sin(angle),
            rng.uniform(1.2, min(1.9, dims[2] - 0.3)),
        )
        if all(margin_m <= s <= d - margin_m for s, d in zip(source[:2], dims[:2])):
            return (
                tuple(round(float(v), 3) for v in source),
                tuple(round(float(v), 3) for v in mic),
            )
    raise RoomtoneError(f"could not place talker and mic in a room of {dims} m")


def _random_band_scale(rng: np.random.Generator) -> tuple[float, ...]:
    """Longer bass, shorter treble (air and surface absorption), with the 500-1000 Hz pair at 1."""
    low = rng.uniform(1.0, 1.4)
    high = rng.uniform(0.45, 0.85)
    return tuple(round(float(v), 3) for v in (low, np.sqrt(low), 1.0, 1.0, high**0.2, high**0.5, high))


def _random_outdoor(rng: np.random.Generator) -> RoomConfig:
    extent = float(rng.uniform(15.0, 80.0))
    mic = (0.0, 0.0, float(rng.uniform(1.2, 1.9)))
    distance_m = rng.uniform(0.5, 5.0)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    source = (distance_m * np.cos(angle), distance_m * np.sin(angle), rng.uniform(1.3, 1.9))
    return RoomConfig(
        kind="outdoor",
        dims_m=(round(extent, 1), round(extent, 1), 10.0),
        source_m=tuple(round(float(v), 3) for v in source),
        mic_m=tuple(round(float(v), 3) for v in mic),
        rt60_s=round(float(rng.uniform(0.08, 0.3)), 3),
        rt60_band_scale=_random_band_scale(rng),
    )
