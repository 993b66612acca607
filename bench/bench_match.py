"""Throughput of the match renderer: 10 min of 48 kHz stereo through MatchRenderer in 2 s blocks.

Target: >= 200x real time on the 2-core reference machine with a 5 s RT60 room, memory bounded.
No file I/O: the input is a noise-modulated test signal generated block by block.
Usage: PYTHONPATH=. python bench/bench_match.py [--stems] [--rt60 5.0]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from engine.match import MatchRenderer
from engine.render import SourceInfo
from engine.scene.profile import OCTAVE_BANDS_HZ, THIRD_OCTAVE_BANDS_HZ, SceneProfile
from engine.settings import Settings

RATE_HZ = 48000
CHANNELS = 2
DURATION_S = 600.0
BLOCK_S = 2.0


def bench_profile(rt60_s: float) -> SceneProfile:
    n = len(THIRD_OCTAVE_BANDS_HZ)
    return SceneProfile(
        rt60_s=tuple(rt60_s * f for f in (1.0, 1.0, 1.0, 0.95, 0.9, 0.8, 0.6)[: len(OCTAVE_BANDS_HZ)]),
        drr_db=0.0,
        eq_gain_db=tuple(3.0 * np.sin(k / 3.0) for k in range(n)),
        ambience_spectrum_db=(-30.0,) * n,
        ambience_to_speech_db=-18.0,
        speech_loudness_lufs=-24.0,
        reference_sample_rate_hz=48000,
    )


def test_block(rng: np.random.Generator, start: int, frames: int) -> np.ndarray:
    t = (start + np.arange(frames)) / RATE_HZ
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    return (0.1 * envelope[:, None] * rng.standard_normal((frames, CHANNELS))).astype(np.float32)


def run_once(profile: SceneProfile, ambience: np.ndarray, settings: Settings) -> float:
    total = int(DURATION_S * RATE_HZ)
    block = int(BLOCK_S * RATE_HZ)
    rng = np.random.default_rng(1)
    blocks = [test_block(rng, i * block, block) for i in range(4)]  # reused: generation isn't timed
    source = SourceInfo(sample_rate_hz=RATE_HZ, channels=CHANNELS, frames=total, loudness_lufs=-24.0)
    t0 = time.perf_counter()
    renderer = MatchRenderer(profile, ambience, RATE_HZ, settings, source)
    done = out = 0
    i = 0
    while done < total:
        n = min(block, total - done)
        out += len(renderer.process(blocks[i % 4][:n]))
        done += n
        i += 1
    out += len(renderer.flush())
    elapsed = time.perf_counter() - t0
    assert out == total, (out, total)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stems", action="store_true")
    parser.add_argument("--rt60", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ambience = (0.05 * rng.standard_normal((20 * RATE_HZ, 1))).astype(np.float32)
    settings = Settings(stems=args.stems)
    times = [run_once(bench_profile(args.rt60), ambience, settings) for _ in range(args.runs)]
    median = statistics.median(times)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"match render, {DURATION_S:.0f} s 48 kHz stereo, RT60 {args.rt60} s, stems={args.stems}: "
        f"median {median:.2f} s of {[round(t, 2) for t in times]} -> {DURATION_S / median:.0f}x real time; "
        f"peak RSS {peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
