"""`roomtone`: argument parsing over the public engine and presets API, nothing more."""

from __future__ import annotations

import argparse
import enum
import json
import signal
import sys
from pathlib import Path

from engine import Cancelled, CancelToken, ProgressEvent, RoomtoneError, Settings
from engine.errors import OutputError, describe_os_error, printable
from engine.settings import BACKENDS, DEVICES, ENGINES, PRECISIONS


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # some file or command failed; the rest was done
    USAGE = 2
    CANCELLED = 130  # Ctrl-C, as shells expect


def _library(args: argparse.Namespace):
    from presets import Library

    return Library(args.library)


# ---------------------------------------------------------------- preset commands


def cmd_preset_create(args: argparse.Namespace) -> Exit:
    from presets.create import preset_from_reference

    library = _library(args)
    with _Progress(args, "analysing") as bar:
        preset = preset_from_reference(args.name, args.source, args.frame, progress=bar.event, cancel=bar.cancel)
    preset = library.add(preset)
    print(f"created preset {preset.name!r} ({preset.id}) in {library.user_dir}")
    _print_profile(preset)
    return Exit.OK


def cmd_preset_list(args: argparse.Namespace) -> Exit:
    library = _library(args)
    for p in library.list():
        kind = "factory" if p.factory else "user"
        rt = p.profile.rt60_s[p.profile.bands_hz.index(1000.0)] if 1000.0 in p.profile.bands_hz else p.profile.rt60_s[0]
        print(f"{p.name:32s} {p.id:14s} {kind:8s} RT60(1k) {rt:4.2f} s  ambience {p.profile.ambience_to_speech_db:+5.1f} dB")
    for problem in library.problems():
        print(f"warning: {problem}", file=sys.stderr)
    return Exit.OK


def cmd_preset_show(args: argparse.Namespace) -> Exit:
    preset = _library(args).get(args.name)
    if args.json:
        print(json.dumps({**preset.summary(), "profile": preset.profile.to_dict()}, indent=2))
    else:
        _print_profile(preset)
    return Exit.OK


def _print_profile(preset) -> None:
    s = preset.summary()
    print(f"{s['name']} ({s['id']}, {'factory' if s['factory'] else 'user'}), from {s['source'].get('file', s['source'].get('kind'))}")
    print("  RT60 per band: " + "  ".join(f"{b} Hz {t:.2f} s" for b, t in s["rt60_s"].items()))
    print(f"  DRR {s['drr_db']:+.1f} dB, ambience {s['ambience_to_speech_db']:+.1f} dB re speech, excerpt {s['ambience_s']} s")


def cmd_preset_rename(args: argparse.Namespace) -> Exit:
    p = _library(args).rename(args.name, args.new_name)
    print(f"renamed to {p.name!r}")
    return Exit.OK


def cmd_preset_duplicate(args: argparse.Namespace) -> Exit:
    p = _library(args).duplicate(args.name, args.new_name)
    print(f"created {p.name!r} ({p.id})")
    return Exit.OK


def cmd_preset_delete(args: argparse.Namespace) -> Exit:
    p = _library(args).delete(args.name)
    print(f"deleted {p.name!r}")
    return Exit.OK


def cmd_preset_export(args: argparse.Namespace) -> Exit:
    path = _library(args).export(args.name, args.file)
    print(f"exported to {path}")
    return Exit.OK


def cmd_preset_import(args: argparse.Namespace) -> Exit:
    p = _library(args).import_(args.file, args.name)
    print(f"imported {p.name!r} ({p.id})")
    return Exit.OK


def cmd_preset_blend(args: argparse.Namespace) -> Exit:
    p = _library(args).blend(args.a, args.b, args.weight, args.name)
    print(f"created {p.name!r} ({p.id}): {1 - args.weight:.2f} x {args.a!r} + {args.weight:.2f} x {args.b!r}")
    return Exit.OK


def cmd_preset_ir(args: argparse.Namespace) -> Exit:
    from engine.audio import write_audio
    from engine.match import synthesise_ir

    preset = _library(args).get(args.name)
    ir = synthesise_ir(preset.profile, args.rate, args.channels, args.seed)
    out = write_audio(args.out, ir.full, args.rate, subtype="FLOAT")
    print(f"wrote {out or args.out} ({len(ir.full) / args.rate:.2f} s, {args.channels} ch, {args.rate} Hz)")
    return Exit.OK


