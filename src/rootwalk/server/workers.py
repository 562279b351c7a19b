"""``--workers N``: N processes serving the same addresses, each with its own cache.

The parent binds every address once (with SO_REUSEPORT; port 0 becomes a real port), then
forks. Worker 0 serves the parent's sockets; workers 1..N-1 bind their own sockets on the same
addresses with SO_REUSEPORT, so the kernel spreads UDP datagrams and TCP connections over the
processes by flow hash. The parent only supervises: it logs the "listening on" lines once every
worker is ready, forwards SIGTERM/SIGINT/SIGHUP to the workers, restarts a worker that dies
(a bounded number of times), and exits 0 after a clean stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rootwalk.config import Config
from rootwalk.resolver import Resolver
from rootwalk.server.app import BindError, Listener, Server, bind_one, run

__all__ = ["run_workers"]

log = logging.getLogger("rootwalk.server")

_READY_TIMEOUT = 30.0
_MAX_RESTARTS = 10


def _child(
    index: int,
    fresh: bool,
    config: Config,
    inherited: list[Listener],
    resolver: Resolver,
    ready_fd: int,
    config_path: Path | None,
    overrides: Callable[[Config], Config],
    verbose: int,
) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    if not fresh:
        listeners = inherited
    else:
        listeners = []
        try:
            for old in inherited:
                listeners.append(bind_one(old.host, old.port, reuseport=True))
        except BindError as exc:
            os.write(ready_fd, f"{exc}\n".encode())
            return 2
        for old in inherited:
            old.close()

    def ready() -> None:
        os.write(ready_fd, b"ok\n")
        os.close(ready_fd)

    server = Server(
        config,
        listeners,
        resolver=resolver,
        config_path=config_path,
        overrides=overrides,
        verbose=verbose,
        announce=False,
        on_ready=ready,
        name=f"worker {index}",
    )
    return run(server.run(), config.server.event_loop)


def run_workers(
    config: Config,
    listeners: list[Listener],
    resolver: Resolver,
    *,
    config_path: Path | None,
    overrides: Callable[[Config], Config],
    verbose: int = 0,
) -> int:
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def spawn(index: int, fresh: bool) -> tuple[int, int]:
        r, w = os.pipe()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(r)
            rc = 1
            try:
                rc = _child(
                    index, fresh, config, listeners, resolver, w, config_path, overrides, verbose
                )
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(rc)
        os.close(w)
        children[pid] = index
        return pid, r

    def wait_ready(fds: dict[int, int]) -> str | None:
        """Read each worker's first line; None when all said ok, else the first problem."""
        deadline = time.monotonic() + _READY_TIMEOUT
        pending = dict(fds)
        problem: str | None = None
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return problem or "a worker did not start in time"
            readable, _, _ = select.select(list(pending), [], [], left)
            for fd in readable:
                data = os.read(fd, 4096).decode(errors="replace").strip()
                os.close(fd)
                del pending[fd]
                if data != "ok" and problem is None:
                    problem = data or "a worker exited during start-up"
        return problem

    fds: dict[int, int] = {}
    for i in range(config.server.workers):
        _pid, fd = spawn(i, fresh=i > 0)
        fds[fd] = i
    problem = wait_ready(fds)
    if problem is not None:
        for pid in children:
            _signal(pid, signal.SIGTERM)
        _reap_all(children)
        print(problem, file=sys.stderr)
        return 2
    for listener in listeners:
        log.info("listening on %s (udp, tcp) with %d workers", listener.name, config.server.workers)
        # Worker 0 serves these sockets now; a copy kept here would stay in the SO_REUSEPORT
        # group after that worker died, and its share of the traffic would go unread.
        listener.close()

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
            sig = signal.SIGTERM
        else:
            sig = signal.Signals(signum)
        for pid in list(children):
            _signal(pid, sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    restarts = 0
    status = 0
    while children:
        try:
            pid, wstatus = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(wstatus)
        if stopping:
            if code != 0:
                status = 1
            continue
        log.error("worker %d exited unexpectedly (status %d)", index, code)
        restarts += 1
        if restarts > _MAX_RESTARTS:
            log.error("too many worker restarts; stopping")
            stopping = True
            status = 1
            for other in list(children):
                _signal(other, signal.SIGTERM)
            continue
        _pid, fd = spawn(index, fresh=True)
        problem = wait_ready({fd: index})
        if problem is not None:
            log.error("restarting worker %d failed: %s", index, problem)
    log.info("stopped")
    return status


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap_all(children: dict[int, int]) -> None:
    deadline = time.monotonic() + 5.0
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)
            continue
        children.pop(pid, None)
