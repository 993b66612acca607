"""Batch runs: discover inputs, plan outputs, keep a manifest, resume, and never stop on one bad file.

A dialogue editor drops a folder of hundreds of files and walks away, so one unreadable file
must become one line in the report, a kill must cost at most the file being written, and a
re-run must pick up where the last one stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import Cancelled, InputError, OutputError, RoomtoneError, describe_os_error, printable
from engine.progress import CancelToken, ProgressCallback, ProgressEvent, report
from engine.render import STEM_NAMES
from engine.restyle import SceneSource, SpeechLevel, check_engine, restyle_file
from engine.settings import Settings

AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".bwf", ".rf64", ".aif", ".aiff", ".aifc", ".flac"})
MANIFEST_NAME = "roomtone-manifest.json"
MANIFEST_VERSION = 1
LOCK_NAME = ".roomtone-lock"  # hidden, so no discovery or DAW takes it for a take
# Bounds on one discovery, so a runaway tree (a link to /, a generated maze) ends in one line, not a hang.
MAX_WALK_DEPTH = 64  # folder levels below an input folder; dialogue trees are a handful deep
MAX_WALK_ENTRIES = 1_000_000  # names looked at in all input folders together
# Throughput mode: a dialogue line is typically 1-3 windows (2.56 s each), so about batch_windows / 2 files
# must render side by side to fill a batch; each holds only its streaming state (a few MB).
WINDOWS_PER_FILE = 2
MAX_FILES_IN_FLIGHT = 32


@dataclass(frozen=True)
class Job:
    """One input and the outputs it will produce ('mix' plus stems when asked for).

    `unwritten` holds the rest of the input's output set (the stems, when this run writes none):
    files of those names are an earlier render's and no longer match the mix, so they are removed
    (see BatchRunner._stale) rather than left beside it. Names another job writes, and inputs,
    are never in it."""

    source: Path
    outputs: dict[str, Path]
    unwritten: dict[str, Path] = field(default_factory=dict)


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped non-audio files
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) found while planning


@dataclass
class FileResult:
    source: str
    outputs: dict[str, str]
    status: str  # 'done' | 'skipped' | 'failed' | 'cancelled'
    error: str = ""
    warning: str = ""  # e.g. the output clipped; the file is written all the same


@dataclass
class BatchReport:
    results: list[FileResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled

    def summary(self) -> str:
        return summarise([self])


def summarise(reports: Iterable[BatchReport]) -> str:
    """'3 rendered, 0 skipped, 1 failed', or 'cancelled: 1 rendered, ..., 2 not rendered' for a
    cancelled run: one wording for the CLI and the app."""
    reports = list(reports)
    n = {s: sum(r.count(s) for r in reports) for s in ("done", "skipped", "failed", "cancelled")}
    counts = f"{n['done']} rendered, {n['skipped']} skipped, {n['failed']} failed"
    if any(r.cancelled for r in reports):
        return f"cancelled: {counts}, {n['cancelled']} not rendered"
    return counts


def output_name(source: Path, template: str, stem: str | None = None) -> str:
    """'{stem}' is the input's name without extension; stems get '.dialogue' etc. appended."""
    try:
        base = template.format(stem=source.stem)
        own = template.format(stem=source.stem.replace("\\", "_"))  # separators only the template adds count
    except (KeyError, IndexError, ValueError) as exc:
        raise RoomtoneError(f"naming template {template!r} is invalid ({exc}); use e.g. '{{stem}}_scene'") from None
    if not base or "/" in own or "\\" in own or base in (".", ".."):
        raise RoomtoneError(f"naming template {template!r} gives an unusable file name {base!r}")
    return f"{base}{'.' + stem if stem else ''}{source.suffix}"