# ---------------------------------------------------------------- restyle


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        engine=args.engine,
        trim_db=args.trim_db,
        wet_db=args.wet_db,
        eq_amount=args.eq_amount,
        seed=args.seed,
        stems=getattr(args, "stems", False),
        steps=args.steps,
        guidance=args.guidance,
        sampler=args.sampler,
        device=args.device,
        backend=args.backend,
        precision=args.precision,
    )


def cmd_restyle(args: argparse.Namespace) -> Exit:
    from engine.batch import BatchRunner

    preset = _library(args).get(args.preset)
    settings = _settings(args)
    with _Progress(args, "restyling") as bar:
        runner = BatchRunner(preset, settings, args.out, overwrite=args.overwrite,
                             name_template=args.name_template, progress=bar.event, cancel=bar.cancel,
                             batch_windows=args.batch_windows)
        plan = runner.plan(args.inputs)
        for note in plan.notes:
            bar.write(f"note: {note}")
        result = runner.run(plan)  # each failure was printed as it happened (_Progress.event)
    print(f"{result.count('done')} rendered, {result.count('skipped')} skipped, "
          f"{result.count('failed')} failed -> {printable(args.out)}")
    if result.cancelled:
        return Exit.CANCELLED
    return Exit.OK if result.ok else Exit.FAILED


def cmd_preview(args: argparse.Namespace) -> Exit:
    from engine.audio import probe, write_audio
    from engine.batch import check_outputs_spare_inputs
    from engine.restyle import preview

    check_outputs_spare_inputs([args.out], [args.input], remedy="choose another output file (-o)")
    preset = _library(args).get(args.preset)
    info = probe(args.input)
    dry, stems, rate = preview(Path(args.input), preset, _settings(args), args.start, args.duration)
    try:
        write_audio(args.out, stems.mix, rate, like=info)
    except OSError as exc:
        raise OutputError(f"cannot write {printable(args.out)} ({exc.strerror or exc})") from None
    print(f"wrote a {len(dry) / rate:.1f} s preview to {printable(args.out)}")
    return Exit.OK


# ---------------------------------------------------------------- accelerated inference


def _checkpoint_dir(args: argparse.Namespace) -> Path:
    from engine.diffusion.engine import CHECKPOINT_ENV, available_checkpoint

    path = Path(args.checkpoint) if args.checkpoint else available_checkpoint()
    if path is None:
        raise RoomtoneError(f"no diffusion checkpoint: none is shipped and ${CHECKPOINT_ENV} is not set; "
                            "pass --checkpoint DIR")
    return path


def cmd_export_onnx(args: argparse.Namespace) -> Exit:
    from engine.diffusion.engine import load_stylizer
    from engine.runtime.onnx_export import check_parity, export_onnx

    model, _, ident = load_stylizer(_checkpoint_dir(args), "cpu")
    manifest = export_onnx(model, ident, args.out, opset=args.opset)
    for name, graph in manifest["graphs"].items():
        print(f"{name:12s} {graph['file']:18s} sha256 {graph['sha256'][:16]}  in {', '.join(graph['inputs'])}")
    if args.no_check:
        print(f"exported checkpoint {ident[:12]} (opset {manifest['opset']}) to {args.out}")
        return Exit.OK
    ratios = check_parity(model, args.out)
    worst = max(ratios, key=ratios.__getitem__)
    print(f"exported checkpoint {ident[:12]} (opset {manifest['opset']}) to {args.out}; onnxruntime matches torch "
          f"(worst: {worst} at {ratios[worst]:.3f} of the tolerance)")
    return Exit.OK


