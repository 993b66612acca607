"""`roomtone`: argument parsing over the public engine and presets API, nothing more."""

from __future__ import annotations

import argparse
import enum
import io
import json
import logging
import math
import signal
import sys
from pathlib import Path

from engine import Cancelled, CancelToken, ProgressEvent, RoomtoneError, Settings
from engine.errors import OutputError, PresetError, describe_os_error, printable
from engine.settings import BACKENDS, DEVICES, ENGINES, MAX_TAIL_S, PRECISIONS, SAMPLERS, TRT_PRECISIONS


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # some file or command failed; the rest was done
    USAGE = 2
    CANCELLED = 130  # Ctrl-C, as shells expect


class UsageError(RoomtoneError):
    """The command line asks for something impossible; said before any work starts."""


def _library(args: argparse.Namespace):
    from presets import Library

    return Library(args.library)


def _check_new_name(library, name: str) -> str:
    """The name a new preset will get, refused now (not after a long analysis) when it is taken."""
    from presets.store import sanitise_name

    name = sanitise_name(name)
    taken = next((p for p in library.list() if p.name.casefold() == name.casefold()), None)
    if taken is not None:
        raise PresetError(f"a preset named {taken.name!r} already exists; choose another name, or remove it first "
                          f"with: roomtone preset delete {taken.name!r}")
    return name


# ---------------------------------------------------------------- preset commands


def cmd_preset_create(args: argparse.Namespace) -> Exit:
    from presets.create import preset_from_reference

    library = _library(args)
    name = _check_new_name(library, args.name)
    if not Path(args.source).is_file():
        raise UsageError(f"--from {printable(args.source)}: no such file; name a reference audio or video file")
    with _Progress(args, "analysing") as bar:
        preset = preset_from_reference(name, args.source, args.frame, progress=bar.event, cancel=bar.cancel)
    preset = library.add(preset)
    print(f"created preset {preset.name!r} ({preset.id}) in {library.user_dir}")
    _print_profile(preset)
    return Exit.OK


def cmd_preset_list(args: argparse.Namespace) -> Exit:
    from engine.describe import AMBIENCE_REFERENCE, preset_summary

    library = _library(args)
    presets = library.list()
    print(f"{'NAME':32s} {'ID':14s} {'KIND':8s} SCENE (ambience level {AMBIENCE_REFERENCE}: the bed's loudness "
          "against the dialogue's)")
    for p in presets:
        kind = "factory" if p.factory else "user"
        print(f"{p.name:32s} {p.id:14s} {kind:8s} {preset_summary(p)}")
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
    from engine.describe import preset_summary

    s = preset.summary()
    print(f"{s['name']} ({s['id']}, {'factory' if s['factory'] else 'user'}), from {s['source'].get('file', s['source'].get('kind'))}")
    print(f"  {preset_summary(preset)}")
    print("  RT60 per band: " + "  ".join(f"{b} Hz {t:.2f} s" for b, t in s["rt60_s"].items()))
    print(f"  ambience excerpt {s['ambience_s']} s")


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


def _blend_names(args: argparse.Namespace) -> tuple[str, str, str]:
    """(new name, A, B) from `blend NAME --from A B` or the older `blend A B --name NAME`."""
    words = list(args.words)
    if args.blend_from:
        if len(words) + (args.name is not None) != 1:
            raise UsageError("preset blend: name the new preset once: roomtone preset blend NAME --from A B")
        return (words[0] if words else args.name), *args.blend_from
    if len(words) == 2 and args.name is not None:
        return args.name, words[0], words[1]
    raise UsageError("preset blend: say the new name and the two presets: roomtone preset blend NAME --from A B")


