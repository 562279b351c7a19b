"""``--workers N``: N processes serving the same addresses, each with its own cache.

The parent binds every address once (with SO_REUSEPORT; port 0 becomes a real port), then
forks. Worker 0 serves the parent's sockets; workers 1..N-1 bind their own sockets on the same
addresses with SO_REUSEPORT, so the kernel spreads UDP datagrams and TCP connections over the
processes by flow hash. The parent only supervises: it logs the "listening on" lines once every
worker is ready, forwards SIGTERM/SIGINT/SIGHUP to the workers, restarts a worker that dies
(a bounded number of times), and exits 0 after a clean stop.

``server.dashboard_listen`` is bound by the parent and served by worker 0 alone (and by the
worker 0 that replaces it): the dashboard shows that worker's view, its cache and its share of
the questions (docs/dashboard.md); the others close their copy.

``server.control_socket`` and ``server.metrics_listen`` are the supervisor's: it owns both and
answers for the whole set of workers. Each worker serves the control protocol on a private
socket in a directory only this user can enter (mkdtemp, mode 0700); the supervisor sends each
command to every worker there: ``stats`` and /metrics sum the workers' numbers, ``flush``,
``flush-all`` and ``reload`` reach every worker, ``dump-cache`` lists every worker's cache.
The supervisor is a plain select() loop, not an event loop: it forks workers at any time
(restarts), which an event loop, its selector and its threads do not survive well.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rootwalk.config import Config, format_listen
from rootwalk.resolver import Resolver
from rootwalk.server.app import BindError, Listener, Server, bind_one, run
from rootwalk.server.control import ControlSocket, http_reply, render_metrics

__all__ = ["run_workers"]

log = logging.getLogger("rootwalk.server")

_READY_TIMEOUT = 30.0
_MAX_RESTARTS = 10
# A control client or a /metrics scraper has this long to send its request.
_CLIENT_TIMEOUT = 5.0
# A worker has this long to answer the supervisor (a reload may read large blocklists).
_WORKER_TIMEOUT = 10.0
_MAX_LINE = 1024
# Summed over workers, except these: a peak is the largest, the uptime the supervisor's.
_MAX_KEYS = frozenset({"resolutions_peak"})
_COMMANDS = ("stats", "flush", "flush-zone", "flush-all", "dump-cache", "load-cache", "reload")
# Commands with one argument (a name or a file; dump-cache's is optional).
_ONE_ARG = frozenset({"flush", "flush-zone", "load-cache"})


def worker_config(config: Config, control_path: str, index: int = 0) -> Config:
    """What a worker runs: the supervisor's sockets replaced by its private control socket,
    and a warm-start file of its own (FILE.I: each worker has its own cache)."""
    server = dataclasses.replace(config.server, control_socket=control_path, metrics_listen="")
    cache = config.cache
    if cache.warm_start_file:
        cache = dataclasses.replace(cache, warm_start_file=f"{cache.warm_start_file}.{index}")
    return dataclasses.replace(config, server=server, cache=cache)


def ask_worker(path: str, command: str, timeout: float = _WORKER_TIMEOUT) -> tuple[bool, str]:
    """Send one control command to a worker: (ok, the rest of the reply). Raises OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    status, _, body = b"".join(chunks).decode(errors="replace").partition("\n")
    if status == "ok":
        return True, body
    return False, status.removeprefix("error: ") or "no answer"


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
    dashboard: socket.socket | None = None,
) -> int:
    signal.set_wakeup_fd(-1)  # the supervisor's; the worker's event loop sets its own
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    if not fresh:
        listeners = inherited
    else:
        listeners = []
        try:
            for old in inherited:
                listeners.append(
                    bind_one(old.host, old.port, reuseport=True, freebind=config.server.freebind)
                )
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
        dashboard_sock=dashboard,
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
    metrics_sock: socket.socket | None = None,
    control_sock: ControlSocket | None = None,
    dashboard_sock: socket.socket | None = None,
) -> int:
    s = config.server
    # The supervisor serves server.control_socket (bound by the caller, which refuses a
    # second instance) and /metrics for every worker; workers answer on private sockets.
    control = control_sock.sock if control_sock is not None else None
    private = ""
    if control is not None or metrics_sock is not None:
        if control_sock is not None:
            log.info("control socket %s", s.control_socket)
        private = tempfile.mkdtemp(prefix=f"rootwalk-{os.getpid()}-")
    sup = _Supervisor(
        config, listeners, resolver, config_path, overrides, verbose, control, metrics_sock, private
    )
    sup.dashboard = dashboard_sock
    try:
        return sup.run()
    finally:
        sup.close()
        if control_sock is not None:
            control_sock.close()  # removes the file only if it is still ours


