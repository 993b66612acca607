"""The presets panel over a real library: create from a reference, manage, show the profile."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication

import presets
from desktop.dialogs import NewPresetDialog
from tests.desktop.conftest import log_errors, write_reference


def test_creating_a_preset_from_a_reference_adds_it_to_the_panel(window, qtbot, tmp_path):
    ref = write_reference(tmp_path / "refs" / "hall_take2.wav")
    panel = window.presets_panel

    def answer_dialog() -> None:  # what the user does in the modal "New scene preset" dialog
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, NewPresetDialog) and not dialog.is_video
        dialog.name_edit.setText("Stone Hall")
        dialog.accept()

    with qtbot.waitSignal(window.preset_actions.created, timeout=60000) as blocker:
        QTimer.singleShot(50, answer_dialog)
        panel.request_reference(ref)  # what dropping the file on the panel calls
        assert panel.analysis_row.isVisible()
    created = blocker.args[0]
    assert created.name == "Stone Hall"
    assert sorted(panel.preset_names()) == ["Stone Hall", "Test Room"]
    assert panel.current_preset().id == created.id  # the new preset is selected and its profile shown
    assert "Stone Hall" in panel.profile_view.name_label.text()
    assert panel.profile_view.rt60_chart.values == tuple(created.profile.rt60_s)
    assert panel.profile_view.spectrum_chart.values == tuple(created.profile.ambience_spectrum_db)
    assert any(p.name == "Stone Hall" for p in presets.Library(window.preset_actions.library.user_dir,
                                                               factory_dir=None).list())
    qtbot.waitUntil(lambda: not panel.analysis_row.isVisible(), timeout=5000)
    assert not log_errors(window)


def test_reference_refusals_are_logged(window, tmp_path):
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"PK not a reference")
    window.presets_panel.request_reference(doc)
    assert window.preset_actions.create_from_reference(tmp_path / "x.wav", "Test Room") is None  # name taken
    errors = log_errors(window)
    assert [Path(e.file).name for e in errors] == ["notes.docx", "x.wav"]
    assert "not an audio or video file" in errors[0].message and "already exists" in errors[1].message


def test_new_preset_dialog_asks_the_frame_only_for_video(qtbot, tmp_path):
    from desktop.dialogs import NewPresetDialog

    audio = NewPresetDialog(tmp_path / "cafe_take_3.wav")
    qtbot.addWidget(audio)
    assert audio.name() == "cafe take 3" and audio.frame_s() is None
    video = NewPresetDialog(tmp_path / "reel2.mov")
    qtbot.addWidget(video)
    video.frame_slider.setValue(125)  # slider in tenths of a second drives the spin box
    assert video.frame_s() == 12.5


def test_rename_duplicate_blend_export_import_and_delete(window, qtbot, tmp_path):
    panel, actions = window.presets_panel, window.preset_actions
    original = panel.current_preset()
    assert actions.rename(original.id, "Small Kitchen").name == "Small Kitchen"
    assert panel.preset_names() == ["Small Kitchen"]
    copy = actions.duplicate(original.id)
    assert copy.name == "Small Kitchen copy" and panel.current_preset().id == copy.id
    assert panel.blend_button.isEnabled()
    blend = actions.blend(original.id, copy.id, 0.25, "Kitchen blend")
    assert blend is not None and "Kitchen blend" in panel.preset_names()
    exported = actions.export(blend.id, tmp_path / "kitchen.rtpreset")
    assert Path(exported).is_file()
    imported = actions.import_(exported)
    assert imported.name == "Kitchen blend 2"

    # delete asks first; "no" keeps it, "yes" removes it
    panel.select(imported.id)
    panel.confirm = lambda title, text: False
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "Kitchen blend 2" in panel.preset_names()
    panel.confirm = lambda title, text: True
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "Kitchen blend 2" not in panel.preset_names()
    assert sorted(panel.preset_names()) == ["Kitchen blend", "Small Kitchen", "Small Kitchen copy"]

    assert actions.rename(copy.id, "Kitchen blend") is None  # duplicate name: refused in the log
    assert "already exists" in log_errors(window)[-1].message


def test_profile_view_and_placeholder_icon_render(window):
    panel = window.presets_panel
    preset = panel.current_preset()
    assert preset.thumbnail_png is None
    assert not panel.list.item(0).icon().isNull()  # placeholder icon
    view = panel.profile_view
    assert view.rt60_chart.values == tuple(preset.profile.rt60_s)
    assert "s" in view.rt60_label.text() and "dB re speech loudness" in view.ambience_label.text()
    image = panel.grab().toImage()
    assert image.width() > 100 and image.height() > 100
