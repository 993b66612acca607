"""The diffusion engine's product renderer: what turns a trained stylizer package into a Renderer.

Why a package of its own, beside engine.match: engine.diffusion is the model (networks, sampler,
pipeline, checkpoint format) and knows nothing of files, presets or streaming; engine.runtime runs
its networks on a backend; this package is the product side that uses both. Imports go one way
only, stylize -> runtime -> diffusion (tests/test_architecture.py asserts it).

One module a job:

    renderer.py    DiffusionRenderer: the signal path of one file (mid, level, resampling, formulation)
    stylizer.py    WindowStylizer: (B, window) dry model-rate windows -> stylized windows
    windowing.py   OverlapAdd: windows cut and joined over a long signal (triangular crossfades)
    noise.py       latent and input noise, drawn by absolute position so overlapping windows agree
    level.py       the fixed gain to and from the training speech level
    crossover.py   the model band joined to the match engine's above it (crossovers, level join)
    throughput.py  WindowBatcher: windows of several files share one network batch
    condition.py   a preset's condition tokens (embedded once, kept by the preset's ConditionStore)

Nothing is imported here, so ``engine.stylize.level`` or ``.noise`` (which training reads) stay
light; import what you need from its module, e.g. ``from engine.stylize.renderer import DiffusionRenderer``.
"""
