"""Audition: play a preset's reference or a preview A/B, through QtMultimedia if it is there.

Playback is a convenience, not a requirement: on a render node without a sound card (or where
QtMultimedia's plugins are missing) the player says why once and every other feature works.
Audio is handed over as temporary WAV files written with `engine.write_audio`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QUrl, pyqtSignal

import engine

try:  # QtMultimedia is a separate wheel component and needs system audio libraries
    from PyQt6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer

    _IMPORT_ERROR = ""
except Exception as exc:  # ImportError, or a missing shared library surfacing as OSError
    QAudioOutput = QMediaDevices = QMediaPlayer = None  # type: ignore[assignment,misc]
    _IMPORT_ERROR = f"QtMultimedia is not available ({exc})"


def playback_problem() -> str:
    """Why nothing can be played here, or '' when playback should work."""
    if _IMPORT_ERROR:
        return _IMPORT_ERROR
    if not QMediaDevices.audioOutputs():
        return "no audio output device found; playback is disabled (rendering works as usual)"
    return ""


class Player(QObject):
    """One QMediaPlayer for the whole app, with an A/B pair that switches at the same position."""

    state_changed = pyqtSignal(str)  # 'playing' | 'stopped'
    message = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.problem = playback_problem()
        self._tmp = tempfile.TemporaryDirectory(prefix="roomtone-play-")
        self._count = 0
        self.sources: dict[str, Path] = {}  # 'A' / 'B' -> WAV
        self.current = ""
        self._player = None
        self._output = None
        if not self.problem:
            self._output = QAudioOutput(self)
            self._player = QMediaPlayer(self)
            self._player.setAudioOutput(self._output)
            self._player.playbackStateChanged.connect(self._on_state)
            self._player.errorOccurred.connect(lambda _e, text: self.message.emit(f"playback error: {text}"))

    @property
    def available(self) -> bool:
        return self._player is not None

    def write_temp(self, audio: np.ndarray, rate_hz: int, label: str) -> Path:
        """A fresh file per call: QMediaPlayer may still hold the previous one open."""
        self._count += 1
        path = Path(self._tmp.name) / f"{self._count:04d}-{label}.wav"
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        safe = audio / peak if peak > 1.0 else audio  # avoid wrap-around clipping in 24-bit PCM
        return engine.write_audio(path, np.asarray(safe, dtype=np.float32), int(rate_hz), subtype="PCM_24")

    def play_array(self, audio: np.ndarray, rate_hz: int, label: str = "clip") -> bool:
        path = self.write_temp(audio, rate_hz, label)
        self.sources = {"A": path}
        return self.play("A")

    def set_ab(self, a: Path, b: Path) -> None:
        self.sources = {"A": Path(a), "B": Path(b)}

    def play(self, which: str = "A") -> bool:
        """Play source A or B; switching while playing keeps the position, so A/B is fair."""
        if which not in self.sources:
            return False
        self.current = which
        if not self.available:
            self.message.emit(self.problem)
            return False
        position = self._player.position() if self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState else 0
        self._player.setSource(QUrl.fromLocalFile(str(self.sources[which])))
        self._player.setPosition(position)
        self._player.play()
        return True

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()

    def _on_state(self, state) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.state_changed.emit("playing" if playing else "stopped")

    def close(self) -> None:
        self.stop()
        if self._player is not None:
            self._player.setSource(QUrl())
        self._tmp.cleanup()
