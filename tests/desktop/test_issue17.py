"""The app's side of issue 17 (and the clip warning of issue 19): one preset wording with the CLI,
the tail control, a demo queue from an installed package, a clear line when Qt cannot start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from PyQt6.QtCore import Qt

from desktop.app import qt_problem
from desktop.main_window import MainWindow
from engine.describe import preset_summary
from tests.desktop.conftest import write_speech_like

REPO = Path(__file__).resolve().parents[2]


def test_the_app_and_the_cli_describe_a_preset_in_the_same_words(qtbot, library, make_preset):
    from engine.cli import main

    made = library.add(replace(make_preset("Made By Scene"), source={
        "kind": "audio", "file": "ref.wav", "analysis": {"estimator": "scene-1a2b3c4d5e6f", "learned": []}}))
    window = MainWindow(library)
    qtbot.addWidget(window)
    panel = window.presets_panel
    texts = {panel.list.item(i).text().split("\n")[0].replace("  (factory)", ""): panel.list.item(i).text()
             for i in range(panel.list.count())}
    wording = preset_summary(made)
    assert texts["Made By Scene"].endswith(wording)
    assert "RT60" in wording and "at 1 kHz" in wording and "dB re speech loudness" in wording
    assert "estimator scene-1a2b3c4d5e6f" in wording
    plain = library.get("Test Room")
    assert "estimator" not in preset_summary(plain)  # said only when the preset records it
    panel.select(made.id)
    view = panel.profile_view
    assert view.ambience_label.text() == f"{made.profile.ambience_to_speech_db:+.1f} dB re speech loudness"
    assert "estimator scene-1a2b3c4d5e6f" in view.source_label.text()
    from io import StringIO
    from contextlib import redirect_stdout

    out = StringIO()
    with redirect_stdout(out):
        assert main(["--library", str(library.user_dir), "preset", "list"]) == 0
    assert any(line.startswith("Made By Scene") and line.endswith(wording) for line in out.getvalue().splitlines())


def test_the_tail_control_reaches_the_settings_and_persists(qtbot, library, temp_qsettings):
    first = MainWindow(library)
    qtbot.addWidget(first)
    first.settings_panel.tail_spin.setValue(2.5)
    assert first.settings_panel.settings().tail_s == 2.5
    assert first.close()
    second = MainWindow(library)
    qtbot.addWidget(second)
    assert second.settings_panel.settings().tail_s == 2.5


def test_a_render_with_a_tail_and_a_clipping_file_from_the_app(window, qtbot, tmp_path):
    t = np.arange(48000) / 48000
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "hot.wav", (0.99 * np.sign(np.sin(2 * np.pi * 150 * t)))[:, None], 48000,
             subtype="PCM_24")
    window.queue_panel.out_dir_edit.setText(str(tmp_path / "renders"))
    window.queue_panel.template_edit.setText("{stem}")
    assert window.queue_panel.add_paths([tmp_path / "in" / "hot.wav"]) == 1
    window.settings_panel.tail_spin.setValue(1.0)
    window.settings_panel.wet_spin.setValue(12.0)
    with qtbot.waitSignal(window.batch.finished, timeout=60000):
        qtbot.mouseClick(window.queue_panel.start_button, Qt.MouseButton.LeftButton)
    assert sf.info(str(tmp_path / "renders" / "hot.wav")).frames == 2 * 48000
    warnings = [e for e in window.log_panel.model.entries if e.level == "warning" and "dBFS" in e.message]
    assert len(warnings) == 1 and "hot.wav" in warnings[0].message


def test_the_preview_says_its_tail(window, qtbot, tmp_path):
    src = write_speech_like(tmp_path / "in" / "line.wav", 12.0)
    window.queue_panel.add_paths([src])
    window.queue_panel.view.selectRow(0)
    window.settings_panel.tail_spin.setValue(1.5)
    with qtbot.waitSignal(window.preview.ready, timeout=30000) as blocker:
        window.settings_panel.preview_button.click()
    original, restyled, text = blocker.args
    assert sf.info(restyled).frames == sf.info(original).frames == int(11.5 * 48000)
    assert "10.0 s excerpt + 1.5 s tail" in text


def _installed_copy(tmp_path: Path) -> Path:
    """The packages as `pip install .` lays them out: no examples/ beside them."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("engine", "presets", "desktop"):
        shutil.copytree(REPO / package, site / package, ignore=ignore)
    return site


def test_the_screenshot_demo_queue_works_from_an_installed_package(tmp_path):
    site = _installed_copy(tmp_path)
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(site),
           "ROOMTONE_LIBRARY": str(tmp_path / "lib")}
    out = subprocess.run([sys.executable, "-m", "desktop", "--screenshot", str(shot)], cwd=site, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "files in the demo queue" in out.stdout, out.stdout
    assert int(out.stdout.rsplit("(", 1)[1].split()[0]) > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_display_is_one_clear_line_instead_of_a_qt_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-m", "desktop"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("roomtone-desktop:") and "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_missing_x11_libraries_are_named_with_the_packages_to_install():
    env = {"DISPLAY": ":0"}
    problem = qt_problem(env, "linux", loads=lambda soname: soname != "libxcb-cursor.so.0")
    assert problem and "libxcb-cursor0" in problem and "apt install" in problem and "offscreen" in problem
    assert qt_problem(env, "linux", loads=lambda soname: True) is None
    assert qt_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", loads=lambda soname: False) is None
    assert qt_problem({}, "darwin") is None
