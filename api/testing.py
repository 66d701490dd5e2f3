"""Run `scenesmith serve` as a real subprocess (for tests and the benchmark).

Why a real process: killing it with SIGKILL must be a real crash, and a server under test must not
share a GIL or a ZMQ context with its clients. The process starts a new session, so `stop()` can
end it and the render workers it spawned, and nothing else.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from scenesmith.api.client import Client


class ServerProcess:
    """`scenesmith serve` on loopback with its own data root and token file."""

    def __init__(
        self,
        data_root: Path,
        bind: str = "tcp://127.0.0.1:*",
        extra: list[str] | None = None,
        log_name: str = "log",
    ) -> None:
        self.data_root = Path(data_root)
        self.token_file = self.data_root.parent / f"{self.data_root.name}.token"
        self.bind = bind
        self.extra = list(extra or [])
        self.log_path = self.data_root.parent / f"{self.data_root.name}.{log_name}"
        self.process: subprocess.Popen | None = None
        self.endpoint = ""
        self._sessions: list[int] = []  # every session started here (a restart adds one)

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start and wait for the "listening on" line (the real endpoint, also for port `*`)."""
        self.data_root.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 - handed to the child
        command = [sys.executable, "-m", "scenesmith", "serve", "--bind", self.bind]
        command += ["--data-root", str(self.data_root), "--token-file", str(self.token_file), *self.extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self._sessions.append(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text()[start_offset:]
            match = re.search(r"listening on (\S+?)(?: |;)", text)
            if match:
                self.endpoint = match.group(1)
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{text}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within {timeout} s:\n{self.log_path.read_text()}")

    def client(self, **kwargs: object) -> Client:
        kwargs.setdefault("timeout_s", 30.0)
        return Client(self.endpoint, token_file=self.token_file, **kwargs)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def kill_server_only(self) -> None:
        """SIGKILL the server process alone (its render workers are orphaned, as in a real crash)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM (clean stop), then SIGKILL of the whole session if it is still there."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for session in self._sessions:  # sessions this object started (and their workers), nothing else
            try:
                os.killpg(session, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._sessions.clear()
        self.process.wait(30)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
