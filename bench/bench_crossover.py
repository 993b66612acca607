"""Is the diffusion engine's crossover inaudible? Pink noise in, third-octave spectrum out.

Pink noise (48 kHz, mono) is restyled by the diffusion engine (the shipped checkpoint, or
--checkpoint) with each factory preset. Around the crossover (5-10 kHz) the output's third-octave
levels are compared with a straight line (level vs log frequency) fitted to the bands on either
side, outside the crossover's ramp: a notch or bump shows as a band off the line. The same is
reported for the scene stems alone (reverb + ambience, where the model and the match engine meet)
and for the match engine's output, whose spectrum has no crossover (the floor: room colouration
and ambience have their own slopes).

    PYTHONPATH=. python bench/bench_crossover.py [--seconds 12] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

BANDS_HZ = (4000, 5000, 6300, 8000, 10000, 12500)
RAMP_BANDS_HZ = (6300, 8000)  # the bands the crossover ramp (6.3-7.3 kHz) falls in


def pink_noise(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return (x / np.sqrt(np.mean(x**2)) * 0.05).astype(np.float32)


def third_octave_db(x: np.ndarray, sr: int) -> np.ndarray:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    out = []
    for fc in BANDS_HZ:
        lo, hi = fc / 2 ** (1 / 6), fc * 2 ** (1 / 6)
        out.append(10 * np.log10(spec[(f >= lo) & (f < hi)].sum() / max(hi - lo, 1) + 1e-30))
    return np.asarray(out)


def off_line_db(levels: np.ndarray) -> float:
    """Largest |deviation| of the ramp's bands from the line through the bands around them."""
    logf = np.log2(np.asarray(BANDS_HZ, float))
    outside = np.array([b not in RAMP_BANDS_HZ for b in BANDS_HZ])
    fit = np.polyval(np.polyfit(logf[outside], levels[outside], 1), logf)
    return float(np.max(np.abs((levels - fit)[~outside])))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    if args.checkpoint:
        os.environ["ROOMTONE_CHECKPOINT"] = args.checkpoint
    from engine.restyle import restyle
    from engine.settings import Settings
    from presets.store import load_preset

    sr = 48000
    x = pink_noise(int(args.seconds * sr))[:, None]
    edge = sr  # the first and last second hold the ramps in and out of the tails
    rows = []
    for folder in sorted((Path(__file__).resolve().parents[1] / "presets" / "factory").iterdir()):
        if not (folder / "preset.json").exists():
            continue
        preset = load_preset(folder)
        d = restyle(x, sr, preset, Settings(engine="diffusion", stems=True))
        m = restyle(x, sr, preset, Settings(engine="match"))
        mix = off_line_db(third_octave_db(d.mix[edge:-edge, 0], sr))
        scene = off_line_db(third_octave_db((d.reverb + d.ambience)[edge:-edge, 0], sr))
        match = off_line_db(third_octave_db(m.mix[edge:-edge, 0], sr))
        rows.append((folder.name, mix, scene, match))
        print(f"{folder.name:24s} mix {mix:5.2f} dB   scene stems {scene:5.2f} dB   match engine {match:5.2f} dB", flush=True)
    arr = np.array([r[1:] for r in rows])
    print(f"{'median':24s} mix {np.median(arr[:, 0]):5.2f} dB   scene stems {np.median(arr[:, 1]):5.2f} dB   "
          f"match engine {np.median(arr[:, 2]):5.2f} dB; max mix {arr[:, 0].max():.2f} dB")


if __name__ == "__main__":
    main()
