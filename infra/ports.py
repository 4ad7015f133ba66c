"""Whether a port of this machine is free for a server of the local stack."""

from __future__ import annotations

import socket


def taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` (a port only waiting out old connections is free, as
    servers bind it with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