def cmd_preset_blend(args: argparse.Namespace) -> Exit:
    library = _library(args)
    name, a, b = _blend_names(args)
    name = _check_new_name(library, name)
    p = library.blend(a, b, args.weight, name)
    print(f"created {p.name!r} ({p.id}): {1 - args.weight:.2f} x {a!r} + {args.weight:.2f} x {b!r}")
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
        tail_s=args.tail,
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
    farm = {}
    if args.ray is not None:  # the render farm (engine.farm); without --ray, a local batch as ever
        from engine.farm import FarmRunner
        from engine.farm.cluster import check_ray_address

        farm = {"address": check_ray_address(args.ray), "workers": args.ray_workers}
    with _Progress(args, "restyling", count_files=bool(farm)) as bar:
        runner = (FarmRunner if farm else BatchRunner)(
            preset, settings, args.out, overwrite=args.overwrite, name_template=args.name_template,
            progress=bar.event, cancel=bar.cancel, batch_windows=args.batch_windows, **farm)
        plan = runner.plan(args.inputs)
        for note in plan.notes:
            bar.write(f"note: {note}")
        result = runner.run(plan)  # each failure and warning was printed as it happened (_Progress.event)
    if result.cancelled:
        print(f"{result.summary()} -> {printable(args.out)} (run the same command again to finish)")
        return Exit.CANCELLED
    print(f"{result.summary()} -> {printable(args.out)}")
    return Exit.OK if result.ok else Exit.FAILED


def cmd_preview(args: argparse.Namespace) -> Exit:
    from engine.audio import probe, write_audio
    from engine.audio.pcm import FLOAT_SUBTYPES
    from engine.batch import check_outputs_spare_inputs
    from engine.restyle import Peak, check_engine, clip_warning, preview

    check_outputs_spare_inputs([args.out], [args.input], remedy="choose another output file (-o)")
    preset = _library(args).get(args.preset)
    settings = _settings(args)
    check_engine(settings)
    info = probe(args.input)
    dry, stems, rate = preview(Path(args.input), preset, settings, args.start, args.duration)
    try:
        write_audio(args.out, stems.mix, rate, like=info)
    except OSError as exc:
        raise OutputError(f"cannot write {printable(args.out)} ({exc.strerror or exc})") from None
    peak = Peak()
    peak.add(stems.mix)
    warning = clip_warning({"mix": args.out}, {"mix": peak}, info.subtype in FLOAT_SUBTYPES)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    tail = round(settings.tail_s * rate)
    length = f"{(len(stems) - tail) / rate:.1f} s" + (f" + {tail / rate:.1f} s tail" if tail else "")
    print(f"wrote a {length} preview to {printable(args.out)}")
    return Exit.OK


# ---------------------------------------------------------------- accelerated inference


def _checkpoint_dir(args: argparse.Namespace) -> Path:
    from engine.diffusion.checkpoint import require_checkpoint

    return require_checkpoint(args.checkpoint or None, remedy="pass --checkpoint DIR")


def cmd_export_onnx(args: argparse.Namespace) -> Exit:
    from engine.diffusion.checkpoint import load_stylizer
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
    from engine.runtime.select import prebuild_tensorrt

    done = prebuild_tensorrt(_checkpoint_dir(args), args.precision, args.batch_windows, args.onnx_dir)
    print(f"TensorRT {done.tensorrt_version} engines ({args.precision}, up to {args.batch_windows} windows) for "
          f"checkpoint {done.checkpoint_id[:12]} in {done.cache_dir}: {len(done.built)} built, {done.cached} already "
          "cached")
    return Exit.OK


# ---------------------------------------------------------------- plumbing


class _Lines(io.TextIOBase):
    """Stands in for stdout or stderr while a bar is shown: whole lines go out through the bar's
    writer (which lifts the bar, prints the line, redraws the bar), never glued to the bar."""

    def __init__(self, write, target) -> None:
        super().__init__()
        self._write = write
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._write(line, self._target)
        return len(text)

    def finish(self) -> None:
        if self._pending:
            self._write(self._pending, self._target)
            self._pending = ""

    def fileno(self) -> int:  # code that writes to the descriptor itself bypasses us, but does not break
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


class _LogToBar(logging.Handler):
    """Log records (e.g. the runtime's "exporting checkpoint ... to ONNX") as their own lines above the bar."""

    def __init__(self, progress: "_Progress") -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.write(f"{record.levelname.lower()}: {printable(record.getMessage())}")
        except Exception:  # noqa: BLE001 - logging must never take the run down
            self.handleError(record)


