"""Rooms of many shapes for the scene estimator's corpus, simulated with pyroomacoustics.

The shoebox-plus-noise-tail rooms of ``engine.kit.rooms`` are fast and exact for tests, but a
learned estimator trained only on them would learn one family's colour and early structure. Here
each room is a floor plan (rectangle, L, corridor, nave, fan-shaped hall, stairwell, booth, random
polygon) extruded to a height, with frequency-dependent wall materials from pyroomacoustics'
database scaled to a drawn reverberation time, scattering, air absorption, and the library's
hybrid image-source + ray-tracing simulator. A random microphone/channel colouration (low cut,
presence, top-end tilt) is part of the response, because a location recording's colour is the
room and the mic together; both reach the line through the renderer's EQ.

Families are named so evaluation can hold out whole geometry types, not only seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
from scipy import signal

from engine.errors import RoomtoneError
from engine.kit.rooms import random_room, reposition_source, room_impulse_response

FAMILIES: tuple[str, ...] = (
    "shoebox", "lshape", "corridor", "nave", "booth", "polygon", "outdoor", "kit", "fan", "stairwell", "studio",
)
HELD_OUT_FAMILIES: tuple[str, ...] = ("fan", "stairwell", "studio")
TRAIN_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in HELD_OUT_FAMILIES)

# pyroomacoustics' hybrid simulator (max_order 3 + ray tracing) gives a talker closer than about
# half a metre no ray-traced tail at all, whatever the receiver radius: a 4.5 s nave heard at
# 0.4 m decayed like a booth (-94 dB at 0.4 s where a 3.3 m mic had -28 dB), so close mics in
# these rooms were rooms that do not exist, with a "truth" to match. Mics stay >= 0.6 m away;
# closer ones come from the kit family, whose tail is exact at any distance.
MIN_DISTANCE_M = 0.6

_CENTRE_FREQS_HZ = [125, 250, 500, 1000, 2000, 4000, 8000]

# (RT60 range at 500-1000 Hz in s, height range in m): what such spaces plausibly do.
_FAMILY_RT60_S: dict[str, tuple[float, float]] = {
    "shoebox": (0.15, 2.5), "lshape": (0.2, 2.5), "corridor": (0.4, 3.0), "nave": (1.5, 6.0),
    "booth": (0.08, 0.3), "polygon": (0.2, 3.5), "fan": (0.8, 3.0), "stairwell": (1.0, 5.0),
    "studio": (0.12, 0.4),
}


@dataclass(frozen=True)
class SimulatedRoom:
    """One room with one talker and one or more microphone positions (one RIR each)."""

    family: str
    rirs: tuple[np.ndarray, ...]  # float32 1-D, peak-normalised to 1, at sample_rate_hz
    distances_m: tuple[float, ...]
    target_rt60_s: float
    volume_m3: float
    sample_rate_hz: int


def simulate_room(
    family: str, rng: np.random.Generator, sample_rate_hz: int = 48000, mics: int = 2
) -> SimulatedRoom:
    """A random room of ``family`` with ``mics`` microphone positions, each an impulse response."""
    if family not in FAMILIES:
        raise RoomtoneError(f"unknown room family {family!r}; choose one of {', '.join(FAMILIES)}")
    if family in ("outdoor", "kit"):
        return _kit_room(family, rng, sample_rate_hz, mics)
    corners, height_m = _floor_plan(family, rng)
    lo, hi = _FAMILY_RT60_S[family]
    rt60_s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    area_m2 = _polygon_area(corners)
    perimeter_m = float(np.sum(np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)))
    volume_m3 = area_m2 * height_m
    surface_m2 = 2 * area_m2 + perimeter_m * height_m
    mean_alpha = float(np.clip(0.161 * volume_m3 / (surface_m2 * rt60_s), 0.01, 0.95))
    wall_mat, floor_mat, ceiling_mat = (_material(rng, mean_alpha) for _ in range(3))
    room = pra.Room.from_corners(
        corners.T, fs=sample_rate_hz, materials=wall_mat, max_order=3,
        ray_tracing=True, air_absorption=True,
    )
    room.extrude(height_m, materials={"floor": floor_mat, "ceiling": ceiling_mat})
    n_rays = int(np.clip(1500 + 700 * rt60_s, 1500, 5000))
    # Long enough for a T30 of the slowest (bass) band; the EDC fit never needs the last 30 dB.
    room.set_ray_tracing(n_rays=n_rays, receiver_radius=0.5, energy_thres=1e-7, time_thres=min(10.0, 1.6 * rt60_s + 0.3))
    source = _inside_point(room, corners, height_m, rng, z_range=(1.2, 1.9))
    room.add_source(source)
    positions, dists = [], []
    max_d = _max_distance(family)
    for _ in range(mics):
        for _try in range(200):
            d = float(np.exp(rng.uniform(np.log(0.3), np.log(max_d))))
            direction = rng.normal(size=3)
            direction[2] *= 0.2
            direction /= np.linalg.norm(direction)
            p = np.asarray(source) + d * direction
            p[2] = float(np.clip(p[2], 0.5, min(height_m - 0.3, 3.0)))
            if _inside(room, corners, height_m, p) and np.linalg.norm(p - source) >= MIN_DISTANCE_M:
                positions.append(p)
                dists.append(float(np.linalg.norm(p - source)))
                break
        else:
            p = _inside_point(room, corners, height_m, rng, z_range=(1.0, 2.0))
            positions.append(p)
            dists.append(float(np.linalg.norm(np.asarray(p) - source)))
    room.add_microphone_array(np.array(positions).T)
    # pyroomacoustics draws rays and the tail's noise from its package-wide generators: seed
    # both from ours so one seed is one room.
    pra.random.seed(numpy=int(rng.integers(2**63 - 1)), libroom=int(rng.integers(2**63 - 1)))
    room.compute_rir()
    rirs = []
    for m in range(mics):
        h = np.asarray(room.rir[m][0], dtype=np.float64)
        h = _colour(h, _channel_colour(rng, sample_rate_hz))
        rirs.append(h)
    return SimulatedRoom(family, tuple(rirs), tuple(dists), rt60_s, volume_m3, sample_rate_hz)


def _kit_room(family: str, rng: np.random.Generator, sample_rate_hz: int, mics: int) -> SimulatedRoom:
    """Outdoor spaces, and ``kit``: ``engine.kit.rooms``' shoebox image sources + exact noise tail.

    The kit's rooms decay at exactly their drawn per-band RT60 (0.1-6 s) with the image-source
    early part of a shoebox; a family of them adds decays pyroomacoustics' ray tracer draws
    rarely (very dead and very live rooms with strongly band-dependent decay), and is what
    ``roomtone eval`` renders its scenes with.
    """
    kind = "outdoor" if family == "outdoor" else "shoebox"
    base = random_room(rng, rt60_range_s=(0.1, 6.0), kind=kind)
    rirs, dists = [], []
    for m in range(mics):
        room = base if m == 0 else reposition_source(base, rng)
        rirs.append(_colour(room_impulse_response(room, sample_rate_hz, rng), _channel_colour(rng, sample_rate_hz)))
        dists.append(room.distance_m)
    rt60 = 0.15 if kind == "outdoor" else base.mid_rt60_s()
    volume = 0.0 if kind == "outdoor" else base.volume_m3
    return SimulatedRoom(family, tuple(rirs), tuple(dists), rt60, volume, sample_rate_hz)


def _colour(h: np.ndarray, sos: np.ndarray | None) -> np.ndarray:
    """Apply the channel colouration, start at the direct sound and peak-normalise."""
    h = np.asarray(h, dtype=np.float64)
    if sos is not None:
        h = signal.sosfilt(sos, h)
    peak = int(np.argmax(np.abs(h)))
    start = max(0, peak - 40)
    h = h[start:]
    m = float(np.max(np.abs(h)))
    if not np.isfinite(m) or m <= 0:
        raise RoomtoneError("the simulated room produced a silent or non-finite impulse response")
    return (h / m).astype(np.float32)


def _channel_colour(rng: np.random.Generator, fs: int) -> np.ndarray | None:
    """Mic and channel colour: a mild low cut, a presence bump or dip, a top-end shelf (or none)."""
    sections = []
    top = 0.4 * fs  # corner frequencies stay well below Nyquist at any rate
    if rng.uniform() < 0.5:
        sections.append(signal.butter(2, rng.uniform(50.0, 160.0), btype="highpass", fs=fs, output="sos"))
    if rng.uniform() < 0.5:
        sections.append(_peaking(min(rng.uniform(2500.0, 7000.0), top), rng.uniform(-3.0, 5.0), rng.uniform(0.7, 1.5), fs))
    if rng.uniform() < 0.5:
        sections.append(_high_shelf(min(rng.uniform(6000.0, 12000.0), top), rng.uniform(-8.0, 3.0), fs))
    if rng.uniform() < 0.3:
        sections.append(_peaking(rng.uniform(150.0, 600.0), rng.uniform(-3.0, 4.0), rng.uniform(0.7, 1.4), fs))
    return np.concatenate(sections) if sections else None


def _peaking(f0: float, gain_db: float, q: float, fs: int) -> np.ndarray:
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / fs
    alpha = np.sin(w) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w), 1 - alpha / a]
    return signal.tf2sos(b, den)


def _high_shelf(f0: float, gain_db: float, fs: int) -> np.ndarray:
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / fs
    alpha = np.sin(w) / 2 * np.sqrt(2)
    cw, sa = np.cos(w), 2 * np.sqrt(a) * alpha
    b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw), a * ((a + 1) + (a - 1) * cw - sa)]
    den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
    return signal.tf2sos(b, den)


def _material(rng: np.random.Generator, mean_alpha: float) -> pra.Material:
    """A database material's frequency shape, scaled so its 500-1000 Hz mean is ``mean_alpha``."""
    absorption = pra.materials_data["absorption"]
    names = [(c, n) for c in absorption for n in absorption[c] if len(absorption[c][n]["coeffs"]) >= 6]
    cat, name = names[int(rng.integers(len(names)))]
    coeffs = np.asarray(absorption[cat][name]["coeffs"], dtype=np.float64)
    coeffs = np.pad(coeffs, (0, 7 - coeffs.size), mode="edge")[:7]
    coeffs = np.maximum(coeffs, 0.005)
    # Blend the material's shape towards flat so extreme catalogue shapes stay plausible at any level.
    shape = coeffs / max(coeffs[2:4].mean(), 1e-3)
    mix = rng.uniform(0.3, 1.0)
    shape = mix * shape + (1 - mix)
    alpha = np.clip(shape * mean_alpha, 0.005, 0.99)
    scattering = float(rng.uniform(0.05, 0.7))
    return pra.Material(
        {"coeffs": alpha.tolist(), "center_freqs": _CENTRE_FREQS_HZ},
        {"coeffs": [scattering] * 7, "center_freqs": _CENTRE_FREQS_HZ},
    )


