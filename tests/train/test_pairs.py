"""PretextSampler: the target and condition windows never overlap, for any clip and window length."""

from __future__ import annotations

import numpy as np
import pytest

from engine.train.pairs import PretextSampler, Span, split_clips


def test_windows_never_overlap_over_many_random_draws():
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(400):
        window = int(rng.integers(1, 50_000))
        gap = int(rng.integers(0, 3)) * int(rng.integers(0, 5_000))
        sampler = PretextSampler(window, gap)
        clip = sampler.min_clip_samples + int(rng.integers(0, 3)) * int(rng.integers(0, 200_000))
        for _ in range(50):
            pair = sampler.sample(clip, rng)
            t, c = pair.target, pair.condition
            assert t.length == c.length == window
            assert 0 <= t.start and t.stop <= clip and 0 <= c.start and c.stop <= clip
            assert not t.overlaps(c)
            assert max(t.start, c.start) - min(t.stop, c.stop) >= gap  # the gap between them holds
            assert c.start <= pair.frame_sample < c.stop
            orders.add(t.start < c.start)
    assert orders == {True, False}  # either window may come first


def test_tightest_clip_is_exact_and_too_short_clip_refused():
    sampler = PretextSampler(40960)
    rng = np.random.default_rng(1)
    pair = sampler.sample(2 * 40960, rng)
    assert {pair.target.start, pair.condition.start} == {0, 40960}
    with pytest.raises(ValueError):
        sampler.sample(2 * 40960 - 1, rng)


def test_placements_cover_the_clip():
    """Uniform over placements: starts of both windows reach both ends of the admissible range."""
    sampler = PretextSampler(10)
    rng = np.random.default_rng(2)
    starts = {p.target.start for p in (sampler.sample(40, rng) for _ in range(2000))}
    assert min(starts) == 0 and max(starts) == 30


def test_split_clips_keeps_only_long_enough_tail():
    spans = split_clips(25, 10, 6)
    assert spans == [Span(0, 10), Span(10, 20)]
    assert split_clips(26, 10, 6)[-1] == Span(20, 26)
