"""The "Render on" setting: this machine (no Ray) or a Ray cluster address, checked before a run."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings

import engine


def test_render_on_is_this_machine_by_default_and_an_address_when_asked(qtbot):
    from desktop.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert panel.render_on() is None and not panel.ray_address_edit.isEnabled()
    if not engine.farm_status()[0]:
        assert not panel.render_on_combo.model().item(1).isEnabled()
        pytest.skip(engine.farm_status()[1])
    panel.render_on_combo.setCurrentIndex(panel.render_on_combo.findData("ray"))
    assert panel.ray_address_edit.isEnabled()
    assert panel.render_on() == "local"  # empty: a cluster of this machine
    panel.ray_address_edit.setText("10.0.0.5:6379")
    assert panel.render_on() == "10.0.0.5:6379"
    panel.ray_address_edit.setText("not an address")
    with pytest.raises(ValueError, match="^Render on: not an address: give a cluster address HOST:PORT"):
        panel.render_on()

    panel.ray_address_edit.setText("10.0.0.5:6379")
    qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "roomtone-test", "render-on")
    panel.save_state(qs)
    again = SettingsPanel()
    qtbot.addWidget(again)
    again.restore_state(qs)
    assert again.render_on() == "10.0.0.5:6379"
