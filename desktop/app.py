"""Start-up: parse the command line, check that Qt can start, build the QApplication and the window.

`--screenshot PATH` renders the window with a demo queue offscreen and exits, so docs and CI
get a picture of the real widgets without a display. Qt itself is imported only after the
checks, because where it cannot start it aborts the process with a message about plugins that
does not say what to install.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import sys
import tempfile
from pathlib import Path

import engine
import presets

REPO = Path(__file__).resolve().parents[1]
DEMO_DIALOGUE = REPO / "examples" / "dialogue"  # in a source checkout; an installed package has none
DEMO_REFERENCE = REPO / "examples" / "reference"
KIT_SPEECH = Path(engine.__file__).resolve().parent / "kit" / "assets" / "speech"  # shipped as package data

#: Qt's X11 platform plugin loads these at start-up (soname -> Debian/Ubuntu package).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
}
QT_BASE_PACKAGES = "libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0"
HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay", "minimalegl"})


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="roomtone-desktop", description="Roomtone: make dry dialogue sound as if "
                                                                       "recorded in a reference scene.")
    ap.add_argument("files", nargs="*", help="audio files or folders to put in the queue")
    ap.add_argument("--library", metavar="DIR", help=f"preset library folder (default: ${presets.LIBRARY_ENV} or "
                                                     "the per-user data folder)")
    ap.add_argument("--screenshot", metavar="PATH", help="render the window with a demo queue to a PNG and exit "
                                                         "(needs no display)")
    return ap.parse_args(argv)


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def qt_problem(env: dict[str, str] | None = None, platform: str = sys.platform, loads=_loads) -> str | None:
    """Why Qt would abort at start-up, as one line saying what to do; None when it should start."""
    env = dict(os.environ if env is None else env)
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if not platform.startswith("linux") or qpa in HEADLESS_PLATFORMS:
        return None
    x11, wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    if not (x11 or wayland) or (qpa == "xcb" and not x11) or (qpa.startswith("wayland") and not wayland):
        return ("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are not set); start it in a desktop "
                "session, or set QT_QPA_PLATFORM=offscreen to run without one (--screenshot does that itself)")
    if qpa in ("", "xcb") and x11 and not wayland:
        missing = [pkg for soname, pkg in XCB_LIBRARIES.items() if not loads(soname)]
        if missing:
            return (f"Qt's X11 platform needs system libraries that are missing; install them (Debian/Ubuntu: "
                    f"sudo apt install {' '.join(missing)}), or set QT_QPA_PLATFORM=offscreen to run without a display")
    return None


def _import_qt() -> str | None:
    """None once PyQt6's widgets load, else the one line saying what to install."""
    try:
        import PyQt6.QtWidgets  # noqa: F401
    except ImportError as exc:
        return (f"Qt cannot load ({exc}); install PyQt6 (pip install 'roomtone[desktop]') and Qt's system libraries "
                f"(Debian/Ubuntu: sudo apt install {QT_BASE_PACKAGES})")
    return None


def make_app(argv: list[str]):
    from PyQt6.QtWidgets import QApplication

    from desktop.state import APPLICATION, ORGANISATION

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


def demo_dialogue(scratch: Path) -> list[Path]:
    """The demo queue's inputs: the checkout's examples/dialogue, or (installed, where there is no
    examples/) the bundled kit voices copied into `scratch` as a folder of lines."""
    if DEMO_DIALOGUE.is_dir():
        return [DEMO_DIALOGUE]
    voices = sorted(KIT_SPEECH.glob("*.wav"))[:4] if KIT_SPEECH.is_dir() else []
    if not voices:
        return []
    folder = scratch / "dialogue"
    folder.mkdir(parents=True, exist_ok=True)
    for i, voice in enumerate(voices, 1):
        shutil.copyfile(voice, folder / f"sc01_t{i:02d}_{voice.stem.lower()}.wav")
    return [folder]


def demo_window(library: presets.Library, scratch: Path, files: list[str] | None = None):
    """The main window as --screenshot shows it: demo presets, a demo queue, the first row selected."""
    from PyQt6.QtCore import QSettings

    from desktop.main_window import MainWindow  # after QApplication: widgets need it

    qs = QSettings(str(scratch / "roomtone.ini"), QSettings.Format.IniFormat)
    window = MainWindow(_demo_library(library, scratch), qs)
    window.queue_panel.out_dir_edit.setText("~/Roomtone renders")
    inputs = [Path(f) for f in files] if files else demo_dialogue(scratch)
    window.queue_panel.add_paths(inputs)
    if window.queue_model.rowCount():
        window.queue_panel.view.selectRow(0)
    return window


def screenshot(window, path: Path, app) -> Path:
    window.show()
    for _ in range(5):
        app.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.screenshot and qt_problem() and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a picture needs no display
    problem = qt_problem() or _import_qt()
    if problem:
        print(f"roomtone-desktop: {problem}", file=sys.stderr)
        return 1
    app = make_app([])
    from desktop.main_window import MainWindow  # after QApplication: widgets need it

    library = presets.Library(args.library) if args.library else presets.Library()
    if args.screenshot:
        with tempfile.TemporaryDirectory(prefix="roomtone-shot-") as tmp:
            window = demo_window(library, Path(tmp), args.files)
            rows = window.queue_model.rowCount()
            out = screenshot(window, Path(args.screenshot), app)
            window.close()
            print(f"{out} ({rows} files in the demo queue)")
        return 0
    window = MainWindow(library)
    window.show()
    if args.files:
        window.queue_panel.add_paths(args.files)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