def cmd_build_trt(args: argparse.Namespace) -> Exit:
    import torch

    from engine.diffusion.engine import load_stylizer
    from engine.runtime.select import cache_dir, ensure_onnx_export
    from engine.runtime.onnx_export import read_onnx_manifest
    from engine.runtime.tensorrt_backend import TRT_GRAPHS, EngineCache, build_tensorrt_engines, import_tensorrt

    trt = import_tensorrt()
    if not torch.cuda.is_available():
        raise RoomtoneError("building TensorRT engines needs a CUDA GPU (engines are tuned for the GPU they run on)")
    model, config, ident = load_stylizer(_checkpoint_dir(args), "cuda")
    export = ensure_onnx_export(model, ident, args.onnx_dir)
    cache = EngineCache(cache_dir() / "tensorrt")
    built: list[str] = []
    build_tensorrt_engines(config, export, read_onnx_manifest(export, ident), cache, args.precision,
                           args.batch_windows, "cuda", trt=trt, on_build=built.append)
    print(f"TensorRT {trt.__version__} engines ({args.precision}, up to {args.batch_windows} windows) for checkpoint "
          f"{ident[:12]} in {cache.directory}: {len(built)} built, {len(TRT_GRAPHS) - len(built)} already cached")
    return Exit.OK


# ---------------------------------------------------------------- plumbing


