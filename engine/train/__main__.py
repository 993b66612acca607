"""``python -m engine.train <command>``: the `roomtone train` commands without the main CLI."""

import sys

from engine.train.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
