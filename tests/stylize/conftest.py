"""The renderer's tests share the model tests' helpers (tiny jittered stylizers, one thread)."""

from tests.diffusion.conftest import one_thread  # noqa: F401  (autouse here too)
