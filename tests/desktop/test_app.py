"""Start-up, settings persistence, engine availability, preview and playback fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import engine
from desktop.main_window import MainWindow
from desktop.settings_panel import engine_availability
from tests.desktop.conftest import write_speech_like

REPO = Path(__file__).resolve().parents[2]


def test_screenshot_writes_a_png(tmp_path, library):
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-m", "desktop", "--library", str(library.user_dir), "--screenshot",
                          str(shot)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_settings_persist_between_sessions(qtbot, library, tmp_path, temp_qsettings):
    first = MainWindow(library)
    qtbot.addWidget(first)
    first.settings_panel.trim_spin.setValue(-6.0)
    first.settings_panel.wet_spin.setValue(3.5)
    first.settings_panel.seed_spin.setValue(1234)
    first.queue_panel.out_dir_edit.setText(str(tmp_path / "renders"))
    first.queue_panel.template_edit.setText("{stem}_v2")
    first.queue_panel.stems_check.setChecked(True)
    assert first.close()
    assert list(temp_qsettings.rglob("*.ini"))  # written where the test redirected QSettings

    second = MainWindow(library)
    qtbot.addWidget(second)
    s = second.settings_panel.settings(stems=second.queue_panel.stems())
    assert (s.trim_db, s.wet_db, s.seed, s.stems) == (-6.0, 3.5, 1234, True)
    assert second.queue_panel.out_dir() == tmp_path / "renders"
    assert second.queue_panel.name_template() == "{stem}_v2"


def test_the_shipped_diffusion_engine_is_offered(window):
    """It ships (engine/diffusion/checkpoints) and the CLI runs it: the render settings must offer
    it. One availability call (engine.engine_status) answers the CLI, the evaluation and the app."""
    from engine.diffusion.checkpoint import available_checkpoint
    from engine.evaluation.systems import diffusion_available

    assert available_checkpoint() is not None, "the diffusion checkpoint must ship with the package"
    assert engine.engine_status("diffusion") == (True, "")
    assert engine_availability("diffusion") == (True, "") == diffusion_available()
    combo = window.settings_panel.engine_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(engine.ENGINES)
    item = combo.model().item(combo.findData("diffusion"))
    assert item.isEnabled() and "not available" not in item.text()
    assert window.settings_panel.settings().engine == "match"
    assert not engine.engine_status("tape-echo")[0]


def test_an_engine_without_its_checkpoint_is_shown_disabled_with_the_reason(monkeypatch, tmp_path, qtbot):
    from engine.diffusion import checkpoint as diffusion_engine
    from presets import Library
    from desktop.main_window import MainWindow

    monkeypatch.setattr(diffusion_engine, "SHIPPED_CHECKPOINT", tmp_path / "missing")
    monkeypatch.delenv(diffusion_engine.CHECKPOINT_ENV, raising=False)
    ok, reason = engine_availability("diffusion")
    assert not ok and "checkpoint" in reason
    win = MainWindow(Library(tmp_path / "lib"))
    qtbot.addWidget(win)
    item = win.settings_panel.engine_combo.model().item(win.settings_panel.engine_combo.findData("diffusion"))
    assert not item.isEnabled() and item.toolTip() == reason


def test_preview_renders_an_ab_pair_and_playback_degrades_gracefully(window, qtbot, tmp_path):
    src = write_speech_like(tmp_path / "in" / "line.wav", 14.0)
    window.queue_panel.add_paths([src])
    window.queue_panel.view.selectRow(0)
    with qtbot.waitSignal(window.preview.ready, timeout=30000) as blocker:
        window.settings_panel.preview_button.click()
    original, restyled, text = blocker.args
    assert Path(original).is_file() and Path(restyled).is_file()
    assert engine.probe(original).duration_s == engine.probe(restyled).duration_s == 10.0
    assert "line.wav" in text
    assert window.settings_panel.b_button.isEnabled()
    if not window.player.available:  # e.g. CI without a sound card: said once, nothing breaks
        assert window.player.problem in window.settings_panel.preview_label.text()
        assert any("Playback" in e.message for e in window.log_panel.model.entries)
        window.settings_panel.a_button.click()  # A/B still clickable; logs instead of playing
        window.presets_panel.play_button.click()
