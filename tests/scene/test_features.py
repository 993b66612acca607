"""The learned estimator's front end: one long-window set of band levels, optionally a short one."""

from __future__ import annotations

import numpy as np

from engine.scene.features import FEATURE_BANDS_HZ, band_levels_db, normalise_levels

SR = 48000
BANDS = len(FEATURE_BANDS_HZ)


def test_the_short_window_follows_a_click_more_tightly():
    """A word's end and a small room's decay last a few tens of ms: the short set resolves them."""
    x = np.zeros(SR, dtype=np.float32)
    x[SR // 2] = 1.0
    one, two = band_levels_db(x, SR), band_levels_db(x, SR, windows=2)
    assert one.shape == (two.shape[0], BANDS) and two.shape[1] == 2 * BANDS
    np.testing.assert_array_equal(two[:, :BANDS], one)  # the long set is the 1-window feature
    k = list(FEATURE_BANDS_HZ).index(2000)
    wide = [int(np.sum(levels[:, col] > levels[:, col].max() - 10.0)) for levels, col in ((two, k), (two, BANDS + k))]
    assert wide[1] < wide[0], wide  # frames within 10 dB of the peak: short window, fewer


def test_both_sets_are_normalised_by_the_long_windows_level():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)
    two = band_levels_db(x, SR, windows=2)
    n2, n1 = normalise_levels(two), normalise_levels(two[:, :BANDS])
    np.testing.assert_array_equal(n2[:, :BANDS], n1)
    np.testing.assert_allclose(normalise_levels(two + 12.0), n2, atol=1e-5)  # gain says nothing about the room
