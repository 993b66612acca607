"""Desktop fixtures: a temporary QSettings location, a real preset library, real audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import ASSETS


@pytest.fixture(autouse=True)
def temp_qsettings(tmp_path):
    """Every test gets its own INI location, so nothing reads or writes the user's settings."""
    from PyQt6.QtCore import QSettings

    folder = tmp_path / "qsettings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture
def library(tmp_path, make_preset):
    import presets

    lib = presets.Library(tmp_path / "lib", factory_dir=None)
    lib.add(make_preset("Test Room"))
    return lib


@pytest.fixture
def window(qtbot, library):
    from desktop.main_window import MainWindow

    win = MainWindow(library)
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    yield win
    for task in win.busy_tasks():
        task.cancel()
        task.wait(30)


def write_speech_like(path: Path, seconds: float, rate: int = 48000, channels: int = 1, subtype: str = "PCM_24") -> Path:
    """Real dry speech from the kit, looped to length, written as a real file."""
    speech, src_rate = sf.read(ASSETS / "speech" / "Front_Center.wav", dtype="float32", always_2d=True)
    if src_rate != rate:
        from engine.audio import resample

        speech = resample(speech, src_rate, rate)
    data = np.resize(speech[:, 0], int(seconds * rate))[:, None].repeat(channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32) * 0.5, rate, subtype=subtype)
    return path


def write_reference(path: Path, rt60_s: float = 0.6, ambience_db: float = -20.0) -> Path:
    """A scene reference: kit speech in a decaying-noise room plus rain at -20 dB, about 9 s."""
    from scipy.signal import fftconvolve

    parts = []
    for f in sorted((ASSETS / "speech").glob("*.wav"))[:6]:
        x, rate = sf.read(f, dtype="float32", always_2d=True)
        parts += [x[:, 0], np.zeros(rate // 3, np.float32)]
    dry = np.concatenate(parts)
    rng = np.random.default_rng(1)
    t = np.arange(int(rt60_s * 1.2 * rate)) / rate
    ir = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60_s)
    ir[0] = 1.0
    wet = fftconvolve(dry, ir)[: len(dry)]
    rain, rain_rate = sf.read(ASSETS / "ambience" / "rain.flac", dtype="float32", always_2d=True)
    assert rain_rate == rate
    rain = np.resize(rain[:, 0], len(wet))
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    mix = wet + rain * (rms(wet) / rms(rain)) * 10 ** (ambience_db / 20)
    mix = (mix / (1.25 * np.max(np.abs(mix))))[:, None]
    assert len(mix) / rate >= 5.0
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, mix.astype(np.float32), rate, subtype="PCM_24")
    return path


def log_errors(win) -> list:
    return win.log_panel.model.errors()
