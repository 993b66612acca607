"""Synthetic scene kit: dry speech, rooms, ambiences and rendered scenes with known ground truth.

Used by tests, the evaluation suite, factory presets and model training, so every generator is
seeded by an explicit ``numpy.random.Generator`` and every measure of truth lives in
``engine.kit.acoustics``. Submodules are imported explicitly (``from engine.kit.scene import ...``)
so that importing one light module never drags in pyroomacoustics or espeak.
"""
