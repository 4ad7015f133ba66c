"""Whether a port of this machine is free for a server of the local stack."""

from __future__ import annotations

import socket

from snowdays.errors import PortTaken


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


def check_free(port: int, host: str, server: str, setting: str) -> None:
    """Fail, naming ``setting``, if ``server`` could not listen on ``host:port``: else it would die
    after starting (or, worse, a stranger on that port would answer for it)."""
    if taken(port, host):
        raise PortTaken(f"port {port} on {host}, for {server}, is taken: stop what listens there, or give "
                        f"{setting} a free port")