def discover(
    inputs: list[Path], skip: frozenset[tuple[int, int]] | set[tuple[int, int]] = frozenset()
) -> tuple[list[tuple[Path, Path]], list[str], list[tuple[str, str]]]:
    """(file, path relative to the output folder) pairs, notes and per-path errors.

    Folders are walked recursively and their structure mirrored; whatever cannot be read is
    reported and the rest goes on. Each real folder is walked once, whatever links lead to it (so
    link loops end), and the walk stops with an error line past MAX_WALK_DEPTH levels or
    MAX_WALK_ENTRIES names. `skip` holds identities (`file_id`) of folders and files that are no
    inputs: the output folder and earlier outputs, which may lie inside an input tree.
    """
    found: list[tuple[Path, Path]] = []
    notes: list[str] = []
    errors: list[tuple[str, str]] = []
    walked: set[tuple[int, int]] = set()
    names_left = MAX_WALK_ENTRIES

    def add(path: Path, rel: Path) -> None:
        try:
            str(path).encode(sys.getfilesystemencoding())
        except UnicodeEncodeError:  # the audio library opens files by name and cannot encode this one
            errors.append((str(path), f"the file name is not valid {sys.getfilesystemencoding().upper()}; "
                                      "rename the file"))
            return
        found.append((path, rel))

    def walk(folder: Path, rel: Path, depth: int) -> None:
        nonlocal names_left
        key = file_id(folder)
        if key in walked:
            notes.append(f"{printable(folder)}: skipped, this folder was already searched (a link or a repeated input)")
            return
        if key is not None:
            walked.add(key)
        if depth > MAX_WALK_DEPTH:
            errors.append((str(folder), f"folders nested too deep (over {MAX_WALK_DEPTH} levels); not searched"))
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            errors.append((str(folder), f"cannot read folder ({exc.strerror or exc})"))
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or names_left < 0:
                continue
            if names_left == 0:
                names_left = -1
                errors.append((str(folder), f"more than {MAX_WALK_ENTRIES} entries in the input folders; "
                                            "the rest was not searched (name fewer or smaller folders)"))
                continue
            names_left -= 1
            try:
                is_dir = entry.is_dir()
            except OSError as exc:
                errors.append((str(path), f"cannot read ({exc.strerror or exc})"))
                continue
            if skip and file_id(path) in skip:
                continue
            if is_dir:
                walk(path, rel / entry.name, depth + 1)
            elif path.suffix.lower() in AUDIO_EXTENSIONS:
                add(path, rel / entry.name)
            else:
                notes.append(f"{printable(path)}: skipped, not an audio file")

    for item in inputs:
        item = Path(item)
        try:
            is_dir = stat.S_ISDIR(os.stat(item).st_mode)
        except FileNotFoundError:
            if not os.path.islink(item):
                errors.append((str(item), "no such file or folder"))
                continue
            is_dir = False  # a dangling link: probing it says so
        except OSError as exc:  # e.g. a file inside a folder we may not enter
            errors.append((str(item), f"cannot be read ({exc.strerror or exc})"))
            continue
        if is_dir:
            walk(item, Path(), 0)
        elif skip and file_id(item) in skip:
            notes.append(f"{printable(item)}: skipped, written by an earlier run into this output folder")
        else:
            add(item, Path(item.name))
    return found, notes, errors


def check_outputs_spare_inputs(
    outputs: Iterable[str | Path], inputs: Iterable[str | Path],
    remedy: str = "choose another output folder (-o) or --name-template",
) -> None:
    """Refuse, before any work, an output that is an input by whatever path leads there: the same
    name, a relative path, a symbolic or a hard link. Raises OutputError naming both."""
    sources: dict[tuple[int, int], str | Path] = {}
    for p in inputs:
        key = file_id(Path(p))
        if key is not None:
            sources.setdefault(key, p)
    for out in outputs:
        key = file_id(Path(out))
        if key in sources:
            raise OutputError(f"output {printable(out)} would overwrite the input {printable(sources[key])}; {remedy}")