class _Progress:
    """A tqdm bar fed by engine progress events; Ctrl-C sets the cancel token. While the bar is
    shown, prints and log records from anywhere come out on their own lines above it."""

    def __init__(self, args: argparse.Namespace, label: str, count_files: bool = False) -> None:
        self.quiet = args.quiet
        self.label = label
        self.counts: dict[str, int] | None = {"done": 0, "failed": 0} if count_files else None  # farm runs
        self.cancel = CancelToken()
        self.bar = None
        self._streams: tuple | None = None
        self._handler: logging.Handler | None = None

    def __enter__(self) -> "_Progress":
        from tqdm import tqdm

        self._stderr = sys.stderr
        self.bar = tqdm(total=1000, desc=self.label, unit="‰", disable=self.quiet, file=sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
        if not self.quiet:
            self._streams = (sys.stdout, sys.stderr)
            sys.stdout = _Lines(self._write_line, sys.stdout)
            sys.stderr = _Lines(self._write_line, sys.stderr)
            self._handler = _LogToBar(self)
            logging.getLogger().addHandler(self._handler)
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
            self.bar.set_postfix_str(self._postfix(e), refresh=False)
        if e.kind == "stage" and e.message:
            self.bar.set_postfix_str(e.message, refresh=False)
        if e.kind in ("file-failed", "file-skipped", "file-warning") and e.message:
            prefix = {"file-failed": "error: ", "file-warning": "warning: "}.get(e.kind, "")
            self.write(prefix + e.message)
        self.bar.refresh()

    def _postfix(self, e: ProgressEvent) -> str:
        """The file's name; on a farm also the files done and failed so far and the worker it was on."""
        name = printable(Path(e.path).name)
        if self.counts is None:
            return name
        kind = {"file-done": "done", "file-failed": "failed"}.get(e.kind)
        if kind:
            self.counts[kind] += 1
        where = f" on {printable(e.worker)}" if e.worker else ""
        return f"{self.counts['done']} done, {self.counts['failed']} failed | {name}{where}"

    def write(self, text: str) -> None:
        self._write_line(text, self._stderr)

    def _write_line(self, text: str, target) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=target)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None
        if self._streams is not None:
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, _Lines):
                    stream.finish()
            sys.stdout, sys.stderr = self._streams
            self._streams = None
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------- the parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, unless the help already says it (or it is a plain flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, argparse.SUPPRESS) or isinstance(action.default, bool)
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line that names the value and where to look, exit code 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(Exit.USAGE, f"error: {self.prog}: {printable(message)} (see: {self.prog} --help)\n")


def _number(kind: type, low: float | None = None, high: float | None = None, unit: str = "",
            above: bool = False):
    """An argparse type: a finite number of `kind` within [low, high] (or above `low`), refused with the range."""
    def show(v: float) -> str:
        return f"{v:+g}" if unit == " dB" and v else (f"{v:g}" if isinstance(v, float) else str(v))

    if above:
        wanted = f"more than {show(low)}{unit}"
    elif high is None:
        wanted = f"{show(low)}{unit} or more"
    elif low is None:
        wanted = f"{show(high)}{unit} or less"
    else:
        wanted = f"from {show(low)} to {show(high)}{unit}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number; "
                                             f"give one {wanted}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if above else value < low)) \
                or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number {wanted}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def _global_options(p: argparse.ArgumentParser, top: bool) -> None:
    """--library, --quiet, --debug. The top parser holds the defaults; every sub-command takes the
    same options again without defaults (SUPPRESS), so they work before or after any sub-command
    and a sub-command never resets what was said before it."""
    keep = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("--library", metavar="DIR", **({"default": None} if top else keep),
                   help="user preset library (default: $ROOMTONE_LIBRARY, else the platform's user data folder)")
    p.add_argument("--quiet", action="store_true", **keep, help="no progress bar (default: a bar on stderr)")
    p.add_argument("--debug", action="store_true", **keep,
                   help="show a traceback instead of a one-line error (default: one line)")


