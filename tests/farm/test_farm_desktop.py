"""The desktop app rendering its queue on a Ray cluster ("Render on"), as the CLI's --ray does."""

from __future__ import annotations

import filecmp

from tests.conftest import write_tone
from tests.desktop.conftest import library, temp_qsettings, window  # noqa: F401 - the desktop's fixtures

import engine


def test_the_desktop_renders_on_a_ray_cluster(cluster, window, qtbot, tmp_path):  # noqa: F811
    src = tmp_path / "dialogue"
    for i in range(3):
        write_tone(src / f"line{i}.wav", seconds=1.5 + i)
    out = tmp_path / "renders"
    window.queue_panel.out_dir_edit.setText(str(out))
    assert window.queue_panel.add_paths([src]) == 3
    panel = window.settings_panel
    panel.render_on_combo.setCurrentIndex(panel.render_on_combo.findData("ray"))
    panel.ray_address_edit.setText(cluster.address)
    logs = []
    window.batch.log.connect(lambda level, path, message: logs.append(message))
    with qtbot.waitSignal(window.batch.finished, timeout=240000) as blocker:
        assert window.start_batch()
    [report] = blocker.args[0]
    assert report.summary() == "3 rendered, 0 skipped, 0 failed"
    assert sum(m.startswith("rendered on ") for m in logs) == 3
    local = engine.BatchRunner(window.presets_panel.current_preset(), panel.settings(), tmp_path / "local",
                               name_template=window.queue_panel.name_template()).run([src])
    farm = {r.source: r.outputs["mix"] for r in report.results}
    for r in local.results:
        assert filecmp.cmp(r.outputs["mix"], farm[r.source], shallow=False)
        assert farm[r.source].startswith(str(out))