class OutputLock:
    """One run at a time per output folder: `LOCK_NAME` there holds the owner's pid and is flock'ed
    while the run lasts. The kernel drops a flock when its holder dies, however it dies, so a killed
    run's lock file is taken over; a live holder makes a second run refuse with one line."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        with _output_errors("cannot lock the output folder"):
            while self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    self._fd = self._take(fd)
                except BaseException:
                    os.close(fd)
                    raise
        return self

    def _take(self, fd: int) -> int | None:
        """fd once it holds the lock, None to retry: the file was removed by its last owner meanwhile."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise OutputError(f"output folder {printable(self.folder)} is in use by another roomtone run "
                              f"(pid {owner}); wait for it to finish or choose another output folder") from None
        st = os.fstat(fd)
        if file_id(self.path) != (st.st_dev, st.st_ino):
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a lock file left behind is only taken over next time
                self.path.unlink()
            os.close(self._fd)  # after the unlink: a run that opened the old file sees so and retries
            self._fd = None


class BatchRunner:
    """Plans and runs one batch: one preset, one settings, one output folder."""

    def __init__(
        self,
        preset: SceneSource,
        settings: Settings,
        out_dir: str | Path,
        overwrite: bool = False,
        name_template: str = "{stem}",
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        batch_windows: int = 0,
    ) -> None:
        """``batch_windows`` > 0 turns on throughput mode for the diffusion engine: several files render
        at once and their windows share network batches of up to that many windows
        (engine.stylize.throughput); outputs are the same as file by file, memory stays bounded."""
        if batch_windows < 0:
            raise ValueError(f"batch_windows must be >= 0, got {batch_windows}")
        self.batch_windows = int(batch_windows)
        self._lock = threading.RLock()  # manifest and progress events, shared by file threads
        self.batcher = None  # the last throughput run's WindowBatcher (its stats tell what was pooled)
        self._fractions: dict[int, float] | None = None  # per-file progress while files render side by side
        self.preset = preset
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.name_template = name_template
        self.progress = progress
        self.cancel = cancel or CancelToken()
        self.manifest_path = self.out_dir / MANIFEST_NAME
        self.level = SpeechLevel(preset, settings)  # speech-path responses, shared by the batch's files
        self._fraction = 0.0  # the last overall fraction reported

    # ------------------------------------------------------------ planning
    def plan(self, inputs: list[str | Path]) -> Plan:
        """Raises (before any render) what would fail every file: an engine that cannot start, a bad template."""
        check_engine(self.settings)
        files, notes, errors = discover([Path(p) for p in inputs], self._not_inputs())
        plan = Plan(notes=notes, errors=list(errors))
        claimed: dict[Path, Path] = {}
        planned: list[tuple[Path, dict[str, Path], dict[str, Path]]] = []
        for source, rel in files:
            names = {"mix": output_name(source, self.name_template)}
            names.update({s: output_name(source, self.name_template, s) for s in STEM_NAMES})
            every = {k: self.out_dir / rel.parent / v for k, v in names.items()}
            written = ("mix", *STEM_NAMES) if self.settings.stems else ("mix",)
            outputs = {k: every[k] for k in written}
            clash = next((p for p in outputs.values() if p.resolve() in claimed), None)
            if clash is not None:
                plan.errors.append((str(source), f"output {printable(clash)} is also planned for "
                                                 f"{printable(claimed[clash.resolve()])}"))
                continue
            for p in outputs.values():
                claimed[p.resolve()] = source
            planned.append((source, outputs, every))
        inputs_ids = {key for f, _ in files if (key := file_id(f)) is not None}
        for source, outputs, every in planned:
            unwritten = {k: p for k, p in every.items() if k not in outputs and p.resolve() not in claimed
                         and file_id(p) not in inputs_ids}
            plan.jobs.append(Job(source, outputs, unwritten))
        check_outputs_spare_inputs((p for job in plan.jobs for p in job.outputs.values()), (f for f, _ in files))
        return plan

    def _not_inputs(self) -> set[tuple[int, int]]:
        """The output folder, the manifest and what it lists as outputs: never inputs, even inside an input tree."""
        paths: list[str | Path] = [self.out_dir, self.manifest_path]
        for entry in self._load_manifest()["files"].values():
            if isinstance(entry, dict) and isinstance(entry.get("outputs"), dict):
                paths += [p for p in entry["outputs"].values() if isinstance(p, str)]
        return {key for p in paths if (key := file_id(Path(p))) is not None}

    # ------------------------------------------------------------ running
    def run(self, inputs: list[str | Path] | Plan) -> BatchReport:
        plan = inputs if isinstance(inputs, Plan) else self.plan(inputs)
        with self._output_folder():
            return self._run_plan(plan)

    @contextlib.contextmanager
    def _output_folder(self) -> Iterator[None]:
        """Created and locked for this run, cleared of the manifest temporaries a killed run left."""
        with _output_errors("cannot create the output folder", "choose another output folder"):
            self.out_dir.mkdir(parents=True, exist_ok=True)
        with OutputLock(self.out_dir):
            with _output_errors("cannot remove a killed run's temporary manifest"):
                for stale in self.out_dir.glob(f".{MANIFEST_NAME}.*"):
                    stale.unlink(missing_ok=True)
            yield

    def _run_plan(self, plan: Plan) -> BatchReport:
        manifest = self._load_manifest()
        result = BatchReport(notes=list(plan.notes))
        total = len(plan.jobs)
        for path, reason in plan.errors:
            result.results.append(FileResult(path, {}, "failed", reason))
            self._emit("file-failed", 0.0, path=path, message=f"{printable(path)}: {reason}", total=total)
        self._emit("start", 0.0, total=total)
        for file_result in self._render_jobs(plan.jobs, manifest):
            result.results.append(file_result)
            if file_result.status == "cancelled":
                result.cancelled = True
        # a cancelled run ends where it stopped, not at 100 %
        self._emit("done", self._fraction if result.cancelled else 1.0, total=total, message=result.summary())
        return result

    def _render_jobs(self, jobs: list[Job], manifest: dict) -> list[FileResult]:
        """Every job's result in plan order; the one place a runner chooses where files render
        (engine.farm.FarmRunner overrides it to send them to a cluster)."""
        if self.batch_windows > 0 and self.settings.engine == "diffusion" and jobs:
            return self._run_pooled(jobs, manifest)
        return [self._run_one(index, len(jobs), job, manifest) for index, job in enumerate(jobs)]

    def _run_one(self, index: int, total: int, job: Job, manifest: dict, batcher=None) -> FileResult:
        if self.cancel.cancelled:
            return FileResult(str(job.source), _strs(job.outputs), "cancelled")
        if batcher is None:
            return self._run_job(index, total, job, manifest)
        with batcher.participant():
            return self._run_job(index, total, job, manifest, batcher)

    def _run_pooled(self, jobs: list[Job], manifest: dict) -> list[FileResult]:
        """Throughput mode: enough files side by side to fill a batch (files_in_flight), each in a thread."""
        from concurrent.futures import ThreadPoolExecutor

        from engine.stylize.throughput import WindowBatcher

        in_flight = files_in_flight(self.batch_windows, len(jobs))
        per_file = max(1, math.ceil(self.batch_windows / in_flight))
        self.batcher = batcher = WindowBatcher(self.batch_windows, per_file)
        self._fractions = {}
        with ThreadPoolExecutor(in_flight, thread_name_prefix="roomtone-file") as pool:
            futures = [pool.submit(self._run_one, i, len(jobs), job, manifest, batcher) for i, job in enumerate(jobs)]
            return [f.result() for f in futures]

    def _run_job(self, index: int, total: int, job: Job, manifest: dict, batcher=None) -> FileResult:
        src = str(job.source)
        try:
            early = self._start_job(index, total, job, manifest)
            if early is not None:
                return early

            def on_fraction(f: float) -> None:
                self._emit("file-progress", self._overall(index, f, total), file_fraction=f, index=index,
                           total=total, path=src)

            report = restyle_file(job.source, job.outputs, self.preset, self.settings, on_fraction, self.cancel,
                                  batcher, self.level)
        except Cancelled:
            return self._cancelled_job(manifest, job)
        except OutputError:  # the manifest cannot be kept: no file after this one could be resumed
            raise
        except FILE_ERRORS as exc:
            return self._failed(manifest, job, index, total, failure_reason(exc))
        return self._finish_job(index, total, job, manifest, report.clip_warning(job.outputs))

    def _start_job(self, index: int, total: int, job: Job, manifest: dict) -> FileResult | None:
        """Everything before the render, on the machine that keeps the manifest: skip what is complete,
        refuse what would replace others' files, clear a killed run's leftovers, record 'running'.
        Returns the file's result when it is not to be rendered, None when it is."""
        src = str(job.source)
        outputs = _strs(job.outputs)
        key = outputs["mix"]
        entry = manifest["files"].get(key)
        if self._complete(job, entry):
            self._emit("file-skipped", self._overall(index, 1.0, total), index=index, total=total, path=src,
                       message=f"{printable(src)}: already rendered, skipped")
            return FileResult(src, outputs, "skipped")
        ours = entry is not None and entry.get("source") == src
        existing = [p for p in job.outputs.values() if p.exists()]
        reason = ""
        if existing and not (self.overwrite or ours):
            reason = f"output {printable(existing[0])} already exists; use --overwrite to replace it"
        stale = self._stale(job, entry if ours else None)
        foreign = [p for p in stale if not p[1]]
        if foreign and not self.overwrite and not reason:
            reason = (f"{printable(foreign[0][0])} is a stem of an earlier render that this run does not write "
                      f"and would no longer match the mix; use --stems to render it again or --overwrite to "
                      f"remove it")
        if reason:
            self._emit("file-failed", self._overall(index, 1.0, total), index=index, total=total, path=src,
                       message=f"{printable(src)}: {reason}")
            return FileResult(src, outputs, "failed", reason)
        self._emit("file-start", index / max(total, 1), index=index, total=total, path=src)
        _remove_stale_partials(job)
        for path, _ in stale:  # before the render: a new mix never sits beside the old stems
            path.unlink(missing_ok=True)
        self._record(manifest, key, self._entry(job, "running"))
        return None

    def _finish_job(self, index: int, total: int, job: Job, manifest: dict, warning: str | None,
                    worker: str = "") -> FileResult:
        """Record a rendered file ('done', its clip warning, where it rendered) and say so."""
        src = str(job.source)
        done = self._entry(job, "done")
        if warning:
            done["warning"] = warning
        if worker:
            done["worker"] = worker
        self._record(manifest, _strs(job.outputs)["mix"], done)
        if warning:
            self._emit("file-warning", self._overall(index, 1.0, total), file_fraction=1.0, index=index, total=total,
                       path=src, message=warning, worker=worker)
        self._emit("file-done", self._overall(index, 1.0, total), file_fraction=1.0, index=index, total=total, path=src,
                   worker=worker)
        return FileResult(src, _strs(job.outputs), "done", warning=warning or "")

    def _cancelled_job(self, manifest: dict, job: Job) -> FileResult:
        self._record(manifest, _strs(job.outputs)["mix"], self._entry(job, "cancelled"))
        return FileResult(str(job.source), _strs(job.outputs), "cancelled")

    def _stale(self, job: Job, entry: dict | None) -> list[tuple[Path, bool]]:
        """Existing files of the input's output set that this run does not write, each with whether
        the manifest says an earlier run wrote them for this input (`entry`: that run's, when ours)."""
        listed = set(entry["outputs"].values()) if entry and isinstance(entry.get("outputs"), dict) else set()
        found = []
        for path in job.unwritten.values():
            try:
                if path.is_file() or path.is_symlink():
                    found.append((path, str(path) in listed))
            except OSError:
                continue
        return found

    def _failed(self, manifest: dict, job: Job, index: int, total: int, reason: str, worker: str = "") -> FileResult:
        src = str(job.source)
        entry = self._entry(job, "failed")
        entry["error"] = reason
        self._record(manifest, _strs(job.outputs)["mix"], entry)
        self._emit("file-failed", self._overall(index, 1.0, total), index=index, total=total, path=src,
                   message=f"{printable(src)}: {reason}", worker=worker)
        return FileResult(src, _strs(job.outputs), "failed", reason)

    def _complete(self, job: Job, entry: dict | None) -> bool:
        if self.overwrite or not entry or entry.get("status") != "done":
            return False
        kept = {k: v for k, v in entry.items() if k not in ("warning", "worker")}  # facts of the render, not its inputs
        same = kept == {**self._entry(job, "done"), "finished_utc": entry.get("finished_utc")}
        return same and all(p.is_file() for p in job.outputs.values()) and not self._stale(job, entry)

    def _entry(self, job: Job, status: str) -> dict:
        try:
            st = job.source.stat()
            stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            stamp = {}
        return {
            "source": str(job.source),
            "input": stamp,
            "outputs": _strs(job.outputs),
            "preset_id": getattr(self.preset, "id", None),
            "preset_name": getattr(self.preset, "name", None),
            "settings": self.settings.to_dict(),
            "status": status,
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    # ------------------------------------------------------------ manifest
    def _load_manifest(self) -> dict:
        """The manifest, or a fresh one where there is none (or none of ours); unreadable is an OutputError."""
        with _output_errors("cannot read the manifest"):
            try:
                data = json.loads(self.manifest_path.read_text())
            except (FileNotFoundError, NotADirectoryError, ValueError):  # none there, or not JSON we wrote
                data = None
        if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION and isinstance(data.get("files"), dict):
            return data
        return {"version": MANIFEST_VERSION, "files": {}}

    def _overall(self, index: int, file_fraction: float, total: int) -> float:
        """Batch fraction: files before this one are done, unless files render side by side (then the sum)."""
        with self._lock:
            if self._fractions is None:
                fraction = (index + file_fraction) / max(total, 1)
            else:
                self._fractions[index] = file_fraction
                fraction = sum(self._fractions.values()) / max(total, 1)
            self._fraction = max(self._fraction, fraction)
            return fraction

    def _record(self, manifest: dict, key: str, entry: dict) -> None:
        with self._lock:
            manifest["files"][key] = entry
            self._save_manifest(manifest)

    def _save_manifest(self, manifest: dict) -> None:
        """Atomic: a kill mid-write leaves the previous manifest, never a torn one."""
        with _output_errors("cannot write the manifest"):
            fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=self.out_dir)
            try:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide the manifest from colleagues
                with os.fdopen(fd, "w") as f:
                    json.dump(manifest, f, indent=2)
                os.replace(tmp, self.manifest_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def _emit(self, kind: str, fraction: float, **kw: object) -> None:
        with self._lock:  # one event at a time, whichever file thread sends it
            report(self.progress, ProgressEvent(kind, fraction=fraction, **kw))  # type: ignore[arg-type]


# What one file's render may raise that is that file's failure, not the batch's.
FILE_ERRORS = (RoomtoneError, OSError, MemoryError, ValueError, RuntimeError)


def failure_reason(exc: BaseException) -> str:
    """The one-line reason an `error: FILE: REASON` line gives for an exception of FILE_ERRORS,
    the same wherever the file rendered (here or on a farm worker)."""
    if isinstance(exc, InputError):
        return exc.reason
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, RoomtoneError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def files_in_flight(batch_windows: int, jobs: int) -> int:
    """How many files throughput mode renders side by side (and so at most holds open)."""
    return max(1, min(MAX_FILES_IN_FLIGHT, jobs, math.ceil(batch_windows / WINDOWS_PER_FILE)))


def _remove_stale_partials(job: Job) -> None:
    """A killed run leaves hidden temporaries (see engine.audio.writer); they are ours to clear."""
    for path in job.outputs.values():
        for stale in path.parent.glob(f".{path.name}.partial-*"):
            stale.unlink(missing_ok=True)


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` leads to, links followed; None where nothing can be reached.
    The one test of "same file": equal ids, whatever names, links or relative paths led there."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def _output_errors(
    what: str, hint: str = "check that the output folder is there, writable and has free space, then run again"
) -> Iterator[None]:
    """An OS refusal in output-folder or manifest handling becomes one OutputError line: what failed, where,
    why and what to do."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{what}: {describe_os_error(exc)}; {hint}") from None


def _strs(outputs: dict[str, Path]) -> dict[str, str]:
    return {k: str(v) for k, v in outputs.items()}

