"""Stores that can be stopped mid-study: a real ``mlflow server``, and PostgreSQL behind a proxy.

The MLflow server runs as a process of its own on a fixed loopback port with its own backend
store, so it can be stopped and started again on the same port with what it held. PostgreSQL is
the machine's shared server: it is never stopped; instead the Optuna storage URL points at a TCP
proxy process in front of it (:mod:`tcp_proxy`), and killing the proxy cuts every connection
trialrun holds and refuses new ones, as a database that went away does.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlflow_server import free_port

HERE = Path(__file__).parent


@dataclass
class Proxy:
    """A TCP proxy process on ``port`` in front of ``target``; kill it to cut the connections."""

    target: tuple[str, int]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        """Start the proxy and wait until it accepts connections."""
        host, port = self.target
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "tcp_proxy.py"), str(self.port), host, str(port)]
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

    def kill(self) -> None:
        """``kill -9`` the proxy: every connection through it is cut, new ones are refused."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
