"""Fixtures for the front-end tests: the lab, and ``rootwalk serve`` as a real subprocess.

Readiness is never guessed with sleeps: the server logs ``listening on ADDR:PORT (udp, tcp)``
once per address after binding, and ``ServeProcess.wait_for`` reads its stderr line by line
with a deadline. Listen addresses use port 0; the server binds UDP and TCP on one free port and
logs it, so parallel test runs never race for a port.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import dns.message
import dns.query
import pytest

from rootwalk.lab import Lab
from rootwalk.paths import ENV_RUNTIME_DIR

#: How the tests start the command line (the installed entry point's module form).
ROOTWALK = [sys.executable, "-m", "rootwalk"]
START_TIMEOUT = 20.0


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = ipv6_loopback()


class ServeProcess:
    """A running ``rootwalk serve`` with its stderr collected line by line."""

    LISTENING = re.compile(r"listening on (\S+) \(udp, tcp\)")

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.args = [*prefix, *ROOTWALK, *args]
        # A run directory of its own: servers running at once never share a default
        # control socket (tests/conftest.py keeps them all off /run).
        self.run_dir = Path(tempfile.mkdtemp(prefix="rootwalk-run-"))
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                ENV_RUNTIME_DIR: str(self.run_dir),
                **(env or {}),
            },
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.addresses: list[tuple[str, int]] = []
        self.config_path: Path | None = None

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """The first new stderr line matching ``pattern`` (fails on timeout or exit)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r}; stderr:\n{self.stderr}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)  # keep the end marker for later waits
                raise AssertionError(
                    f"server exited ({self.proc.wait(5)}) before {pattern!r}:\n{self.stderr}"
                )
            m = rx.search(line)
            if m:
                return m

    def find(self, pattern: str) -> re.Match[str] | None:
        """The first stderr line so far matching ``pattern``."""
        rx = re.compile(pattern)
        for line in list(self.lines):
            m = rx.search(line)
            if m:
                return m
        return None

    def wait_listening(self, count: int) -> list[tuple[str, int]]:
        for _ in range(count):
            m = self.wait_for(self.LISTENING.pattern)
            host, _, port = m.group(1).rpartition(":")
            self.addresses.append((host.strip("[]"), int(port)))
        return self.addresses

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return rc


def run_cli(
    args: Sequence[str], timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rootwalk-run-") as run_dir:
        return subprocess.run(
            [*ROOTWALK, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, ENV_RUNTIME_DIR: run_dir, **(env or {})},
        )


def lab_config(lab: Lab, extra: str = "", listen: Sequence[str] | None = None) -> str:
    """TOML for a server in front of ``lab``, on free loopback ports."""
    if listen is None:
        listen = ["127.0.0.1:0", "[::1]:0"] if HAVE_IPV6 else ["127.0.0.1:0"]
    listen_toml = ", ".join(f'"{a}"' for a in listen)
    text = f"""{lab.resolver_config_text}
[server]
listen = [{listen_toml}]
"""
    return text + extra


def start_server(
    lab: Lab,
    tmp: Path,
    extra: str = "",
    *,
    args: Sequence[str] = (),
    listen: Sequence[str] | None = None,
) -> ServeProcess:
    path = tmp / f"rootwalk-{time.monotonic_ns()}.toml"
    path.write_text(lab_config(lab, extra, listen))
    proc = ServeProcess(["serve", "--config", str(path), *args])
    proc.config_path = path
    n = len(listen) if listen is not None else (2 if HAVE_IPV6 else 1)
    try:
        proc.wait_listening(n)
    except BaseException:
        proc.stop()
        raise
    return proc


def ask(
    where: tuple[str, int],
    name: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    timeout: float = 5.0,
    **make: object,
) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **make)  # type: ignore[arg-type]
    if tcp:
        return dns.query.tcp(q, where[0], port=where[1], timeout=timeout)
    return dns.query.udp(q, where[0], port=where[1], timeout=timeout)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture(scope="module")
def server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One ``rootwalk serve`` in front of the lab for a whole test module."""
    proc = start_server(lab, tmp_path_factory.mktemp("serve"))
    yield proc
    rc = proc.stop()
    assert rc == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def udp4(server: ServeProcess) -> tuple[str, int]:
    return server.addresses[0]


def dashboard_server(lab: Lab, tmp: Path) -> ServeProcess:
    """A ``rootwalk serve`` with the dashboard on (a random loopback port) and one blocked
    name (``ads.example.com``), for the dashboard's HTTP and browser tests."""
    block = tmp / "block.txt"
    block.write_text("ads.example.com\n")
    extra = f'dashboard_listen = "127.0.0.1:0"\nblocklists = ["{block}"]\n'
    return start_server(lab, tmp, extra, listen=["127.0.0.1:0"])