def _each_parser(parser: argparse.ArgumentParser):
    """The parser and all its sub-command parsers, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from _each_parser(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roomtone", description="Make dry dialogue sound recorded in a scene.")
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    preset = sub.add_parser("preset", help="manage scene presets")
    psub = preset.add_subparsers(dest="preset_command", required=True, metavar="PRESET_COMMAND",
                                 parser_class=_Parser)

    def pcmd(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = psub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = pcmd("create", cmd_preset_create, "learn a preset from a reference clip (audio or video)")
    p.add_argument("name", metavar="NAME", help="name of the new preset")
    p.add_argument("--from", dest="source", required=True, metavar="REF",
                   help="the reference clip: wav, flac, aiff, mp4, mov, mkv")
    p.add_argument("--frame", type=_number(float, 0.0, unit=" s"), default=None, metavar="SECONDS",
                   help="video only: the frame used as thumbnail (default: the middle of the video)")
    pcmd("list", cmd_preset_list, "list presets, factory and yours")
    p = pcmd("show", cmd_preset_show, "show a preset's scene profile")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p.add_argument("--json", action="store_true", help="as JSON (default: text)")
    p = pcmd("rename", cmd_preset_rename, "rename a user preset")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p.add_argument("new_name", metavar="NEW_NAME", help="its new name")
    p = pcmd("duplicate", cmd_preset_duplicate, "copy a preset (factory presets too)")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p.add_argument("new_name", nargs="?", metavar="NEW_NAME", help="name of the copy (default: 'NAME copy')")
    p = pcmd("delete", cmd_preset_delete, "delete a user preset")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p = pcmd("export", cmd_preset_export, "write a preset to one portable .rtpreset file")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p.add_argument("file", metavar="FILE", help="where to write it (.rtpreset is added)")
    p = pcmd("import", cmd_preset_import, "add a preset from a .rtpreset file")
    p.add_argument("file", metavar="FILE", help="a .rtpreset file")
    p.add_argument("--name", default=None, help="name it this (default: its own name, numbered if taken)")
    p = pcmd("blend", cmd_preset_blend, "make a preset between two others: blend NAME --from A B")
    p.usage = "%(prog)s NAME --from A B [--weight WEIGHT] [--library DIR] [--quiet] [--debug]"
    p.add_argument("words", nargs="*", metavar="NAME", help="name of the new preset (as in 'preset create NAME')")
    p.add_argument("--from", dest="blend_from", nargs=2, metavar=("A", "B"), default=None,
                   help="the two presets to blend, names or ids (default: none; needed unless the older 'A B --name NAME' is used)")
    p.add_argument("--weight", type=_number(float, 0.0, 1.0), default=0.5,
                   help="share of B: 0 = all A, 1 = all B")
    p.add_argument("--name", default=None, help="older spelling, still accepted: 'blend A B --name NAME' "
                                                "(default: use NAME)")
    p = pcmd("ir", cmd_preset_ir, "export the preset's synthesised impulse response as a WAV")
    p.add_argument("name", metavar="NAME", help="preset name or id")
    p.add_argument("out", metavar="OUT", help="the WAV file to write")
    p.add_argument("--rate", type=_number(int, 8000, 768000, " Hz"), default=48000, help="sample rate in Hz")
    p.add_argument("--channels", type=_number(int, 1, 64), default=1, help="channels (decorrelated tails)")
    p.add_argument("--seed", type=_number(int, 0, 2**32 - 1), default=0, help="random seed of the tail")

    def render_options(r: argparse.ArgumentParser) -> None:
        r.add_argument("--preset", required=True, metavar="NAME", help="the scene preset (name or id)")
        r.add_argument("--engine", choices=ENGINES, default=Settings.engine,
                       help="match = DSP scene matching; diffusion = the neural stylizer (needs a checkpoint)")
        r.add_argument("--trim-db", type=_number(float, -60.0, 24.0, " dB"), default=Settings.trim_db,
                       help="ambience level in dB, relative to the scene's own")
        r.add_argument("--wet-db", type=_number(float, -60.0, 24.0, " dB"), default=Settings.wet_db,
                       help="reverb level in dB, relative to the scene's own")
        r.add_argument("--eq-amount", type=_number(float, 0.0, 2.0), default=Settings.eq_amount,
                       help="scene colouration: 0 = none, 1 = the scene's, 2 = double")
        r.add_argument("--seed", type=_number(int, 0, 2**32 - 1), default=Settings.seed,
                       help="random seed: the same seed, input and preset give the same output")
        r.add_argument("--tail", type=_number(float, 0.0, MAX_TAIL_S, " s"), default=Settings.tail_s,
                       metavar="SECONDS",
                       help="extra seconds after the input's end where reverb and ambience ring out (faded at "
                            "the end); 0 = exactly the input's length")
        # diffusion engine only
        r.add_argument("--steps", type=_number(int, 1, 1000), default=Settings.steps, help="diffusion: sampler steps")
        r.add_argument("--guidance", type=_number(float, 0.0, 30.0), default=Settings.guidance,
                       help="diffusion: classifier-free guidance scale")
        r.add_argument("--sampler", choices=SAMPLERS, default=Settings.sampler, help="diffusion: sampler")
        r.add_argument("--device", choices=DEVICES, default=Settings.device,
                       help="diffusion: device (auto = CUDA when available)")
        r.add_argument("--backend", choices=BACKENDS, default=Settings.backend,
                       help="diffusion: inference backend (auto = TensorRT or torch on CUDA, onnxruntime or torch "
                            "on the CPU)")
        r.add_argument("--precision", choices=PRECISIONS, default=Settings.precision,
                       help="diffusion: compute precision (auto = fp16 on CUDA, fp32 on the CPU)")

    r = sub.add_parser("restyle", help="restyle files and folders into a scene",
                       description="restyle files and folders into a scene")
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (recursive)")
    r.add_argument("-o", "--out", required=True, metavar="OUTDIR",
                   help="output folder (input folders are mirrored inside it)")
    render_options(r)
    r.add_argument("--stems", action="store_true", help="also write dialogue/reverb/ambience stems that sum to the mix")
    r.add_argument("--overwrite", action="store_true", help="replace outputs this folder's manifest does not list")
    r.add_argument("--name-template", default="{stem}", help="output file name; '{stem}' = the input's name")
    r.add_argument("--batch-windows", type=_number(int, 0), default=0, metavar="N",
                   help="diffusion throughput mode: render several files at once, pooling up to N windows per "
                        "network batch (0 = file by file; try 64-256 on a GPU)")
    r.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="render on a Ray cluster: HOST:PORT of a running one (`ray start --head`), or 'local' to "
                        "start one in this process (default: this machine, no Ray; needs roomtone[farm])")
    r.add_argument("--ray-workers", type=_number(int, 0), default=0, metavar="N",
                   help="with --ray: files rendering at once (match) or model workers (diffusion); 0 = one per CPU "
                        "of the cluster, one per GPU for diffusion")
    r.set_defaults(func=cmd_restyle)

    v = sub.add_parser("preview", help="render a short excerpt to listen to before a long render",
                       description="render a short excerpt to listen to before a long render")
    v.add_argument("input", metavar="INPUT", help="the dialogue file to preview")
    v.add_argument("-o", "--out", required=True, metavar="FILE", help="the preview file to write")
    render_options(v)
    v.add_argument("--start", type=_number(float, 0.0, unit=" s"), default=None, metavar="SECONDS",
                   help="where the excerpt starts, in seconds (default: centred in the file)")
    v.add_argument("--duration", type=_number(float, 0.0, unit=" s", above=True), default=10.0, metavar="SECONDS",
                   help="excerpt length in seconds (shorter if the file ends first)")
    v.set_defaults(func=cmd_preview)

    x = sub.add_parser("export-onnx", help="export the diffusion model's networks as ONNX graphs",
                       description="export the diffusion model's networks as ONNX graphs")
    x.add_argument("--out", required=True, metavar="DIR", help="folder for the graphs and manifest.json")
    x.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint package (default: $ROOMTONE_CHECKPOINT or the shipped one)")
    x.add_argument("--opset", type=_number(int, 1), default=17, help="ONNX opset version")
    x.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")
    x.set_defaults(func=cmd_export_onnx)

    t = sub.add_parser("build-trt", help="prebuild the TensorRT engines for this GPU (cached)",
                       description="prebuild the TensorRT engines for this GPU (cached)")
    t.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint package (default: $ROOMTONE_CHECKPOINT or the shipped one)")
    t.add_argument("--onnx-dir", metavar="DIR", default=None, help="an export-onnx folder (default: the cache)")
    t.add_argument("--precision", choices=TRT_PRECISIONS, default=TRT_PRECISIONS[0], help="engine precision")
    t.add_argument("--batch-windows", type=_number(int, 1), default=4, metavar="N",
                   help="largest window batch the engines take (match restyle --batch-windows)")
    t.set_defaults(func=cmd_build_trt)

    from engine.evaluation.cli import register as register_eval
    from engine.train.cli import register as register_train

    register_train(sub)
    register_eval(sub)
    __import__("engine.visual.cli", fromlist=["register"]).register(sub)  # roomtone picture
    for child in _each_parser(parser):  # the one rule for global options, on every sub-command
        if child is not parser:
            child.formatter_class = _HelpFormatter
            if "--quiet" not in child._option_string_actions:
                _global_options(child, top=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already said in one line
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return Exit.CANCELLED
    except UsageError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {printable(exc)}", file=sys.stderr)
        return Exit.USAGE
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
