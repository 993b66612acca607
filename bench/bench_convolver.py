"""Our streaming BlockConvolver against pedalboard's Convolution (JUCE), on the same long input.

One 10-minute 48 kHz stereo float32 line, per-channel impulse responses of 5 s and 0.5 s
(decaying noise), each engine's wall time over the whole line, interleaved run by run so both
see the same load; medians and the ratio. Also: how far each output is from a float64 one-shot
FFT convolution (on the first 30 s), whether pedalboard's output is aligned sample-exact, and
the gain pedalboard applies on its own (JUCE normalises an impulse response given to it).

    python bench/bench_convolver.py --minutes 10 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from engine.audio.convolver import BlockConvolver, fft_convolve
from engine.restyle import BLOCK_FRAMES

RATE = 48000


def speechlike(frames: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(frames) / RATE
    gate = (np.sin(2 * np.pi * 0.3 * t) > -0.2).astype(np.float32)
    x = 0.05 * rng.standard_normal((frames, channels)).astype(np.float32)
    return x * (gate * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)).astype(np.float32))[:, None]


def decaying_ir(seconds: float, channels: int) -> np.ndarray:
    """(taps, channels) float64: noise decaying 60 dB over its length, after a unit direct tap."""
    rng = np.random.default_rng(1)
    n = int(seconds * RATE)
    ir = 0.05 * rng.standard_normal((n, channels)) * np.exp(-6.9 * np.arange(n) / n)[:, None]
    ir[0] = 1.0
    return ir


def ours(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    conv = BlockConvolver([ir], x.shape[1])
    parts = [conv.process(x[i : i + BLOCK_FRAMES])[0] for i in range(0, len(x), BLOCK_FRAMES)]
    parts.append(conv.flush()[0])
    return np.concatenate(parts)


def pedalboard_conv(x: np.ndarray, ir: np.ndarray, buffer_size: int) -> np.ndarray:
    """The whole line through pedalboard.Convolution, block by block as a stream, (frames, channels)."""
    import pedalboard

    conv = pedalboard.Convolution(np.ascontiguousarray(ir.T, dtype=np.float32), 1.0, RATE)
    parts = [conv.process(np.ascontiguousarray(x[i : i + BLOCK_FRAMES].T), RATE, buffer_size=buffer_size,
                          reset=i == 0) for i in range(0, len(x), BLOCK_FRAMES)]
    return np.concatenate(parts, axis=1).T


def pedalboard_gain(ir: np.ndarray) -> float:
    """What pedalboard scales this IR by: its response to a unit impulse over the IR's direct tap."""
    import pedalboard

    conv = pedalboard.Convolution(np.ascontiguousarray(ir.T, dtype=np.float32), 1.0, RATE)
    probe = np.zeros((ir.shape[1], 4096), np.float32)
    probe[:, 0] = 1.0
    return float(conv.process(probe, RATE, buffer_size=4096)[0, 0] / ir[0, 0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ir-seconds", type=float, nargs="+", default=[5.0, 0.5])
    ap.add_argument("--buffer-sizes", type=int, nargs="+", default=[8192, 65536],
                    help="pedalboard's processing block (its partition size)")
    args = ap.parse_args()
    x = speechlike(int(args.minutes * 60 * RATE), args.channels)
    audio_s = len(x) / RATE
    print(f"input {args.minutes:g} min, {args.channels} ch, {RATE} Hz float32; runs interleaved; medians")
    for seconds in args.ir_seconds:
        ir = decaying_ir(seconds, args.channels)
        engines = {"BlockConvolver": lambda: ours(x, ir)}
        for b in args.buffer_sizes:
            engines[f"pedalboard buffer {b}"] = lambda b=b: pedalboard_conv(x, ir, b)
        times: dict[str, list[float]] = {name: [] for name in engines}
        outs: dict[str, np.ndarray] = {}
        for _ in range(args.runs):
            for name, fn in engines.items():
                t0 = time.perf_counter()
                outs[name] = fn()
                times[name].append(time.perf_counter() - t0)
        head = 30 * RATE
        want = fft_convolve(x[:head].astype(np.float64), ir)[:head]
        scale = np.abs(want).max()
        gain = pedalboard_gain(ir)
        print(f"IR {seconds:g} s ({len(ir)} taps); pedalboard scales the IR by {gain:.6g} (undone below)")
        base = statistics.median(times["BlockConvolver"])
        for name, t in times.items():
            y = outs[name].astype(np.float64)
            if name.startswith("pedalboard"):
                y = y / gain
            med = statistics.median(t)
            err = np.abs(y[:head] - want).max() / scale
            lag = int(np.argmax(np.abs(y[:RATE, 0]) > 0.5) - np.argmax(np.abs(want[:RATE, 0]) > 0.5))
            print(f"  {name:24s} runs {[round(v, 2) for v in t]} s; median {med:.2f} s = {audio_s / med:.0f}x "
                  f"real time; vs BlockConvolver {med / base:.2f}x the time; length {len(y)} "
                  f"(input {len(x)}); lag {lag}; max error / peak vs float64 {err:.1e}")


if __name__ == "__main__":
    main()
