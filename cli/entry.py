"""The console script's entry: the command line's modules take seconds to load, and a Ctrl-C meanwhile
ends it as at any other time (exit code 130, no traceback)."""

from __future__ import annotations


def main() -> None:
    try:
        from cli.app import main as run

        run()
    except KeyboardInterrupt:  # while loading, or while the command line is being built
        raise SystemExit(130) from None
