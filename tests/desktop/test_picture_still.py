"""The presets panel restyles a preset's still by the preset's own ambience (engine.visual, shipped model)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def test_restyle_still_shows_a_changed_picture_of_the_same_size(qtbot, tmp_path, make_preset):
    import presets
    from desktop.main_window import MainWindow
    from engine.visual.procedural import base_landscape

    still = (base_landscape(np.random.default_rng(3), 96) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(still).save(buf, format="PNG")
    lib = presets.Library(tmp_path / "lib", factory_dir=None)
    preset = make_preset("Rainy Still")
    preset.thumbnail_png = buf.getvalue()
    lib.add(preset)
    win = MainWindow(lib)
    qtbot.addWidget(win)
    panel = win.presets_panel
    panel.select(panel.preset_ids()[0])
    logs = []
    win.preset_actions.log.connect(lambda *a: logs.append(a))
    assert panel.current_preset() is not None and panel.current_preset().thumbnail_png
    panel.restyle_still()
    qtbot.waitUntil(lambda: not panel.picture_label.isHidden() or bool(logs), timeout=30000)
    assert not logs, logs
    pix = panel.picture_label.pixmap()
    assert pix.width() == 96 and pix.height() == 96
    image = pix.toImage()
    out = np.array([[image.pixelColor(x, y).red() for x in range(0, 96, 8)] for y in range(0, 96, 8)])
    assert np.abs(out.astype(int) - still[::8, ::8, 0].astype(int)).mean() > 0.5  # the sound changed it
