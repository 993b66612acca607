"""`roomtone picture`: restyle an image or a video by a sound (parsing only; work in stylize.py)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("picture", help="restyle an image or a video so it looks like it goes with a sound")
    p.add_argument("image", nargs="?", help="input picture (PNG/JPEG); or use --video")
    p.add_argument("--video", metavar="IN", help="restyle every frame of this video instead (default: none, IMAGE is read)")
    p.add_argument("--sound", metavar="SOUND", help="the driving sound (a video defaults to its own soundtrack)")
    p.add_argument("--gain-db", type=float, default=0.0, help="trim the sound before it drives the look (dB)")
    p.add_argument("--mix", metavar="SOUND2", help="a second sound whose look is mixed in (default: none)")
    p.add_argument("--mix-weight", type=float, default=0.5, help="share of SOUND2 in the mix, 0..1 (default 0.5): the two sounds' embeddings are weighed")
    p.add_argument("--model", metavar="DIR", default=None, help="a picture stylizer package (default: shipped)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the restyled picture (PNG) or video")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.errors import RoomtoneError
    from engine.visual.stylize import restyle_picture, restyle_video

    kw = dict(gain_db=args.gain_db, mix=args.mix, mix_weight=args.mix_weight, model_dir=args.model)
    if args.video:
        restyle_video(args.video, args.output, sound=args.sound, **kw)
    else:
        if not args.image or not args.sound:
            raise RoomtoneError("roomtone picture: pass IMAGE and --sound SOUND, or --video IN")
        restyle_picture(args.image, args.sound, args.output, **kw)
    return 0
