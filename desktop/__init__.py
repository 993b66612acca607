"""Roomtone desktop: a PyQt6 front end over the public `engine` and `presets` APIs.

The GUI holds no processing logic: widgets show state and forward intent, the one helper in
`desktop.workers` moves engine calls off the UI thread, and everything else is the engine's.
"""
