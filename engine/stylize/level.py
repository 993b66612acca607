"""The model's input level: the mid is brought to the training speech level with one fixed gain.

The stylizer learnt on speech at ``MODEL_SPEECH_LUFS`` (the corpus' -26 dBFS speech; engine.train
renders its scene pairs there), so the renderer scales the mid by ``level_gain`` of the source's
integrated loudness before the model and by its inverse after it.
"""

from __future__ import annotations

import math

import numpy as np

MODEL_SPEECH_LUFS = -26.0
MAX_LEVEL_GAIN_DB = 30.0
SILENT_LUFS = -69.0


def level_gain(loudness_lufs: float) -> float:
    """The linear gain that brings speech at ``loudness_lufs`` to MODEL_SPEECH_LUFS (+-MAX_LEVEL_GAIN_DB);
    1 for silence or an unmeasurable loudness."""
    if not math.isfinite(loudness_lufs) or loudness_lufs <= SILENT_LUFS:
        return 1.0
    db = float(np.clip(MODEL_SPEECH_LUFS - loudness_lufs, -MAX_LEVEL_GAIN_DB, MAX_LEVEL_GAIN_DB))
    return 10.0 ** (db / 20.0)
