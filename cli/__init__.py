"""The ``snowdays`` command line: the top layer. It may import every other layer, and does so inside
each command, so that a command loads only what it runs (``snowdays --help`` loads none of them)."""