def _floor_plan(family: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    u = rng.uniform
    if family == "shoebox":
        w, d = u(2.5, 15.0), u(2.5, 12.0)
        return _rect(w, d), u(2.4, max(2.6, min(8.0, 0.5 * max(w, d))))
    if family == "booth":
        return _rect(u(1.2, 3.0), u(1.2, 3.0)), u(2.0, 2.6)
    if family == "lshape":
        w, d = u(5.0, 18.0), u(5.0, 15.0)
        cw, cd = w * u(0.3, 0.6), d * u(0.3, 0.6)
        pts = [[0, 0], [w, 0], [w, d - cd], [w - cw, d - cd], [w - cw, d], [0, d]]
        return np.asarray(pts, dtype=np.float64), u(2.5, 5.0)
    if family == "corridor":
        return _rect(u(8.0, 40.0), u(1.4, 3.0)), u(2.4, 3.6)
    if family == "nave":
        w, d = u(20.0, 60.0), u(8.0, 20.0)
        return _rect(w, d), u(12.0, 30.0)
    if family == "fan":
        depth, front, back = u(15.0, 40.0), u(6.0, 14.0), u(18.0, 40.0)
        pts = [[0, -front / 2], [depth, -back / 2], [depth, back / 2], [0, front / 2]]
        return np.asarray(pts, dtype=np.float64), u(7.0, 16.0)
    if family == "stairwell":
        return _rect(u(2.5, 5.0), u(3.0, 7.0)), u(8.0, 22.0)
    if family == "studio":
        w, d, c = u(3.5, 7.0), u(3.5, 7.0), u(0.6, 1.5)
        pts = [[c, 0], [w - c, 0], [w, c], [w, d], [0, d], [0, c]]
        return np.asarray(pts, dtype=np.float64), u(2.4, 3.5)
    if family == "polygon":
        n = int(rng.integers(5, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = u(3.0, 12.0) * rng.uniform(0.7, 1.0, n)
        pts = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
        return _convex_hull(pts), u(2.6, 8.0)
    raise RoomtoneError(f"no floor plan for family {family!r}")


def _rect(w: float, d: float) -> np.ndarray:
    return np.asarray([[0, 0], [w, 0], [w, d], [0, d]], dtype=np.float64)


def _convex_hull(pts: np.ndarray) -> np.ndarray:
    """Counter-clockwise hull (monotone chain): random polygons stay simple rooms."""
    p = sorted(map(tuple, pts))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def _polygon_area(c: np.ndarray) -> float:
    x, y = c[:, 0], c[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _max_distance(family: str) -> float:
    return {"booth": 1.2, "studio": 2.5, "corridor": 10.0, "stairwell": 6.0, "nave": 15.0, "fan": 15.0}.get(family, 8.0)


def _inside(room: pra.Room, corners: np.ndarray, height_m: float, p: np.ndarray, margin_m: float = 0.3) -> bool:
    if not margin_m <= p[2] <= height_m - margin_m:
        return False
    for dx, dy in ((0, 0), (margin_m, 0), (-margin_m, 0), (0, margin_m), (0, -margin_m)):
        if not room.is_inside([p[0] + dx, p[1] + dy, p[2]], include_borders=False):
            return False
    return True


def _inside_point(room, corners, height_m, rng, z_range) -> list[float]:
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    for _ in range(1000):
        p = np.array([rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1]),
                      rng.uniform(z_range[0], min(z_range[1], height_m - 0.4))])
        if _inside(room, corners, height_m, p):
            return p.tolist()
    raise RoomtoneError("could not place a point inside the simulated room")
