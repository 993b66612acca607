"""`python -m desktop` runs the same entry point as the `roomtone-desktop` script."""

from desktop.app import main

raise SystemExit(main())