class _Supervisor:
    def __init__(
        self,
        config: Config,
        listeners: list[Listener],
        resolver: Resolver,
        config_path: Path | None,
        overrides: Callable[[Config], Config],
        verbose: int,
        control: socket.socket | None,
        metrics: socket.socket | None,
        private: str,
    ) -> None:
        self.config = config
        self.listeners = listeners
        self.resolver = resolver
        self.config_path = config_path
        self.overrides = overrides
        self.verbose = verbose
        self.control = control
        self.metrics = metrics
        self.private = private
        self.dashboard: socket.socket | None = None  # worker 0 serves it (module docstring)
        self.workers = config.server.workers
        self.children: dict[int, int] = {}  # pid -> worker index
        self.stopping = False
        self.status = 0
        self.restarts = 0
        self.started = time.monotonic()
        # The supervisor's descriptors, closed in every worker right after fork.
        self._own: list[int] = [x.fileno() for x in (control, metrics) if x is not None]
        if control is not None:
            control.setblocking(False)  # select() said readable; a vanished client must not block

    def _path(self, index: int) -> str:
        return os.path.join(self.private, f"worker-{index}.sock") if self.private else ""

    # -- workers ----------------------------------------------------------------------------

    def spawn(self, index: int, fresh: bool) -> tuple[int, int]:
        r, w = os.pipe()
        path = self._path(index)
        overrides = self.overrides

        def worker_overrides(c: Config) -> Config:  # re-applied by the worker on every reload
            return worker_config(overrides(c), path, index)

        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            # First: until now a SIGTERM here would run the supervisor's handler.
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.close(r)
            for fd in self._own:
                with contextlib.suppress(OSError):
                    os.close(fd)
            dashboard = self.dashboard if index == 0 else None
            if self.dashboard is not None and dashboard is None:
                self.dashboard.close()
            rc = 1
            try:
                rc = _child(
                    index,
                    fresh,
                    worker_config(self.config, path, index),
                    self.listeners,
                    self.resolver,
                    w,
                    self.config_path,
                    worker_overrides,
                    self.verbose,
                    dashboard,
                )
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(rc)
        os.close(w)
        self.children[pid] = index
        return pid, r

    def run(self) -> int:
        fds: dict[int, int] = {}
        for i in range(self.workers):
            _pid, fd = self.spawn(i, fresh=i > 0)
            fds[fd] = i
        problem = _wait_ready(fds)
        if problem is not None:
            for pid in self.children:
                _signal(pid, signal.SIGTERM)
            _reap_all(self.children)
            print(problem, file=sys.stderr)
            return 2
        if self.metrics is not None:
            host, port = self.metrics.getsockname()[:2]
            log.info("metrics on http://%s/metrics", format_listen(host, port))
        for listener in self.listeners:
            log.info("listening on %s (udp, tcp) with %d workers", listener.name, self.workers)
            # Worker 0 serves these sockets now; a copy kept here would stay in the SO_REUSEPORT
            # group after that worker died, and its share of the traffic would go unread.
            listener.close()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._own += [wake_r, wake_w]
        # Signals write a byte here, so select() returns for them (PEP 475 would otherwise
        # retry it), and SIGCHLD needs a handler of its own to be delivered at all.
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._forward)
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
        try:
            self._loop(wake_r)
        finally:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
        log.info("stopped")
        return self.status

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
            sig = signal.SIGTERM
        else:
            sig = signal.Signals(signum)
        for pid in list(self.children):
            _signal(pid, sig)

    def _loop(self, wake: int) -> None:
        services = [x for x in (self.control, self.metrics) if x is not None]
        while True:
            self._reap()
            if not self.children:
                return
            # While the workers stop, control and metrics wait (and then are closed).
            watched: list[int | socket.socket] = [wake, *([] if self.stopping else services)]
            readable, _, _ = select.select(watched, [], [])
            if wake in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake, 512):
                        pass
            if self.stopping:
                continue
            for sock in readable:
                if isinstance(sock, socket.socket):
                    self._client(sock)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(wstatus)
            if self.stopping:
                if code != 0:
                    self.status = 1
                continue
            log.error("worker %d exited unexpectedly (status %d)", index, code)
            self.restarts += 1
            if self.restarts > _MAX_RESTARTS:
                log.error("too many worker restarts; stopping")
                self.stopping = True
                self.status = 1
                for other in list(self.children):
                    _signal(other, signal.SIGTERM)
                continue
            _pid, fd = self.spawn(index, fresh=True)
            problem = _wait_ready({fd: index})
            if problem is not None:
                log.error("restarting worker %d failed: %s", index, problem)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.dashboard is not None:
            self.dashboard.close()
        if self.private:
            shutil.rmtree(self.private, ignore_errors=True)

    # -- control and metrics ----------------------------------------------------------------

    def _client(self, listening: socket.socket) -> None:
        """Serve one control or /metrics connection (short; one at a time is plenty)."""
        try:
            conn, _ = listening.accept()
        except (BlockingIOError, InterruptedError, ConnectionError):
            return
        with conn:
            try:
                conn.settimeout(_CLIENT_TIMEOUT)
                if listening is self.control:
                    line = _read_until(conn, (b"\n",)).split(b"\n", 1)[0][:_MAX_LINE]
                    reply = self.command(line.decode(errors="replace").strip()).encode()
                else:
                    request = _read_until(conn, (b"\r\n\r\n", b"\n\n"))
                    reply = http_reply(request, lambda: render_metrics(self.stats()))
                conn.sendall(reply)
            except OSError:
                pass
            except Exception:
                log.exception("control request failed")

    def _fan_out(
        self, command: str | Callable[[int], str]
    ) -> tuple[list[tuple[int, str]], list[str]]:
        """``command`` (or ``command(index)``) sent to every worker: the (index, body) of those
        that said ok, and one line per worker that reported an error or could not be reached."""
        answers: list[tuple[int, str]] = []
        problems: list[str] = []
        for index in range(self.workers):
            try:
                text = command if isinstance(command, str) else command(index)
                ok, body = ask_worker(self._path(index), text)
            except OSError as exc:
                problems.append(f"worker {index} not answering ({exc.strerror or exc})")
                continue
            if ok:
                answers.append((index, body))
            else:
                problems.append(f"worker {index}: {body}")
        return answers, problems

    def stats(self) -> dict[str, int]:
        """Every worker's ``stats``, summed (a peak: the largest), and how many answered."""
        answers, problems = self._fan_out("stats")
        for problem in problems:
            log.warning("stats: %s", problem)
        total: dict[str, int] = {"uptime_seconds": round(time.monotonic() - self.started)}
        for _index, body in answers:
            for line in body.splitlines():
                key, _, value = line.partition(" ")
                if key == "uptime_seconds" or not value.lstrip("-").isdigit():
                    continue
                if key in _MAX_KEYS:
                    total[key] = max(total.get(key, 0), int(value))
                else:
                    total[key] = total.get(key, 0) + int(value)
        total["workers"] = self.workers
        total["workers_answering"] = len(answers)
        return total

    def command(self, command: str) -> str:
        """One ``rootwalk ctl`` command for the whole set of workers (the reply to send)."""
        words = command.split()
        if not words:
            return "error: empty command\n"
        cmd = words[0].lower()
        if cmd in _ONE_ARG and len(words) != 2:
            return f"error: usage: {cmd} {'FILE' if cmd == 'load-cache' else 'NAME'}\n"
        to_file = cmd == "dump-cache" and len(words) == 2
        if cmd not in _COMMANDS or (cmd not in _ONE_ARG and len(words) != 1 and not to_file):
            return f"error: unknown command {command!r} (stats, flush NAME, flush-all, ...)\n"
        if cmd == "stats":
            return "ok\n" + "".join(f"{k} {v}\n" for k, v in self.stats().items())
        if cmd == "dump-cache" and len(words) == 2:
            # One file per worker (FILE.I), as the warm start keeps them: each has its own cache.
            answers, problems = self._fan_out(lambda i: f"dump-cache {words[1]}.{i}")
        else:
            answers, problems = self._fan_out(lambda _i: " ".join([cmd, *words[1:]]))
        if problems:
            # The same complaint from every worker (a bad name) is said once.
            unique = {p.split(": ", 1)[-1] for p in problems}
            if len(unique) == 1 and not answers and len(problems) == self.workers:
                return f"error: {unique.pop()}\n"
            return f"error: {'; '.join(problems)}\n"
        n = len(answers)
        if cmd == "flush":
            removed = sum(int(body.split()[0]) for _i, body in answers if body.split())
            return f"ok\n{removed} entries removed ({n} workers)\n"
        if cmd == "reload":
            first = answers[0][1].strip() if answers else "reloaded"
            return f"ok\n{first} ({n} workers)\n"
        if cmd == "dump-cache" and len(words) == 1:
            return "ok\n" + "".join(f"; worker {i}\n{body}" for i, body in answers)
        if cmd in ("flush-zone", "dump-cache", "load-cache"):
            return "ok\n" + "".join(f"worker {i}: {body}" for i, body in answers)
        return "ok\n"


def _read_until(conn: socket.socket, ends: tuple[bytes, ...]) -> bytes:
    """What a client sends before it waits for the answer: up to one of ``ends``, or EOF."""
    data = b""
    while not any(end in data for end in ends) and len(data) <= 16_384:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _wait_ready(fds: dict[int, int]) -> str | None:
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