class _Progress:
    """A tqdm bar fed by engine progress events; Ctrl-C sets the cancel token."""

    def __init__(self, args: argparse.Namespace, label: str) -> None:
        self.quiet = args.quiet
        self.label = label
        self.cancel = CancelToken()
        self.bar = None

    def __enter__(self) -> "_Progress":
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=self.label, unit="‰", disable=self.quiet, file=sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
        self._old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum, frame) -> None:
        if self.cancel.cancelled:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.cancel.cancel()
        self.write("cancelling after the current block (Ctrl-C again to abort)")

    def event(self, e: ProgressEvent) -> None:
        if self.bar is None:
            return
        self.bar.n = int(round(1000 * min(max(e.fraction, 0.0), 1.0)))
        if e.path:
            self.bar.set_postfix_str(printable(Path(e.path).name), refresh=False)
        if e.kind == "stage" and e.message:
            self.bar.set_postfix_str(e.message, refresh=False)
        if e.kind in ("file-failed", "file-skipped") and e.message:
            self.write(("error: " if e.kind == "file-failed" else "") + e.message)
        self.bar.refresh()

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)
        if self.bar is not None:
            self.bar.close()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", metavar="DIR", default=None,
                        help="user preset library (default: $ROOMTONE_LIBRARY or the platform data dir)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = argparse.ArgumentParser(prog="roomtone", description="Make dry dialogue sound recorded in a scene.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    preset = sub.add_parser("preset", help="manage scene presets", parents=[common])
    psub = preset.add_subparsers(dest="preset_command", required=True)

    def pcmd(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = psub.add_parser(name, help=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = pcmd("create", cmd_preset_create, "learn a preset from a reference clip (audio or video)")
    p.add_argument("name")
    p.add_argument("--from", dest="source", required=True, metavar="REF",
                   help="reference: wav, flac, aiff, mp4, mov, mkv")
    p.add_argument("--frame", type=float, default=None, metavar="SECONDS", help="video frame for the thumbnail")
    pcmd("list", cmd_preset_list, "list presets")
    p = pcmd("show", cmd_preset_show, "show a preset's scene profile")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = pcmd("rename", cmd_preset_rename, "rename a user preset")
    p.add_argument("name")
    p.add_argument("new_name")
    p = pcmd("duplicate", cmd_preset_duplicate, "copy a preset (factory presets too)")
    p.add_argument("name")
    p.add_argument("new_name", nargs="?")
    p = pcmd("delete", cmd_preset_delete, "delete a user preset")
    p.add_argument("name")
    p = pcmd("export", cmd_preset_export, "write a preset to one portable .rtpreset file")
    p.add_argument("name")
    p.add_argument("file")
    p = pcmd("import", cmd_preset_import, "add a preset from a .rtpreset file")
    p.add_argument("file")
    p.add_argument("--name", default=None)
    p = pcmd("blend", cmd_preset_blend, "make a preset between two others")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--weight", type=float, default=0.5, help="share of B, 0..1 (default 0.5)")
    p.add_argument("--name", required=True)
    p = pcmd("ir", cmd_preset_ir, "export the preset's synthesised impulse response as a WAV")
    p.add_argument("name")
    p.add_argument("out")
    p.add_argument("--rate", type=int, default=48000)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)

    render = argparse.ArgumentParser(add_help=False)
    render.add_argument("--preset", required=True)
    render.add_argument("--engine", choices=ENGINES, default="match")
    render.add_argument("--trim-db", type=float, default=0.0, help="ambience trim in dB")
    render.add_argument("--wet-db", type=float, default=0.0, help="reverb level in dB")
    render.add_argument("--eq-amount", type=float, default=1.0, help="0 = no colouration, 1 = the scene's")
    render.add_argument("--seed", type=int, default=0)
    # diffusion engine only
    render.add_argument("--steps", type=int, default=Settings.steps, help="diffusion: sampler steps")
    render.add_argument("--guidance", type=float, default=Settings.guidance,
                        help="diffusion: classifier-free guidance scale")
    render.add_argument("--sampler", choices=("ddim", "dpmpp"), default=Settings.sampler, help="diffusion: sampler")
    render.add_argument("--device", choices=DEVICES, default=Settings.device,
                        help="diffusion: device (auto = CUDA when available)")
    render.add_argument("--backend", choices=BACKENDS, default=Settings.backend,
                        help="diffusion: inference backend (auto = TensorRT or torch on CUDA, onnxruntime or torch "
                             "on the CPU)")
    render.add_argument("--precision", choices=PRECISIONS, default=Settings.precision,
                        help="diffusion: compute precision (auto = fp16 on CUDA, fp32 on the CPU)")

    r = sub.add_parser("restyle", help="restyle files and folders into a scene", parents=[common, render])
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (recursive)")
    r.add_argument("-o", "--out", required=True, metavar="OUTDIR")
    r.add_argument("--stems", action="store_true", help="also write dialogue/reverb/ambience stems")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    r.add_argument("--name-template", default="{stem}", help="output name, '{stem}' = input name")
    r.add_argument("--batch-windows", type=int, default=0, metavar="N",
                   help="diffusion throughput mode: render several files at once, pooling up to N windows per "
                        "network batch (0 = file by file; try 64-256 on a GPU)")
    r.set_defaults(func=cmd_restyle)

    v = sub.add_parser("preview", help="render a short excerpt to listen to before a long render",
                       parents=[common, render])
    v.add_argument("input")
    v.add_argument("-o", "--out", required=True, metavar="FILE")
    v.add_argument("--start", type=float, default=None, metavar="SECONDS", help="default: the middle")
    v.add_argument("--duration", type=float, default=10.0, metavar="SECONDS")
    v.set_defaults(func=cmd_preview)

    x = sub.add_parser("export-onnx", help="export the diffusion model's networks as ONNX graphs", parents=[common])
    x.add_argument("--out", required=True, metavar="DIR")
    x.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint package (default: $ROOMTONE_CHECKPOINT or the shipped one)")
    x.add_argument("--opset", type=int, default=17)
    x.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
    x.set_defaults(func=cmd_export_onnx)

    t = sub.add_parser("build-trt", help="prebuild the TensorRT engines for this GPU (cached)", parents=[common])
    t.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint package (default: $ROOMTONE_CHECKPOINT or the shipped one)")
    t.add_argument("--onnx-dir", metavar="DIR", default=None, help="an export-onnx folder (default: the cache)")
    t.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    t.add_argument("--batch-windows", type=int, default=4, metavar="N",
                   help="largest window batch the engines take (match restyle --batch-windows)")
    t.set_defaults(func=cmd_build_trt)

    from engine.evaluation.cli import register as register_eval
    from engine.train.cli import register as register_train

    register_train(sub)
    register_eval(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return Exit.CANCELLED
    except RoomtoneError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {printable(exc)}", file=sys.stderr)
        return Exit.CANCELLED if isinstance(exc, Cancelled) else Exit.FAILED
    except OSError as exc:  # a file system refusal no command turned into a RoomtoneError
        if getattr(args, "debug", False):
            raise
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return Exit.FAILED
    except ValueError as exc:  # settings validation names the option and value
        if getattr(args, "debug", False):
            raise
        print(f"error: {printable(exc)}", file=sys.stderr)
        return Exit.USAGE


if __name__ == "__main__":
    sys.exit(main())
