"""One small error hierarchy, so the CLI and the GUI can show one actionable line per failure."""

from __future__ import annotations

from pathlib import Path


class RoomtoneError(Exception):
    """Base of every error Roomtone raises on purpose; its message is meant for a user."""


class InputError(RoomtoneError):
    """An input file cannot be used; names the file and the reason so a batch can report and go on."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{printable(self.path)}: {reason}" if self.path is not None else reason)


class OutputError(RoomtoneError):
    """An output folder or file cannot be written, or would replace an input; the run stops before harm."""


class PresetError(RoomtoneError):
    """A scene preset is missing, malformed or incompatible with this version."""


class AnalysisError(RoomtoneError):
    """A reference clip could not be analysed into a scene (too short, silent, no speech...)."""


class Cancelled(RoomtoneError):
    """The user cancelled long work; partial outputs have been removed."""


def printable(text: object) -> str:
    """`text` with what would split or hide a message line escaped as repr does (newlines, escape codes,
    bytes that are no UTF-8 shown as \\xNN), so one message stays one honest line; the rest is kept as is."""
    out = []
    for c in str(text):
        if c.isprintable():
            out.append(c)
        elif "\udc80" <= c <= "\udcff":  # an undecodable byte, as os.fsdecode hands it over
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(repr(c)[1:-1])
    return "".join(out)


def describe_os_error(exc: OSError) -> str:
    """'PATH: reason' for a file system refusal, in the words of the OS, the path shown escaped."""
    reason = exc.strerror or str(exc)
    return f"{printable(exc.filename)}: {reason}" if exc.filename is not None else reason
