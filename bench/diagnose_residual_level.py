"""Does the residual model render the scene at the right level? Stems vs truth on bank examples.

For examples drawn from a scene-pairs bank (``roomtone train scene-pairs``), the shipped residual
model's reverb and ambience stems are compared in level (dB) with the exact ones, with the example's
drawn still and with the flat grey frame a preset without a picture gets; and the vocoder (and VAE +
vocoder) round trip of the true stems shows how much of a gap is the vocoder's.

    PYTHONPATH=. python bench/diagnose_residual_level.py --bank BANK [--examples 6] [--guidance 4.5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def db(x) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bank", required=True)
    p.add_argument("--checkpoint", default="engine/diffusion/checkpoints/roomtone-residual")
    p.add_argument("--examples", type=int, default=6)
    p.add_argument("--guidance", type=float, default=4.5)
    p.add_argument("--seed", type=int, default=999, help="PairConfig seed (not the training run's 0)")
    args = p.parse_args()
    from engine.diffusion import StylizerPipeline, load_checkpoint
    from engine.diffusion.pipeline import make_sampler
    from engine.train.scene_pairs import PairConfig, SceneBank, render_example

    model, config = load_checkpoint(args.checkpoint)
    pipe = StylizerPipeline.from_stylizer(model, make_sampler("dpmpp", config))
    bank = SceneBank(args.bank)
    errors: dict[str, list[tuple[float, float]]] = {"still": [], "grey": [], "vocoder": [], "vae+vocoder": []}
    with torch.no_grad():
        for i in range(args.examples):
            ex = render_example(bank, PairConfig(seed=args.seed), i)
            hint = torch.from_numpy(ex["condition"])[None]
            for name, image in (("still", torch.from_numpy(ex["image"])[None]), ("grey", torch.full((1, 3, 64, 64), 0.5))):
                out = pipe(torch.from_numpy(ex["enhanced"])[None], pipe.encode_condition(hint, image), steps=25,
                           guidance_scale=args.guidance).wave[0].numpy()
                errors[name].append((db(out[0]) - db(ex["reverb"]), db(out[1]) - db(ex["ambience"])))
            trips = []
            for key in ("reverb", "ambience"):
                mel = pipe.mel(torch.from_numpy(ex[key])[None])
                rec = model.vae.decode(model.vae.encode(mel[:, None]).mode())[:, 0, : mel.shape[1], : mel.shape[-1]]
                trips.append((db(pipe.vocode(mel)[0].numpy()) - db(ex[key]), db(pipe.vocode(rec)[0].numpy()) - db(ex[key])))
            errors["vocoder"].append((trips[0][0], trips[1][0]))
            errors["vae+vocoder"].append((trips[0][1], trips[1][1]))
    for name, rows in errors.items():
        r = np.asarray(rows)
        print(f"{name:12s} level error (output - truth), median of {len(r)}: reverb {np.median(r[:, 0]):+.1f} dB, "
              f"ambience {np.median(r[:, 1]):+.1f} dB")


if __name__ == "__main__":
    main()
