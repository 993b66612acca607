"""Start-up: parse the command line, build the QApplication and the main window.

`--screenshot PATH` renders the window with a demo queue offscreen and exits, so docs and CI
get a picture of the real widgets without a display.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

import engine
import presets
from desktop.state import APPLICATION, ORGANISATION

REPO = Path(__file__).resolve().parents[1]
DEMO_DIALOGUE = REPO / "examples" / "dialogue"
DEMO_REFERENCE = REPO / "examples" / "reference"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="roomtone-desktop", description="Roomtone: make dry dialogue sound as if "
                                                                       "recorded in a reference scene.")
    ap.add_argument("files", nargs="*", help="audio files or folders to put in the queue")
    ap.add_argument("--library", metavar="DIR", help=f"preset library folder (default: ${presets.LIBRARY_ENV} or "
                                                     "the per-user data folder)")
    ap.add_argument("--screenshot", metavar="PATH", help="render the window with a demo queue to a PNG and exit")
    return ap.parse_args(argv)


def make_app(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "roomtone-desktop", *argv])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Roomtone")
    app.setApplicationVersion(engine.__version__)
    return app


def _demo_library(library: presets.Library, scratch: Path) -> presets.Library:
    """The user's library if it has presets, else a scratch one holding the demo reference's scene."""
    if library.list():
        return library
    refs = sorted(p for p in DEMO_REFERENCE.glob("*") if p.suffix.lower() in engine.AUDIO_EXTENSIONS) \
        if DEMO_REFERENCE.is_dir() else []
    if not refs:
        return library
    demo = presets.Library(scratch / "presets", factory_dir=library.factory_dir)
    try:
        demo.add(presets.preset_from_reference(refs[0].stem.replace("_", " ").title(), refs[0]))
    except engine.RoomtoneError as exc:
        print(f"roomtone-desktop: demo preset not made: {exc}", file=sys.stderr)
        return library
    return demo


def screenshot(window, path: Path, app: QApplication) -> Path:
    window.show()
    for _ in range(5):
        app.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = make_app([])
    from desktop.main_window import MainWindow  # after QApplication: widgets need it

    library = presets.Library(args.library) if args.library else presets.Library()
    if args.screenshot:
        with tempfile.TemporaryDirectory(prefix="roomtone-shot-") as tmp:
            scratch = Path(tmp)
            qs = QSettings(str(scratch / "roomtone.ini"), QSettings.Format.IniFormat)
            window = MainWindow(_demo_library(library, scratch), qs)
            window.queue_panel.out_dir_edit.setText("~/Roomtone renders")
            inputs = [DEMO_DIALOGUE] if DEMO_DIALOGUE.is_dir() else [Path(f) for f in args.files]
            window.queue_panel.add_paths(inputs)
            if window.queue_model.rowCount():
                window.queue_panel.view.selectRow(0)
            out = screenshot(window, Path(args.screenshot), app)
            window.close()
            print(out)
        return 0
    window = MainWindow(library)
    window.show()
    if args.files:
        window.queue_panel.add_paths(args.files)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
