"""Room impulse responses: requested decay, normalisation, determinism, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.errors import RoomtoneError
from engine.kit.acoustics import band_rt60_s, drr_db
from engine.kit.rooms import DIRECT_INDEX, RoomConfig, random_room, reposition_source, room_impulse_response

FS = 16000
MID_BANDS_HZ = (500, 1000, 2000)

# Requested vs measured (T30) RT60 at 500-2000 Hz: the early image-source part decays at the
# Eyring rate of the Sabine absorption, so small dead rooms read up to ~20 % long.
RT60_TOLERANCE = 0.25

ROOMS = {
    0.3: RoomConfig(dims_m=(5.0, 4.0, 2.7), source_m=(1.5, 2.0, 1.6), mic_m=(3.2, 2.4, 1.5), rt60_s=0.3),
    1.0: RoomConfig(dims_m=(8.0, 6.0, 3.5), source_m=(2.0, 3.0, 1.7), mic_m=(4.5, 3.5, 1.5), rt60_s=1.0),
    3.0: RoomConfig(dims_m=(20.0, 14.0, 9.0), source_m=(6.0, 7.0, 1.7), mic_m=(9.0, 6.0, 1.6), rt60_s=3.0),
}


@pytest.mark.parametrize("rt60_s", sorted(ROOMS))
def test_rir_decays_at_the_requested_rt60(rt60_s: float) -> None:
    rir = room_impulse_response(ROOMS[rt60_s], FS, np.random.default_rng(0))
    measured = band_rt60_s(rir, FS, MID_BANDS_HZ)
    np.testing.assert_allclose(measured, rt60_s, rtol=RT60_TOLERANCE)


def test_absorption_gives_the_sabine_rt60() -> None:
    room = RoomConfig(dims_m=(8.0, 6.0, 3.5), source_m=(2.0, 3.0, 1.7), mic_m=(4.5, 3.5, 1.5), rt60_s=None, absorption=0.1)
    rir = room_impulse_response(room, FS, np.random.default_rng(0))
    np.testing.assert_allclose(band_rt60_s(rir, FS, MID_BANDS_HZ), room.mid_rt60_s(), rtol=RT60_TOLERANCE)


def test_band_scale_shapes_the_decay() -> None:
    room = RoomConfig(
        dims_m=(8.0, 6.0, 3.5), source_m=(2.0, 3.0, 1.7), mic_m=(4.5, 3.5, 1.5),
        rt60_s=1.0, rt60_band_scale=(1.4, 1.2, 1.0, 1.0, 0.9, 0.7, 0.5),
    )
    rir = room_impulse_response(room, FS, np.random.default_rng(0))
    low, high = band_rt60_s(rir, FS, (250, 4000))
    assert low == pytest.approx(1.2, rel=0.15)
    assert high == pytest.approx(0.7, rel=0.15)


@pytest.mark.parametrize("kind", ["shoebox", "outdoor"])
def test_direct_path_is_unit_peak_near_the_start(kind: str) -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        room = random_room(rng, rt60_range_s=(0.2, 2.0), kind=kind)
        rir = room_impulse_response(room, FS, rng)
        assert rir.ndim == 1 and rir.dtype == np.float32
        assert int(np.argmax(np.abs(rir))) == DIRECT_INDEX
        assert rir[DIRECT_INDEX] == pytest.approx(1.0, abs=1e-6)
        assert np.all(np.isfinite(rir))


def test_outdoor_is_much_drier_than_a_room() -> None:
    rng = np.random.default_rng(5)
    outdoor = random_room(rng, kind="outdoor")
    rir = room_impulse_response(outdoor, FS, rng)
    assert drr_db(rir, FS) > 0.0
    assert rir.size < 1.0 * FS


def test_rir_is_deterministic_by_rng_seed() -> None:
    room = ROOMS[1.0]
    a = room_impulse_response(room, FS, np.random.default_rng(7))
    b = room_impulse_response(room, FS, np.random.default_rng(7))
    c = room_impulse_response(room, FS, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_room_respects_the_rt60_range_and_is_seeded() -> None:
    rooms = [random_room(np.random.default_rng(s), rt60_range_s=(0.4, 0.8)) for s in range(20)]
    assert all(0.4 <= r.rt60_s <= 0.8 for r in rooms)
    assert random_room(np.random.default_rng(3)) == random_room(np.random.default_rng(3))


def test_reposition_moves_only_the_talker() -> None:
    room = ROOMS[1.0]
    moved = reposition_source(room, np.random.default_rng(0))
    assert moved.source_m != room.source_m
    assert (moved.dims_m, moved.mic_m, moved.rt60_s) == (room.dims_m, room.mic_m, room.rt60_s)


def test_long_rooms_are_fast() -> None:
    room = RoomConfig(dims_m=(30.0, 18.0, 12.0), source_m=(8.0, 9.0, 1.7), mic_m=(11.0, 8.0, 1.6), rt60_s=5.0)
    start = time.perf_counter()
    room_impulse_response(room, 48000, np.random.default_rng(0))
    assert time.perf_counter() - start < 5.0


def test_invalid_rooms_are_refused() -> None:
    with pytest.raises(RoomtoneError):
        RoomConfig(dims_m=(3.0, 3.0, 3.0), source_m=(4.0, 1.0, 1.0))
    with pytest.raises(RoomtoneError):
        RoomConfig(rt60_s=None, absorption=None)
    with pytest.raises(RoomtoneError):
        RoomConfig(kind="cave")
