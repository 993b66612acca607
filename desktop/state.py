"""Where the app remembers things between runs (QSettings, organisation and app 'Roomtone').

Always the INI format so the file is readable and tests can redirect it with
`QSettings.setPath(IniFormat, UserScope, tmp_path)`.
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings

ORGANISATION = "Roomtone"
APPLICATION = "Roomtone"


def open_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
