"""The running server: sockets, the resolver, signals, reload and graceful shutdown.

Every socket is bound before anything else starts, so a bad address fails fast with one line
(``BindError``). Then one asyncio loop serves all of them: UDP datagrams and TCP connections
go to the same ``Handler``, which shares one ``Resolver`` (and so one cache).

Signals: SIGTERM and SIGINT stop accepting, give questions in progress
``server.shutdown_timeout`` seconds, close the sockets and return 0. SIGHUP re-reads the
configuration file: server settings (access control, query log, log level, TCP limits) apply
at once and the cache is kept; a broken file is reported and the running configuration stays.

Blocklists are parsed in a child process (server/blocklist.py) while the loop keeps serving;
the new policy is swapped in whole. At start the sockets are bound first (a bad address still
fails at once), then the lists are loaded, then the sockets are served and "listening on" is
logged: no question is answered without the blocklists in force, and the questions that arrive
meanwhile wait in the kernel's socket queues rather than being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rootwalk.config import Config, ServerConfig, format_listen, load_config, parse_listen
from rootwalk.errors import ConfigError
from rootwalk.hints import load_hints
from rootwalk.resolver import Resolver
from rootwalk.server import api, cachectl, logs
from rootwalk.server.blocklist import Blocklist, LoadError, load
from rootwalk.server.blocklist_fetch import is_url
from rootwalk.server.control import (
    ControlError,
    ControlService,
    ControlSocket,
    MetricsService,
    bind_control,
)
from rootwalk.server.dashboard.http import (
    DashboardService,
    Request,
    Response,
    Route,
    json_response,
)
from rootwalk.server.handler import Handler
from rootwalk.server.inflight import Inflight
from rootwalk.server.local import LocalPolicy, blocklist_error, blocklist_spec
from rootwalk.server.tcp import TcpService
from rootwalk.server.udp import UdpProtocol
from rootwalk.server.walks import WalkLog

__all__ = [
    "BindError",
    "Listener",
    "Server",
    "bind_all",
    "bind_dashboard",
    "bind_metrics",
    "configure_logging",
]

log = logging.getLogger("rootwalk.server")
# Walks kept for the dashboard when server.record_walks is 0 (server/walks.py).
DASHBOARD_WALKS = 256

_TCP_BACKLOG = 256
_PORT0_RETRIES = 20
# Linux <netinet/in.h> values, for Pythons whose socket module lacks the names.
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
_IPV6_FREEBIND = getattr(socket, "IPV6_FREEBIND", 78)
# The built-in ``server.listen``: on a host without IPv6, [::1] is skipped with a warning.
_DEFAULT_LISTEN = ServerConfig().listen
_ABSENT = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class BindError(Exception):
    """A listen address could not be bound; ``str()`` is the one line to show."""


@dataclass
class Listener:
    """A bound UDP + TCP socket pair on one address and port."""

    host: str
    port: int
    udp: socket.socket
    tcp: socket.socket

    @property
    def name(self) -> str:
        return format_listen(self.host, self.port)

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def _why(exc: OSError, host: str, port: int) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        if 0 < port < 1024:
            return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        return "permission denied"
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (is another DNS server running there?)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if exc.errno == errno.EAFNOSUPPORT:
        return "this address family is not available here"
    return exc.strerror or str(exc)


def _socket(
    host: str, port: int, kind: socket.SocketKind, reuseport: bool, freebind: bool = False
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    info = socket.getaddrinfo(host, port, family, kind, 0, socket.AI_NUMERICHOST)
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            # Serve exactly the address given: [::] must not swallow 0.0.0.0.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if freebind:
            # Bind an address that is not (yet) on an interface, as Unbound's ip-freebind:
            # a LAN address that DHCP or a slow link brings up after rootwalk starts.
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_FREEBIND, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
        sock.bind(info[0][4])
        if kind == socket.SOCK_STREAM:
            sock.listen(_TCP_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_one(host: str, port: int, *, reuseport: bool = False, freebind: bool = False) -> Listener:
    """Bind UDP and TCP on host:port (port 0: the same free port for both).

    BindError carries the OSError (``__cause__``) so that callers can tell why."""
    name = format_listen(host, port)
    for _attempt in range(_PORT0_RETRIES):
        proto = "udp"
        try:
            udp = _socket(host, port, socket.SOCK_DGRAM, reuseport, freebind)
        except OSError as exc:
            raise BindError(_bind_line(name, proto, _why(exc, host, port))) from exc
        real_port = udp.getsockname()[1]
        try:
            tcp = _socket(host, real_port, socket.SOCK_STREAM, reuseport, freebind)
        except OSError as exc:
            udp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE:
                continue  # the port chosen for UDP is taken for TCP: pick another
            raise BindError(_bind_line(name, "tcp", _why(exc, host, port))) from exc
        return Listener(host, real_port, udp, tcp)
    raise BindError(_bind_line(name, "tcp", "no port free for both UDP and TCP"))


def _bind_line(name: str, proto: str, why: str) -> str:
    return (
        f"rootwalk: cannot listen on {name} ({proto}): {why}; "
        "choose another address or port, e.g. --listen 127.0.0.1:5300"
    )


def bind_all(config: Config, *, reuseport: bool = False) -> list[Listener]:
    """Bind every ``server.listen`` address, or none (BindError names the first failure).

    One exception: with the built-in default (127.0.0.1:53 and [::1]:53), an IPv6 loopback that
    this host does not have (IPv6 disabled or not compiled in) is skipped with a warning, so
    that a fresh install starts on an IPv4-only machine. An address the operator configured
    must be bound (or ``server.freebind`` set).
    """
    s = config.server
    default = s.listen == _DEFAULT_LISTEN
    listeners: list[Listener] = []
    try:
        for text in s.listen:
            host, port = parse_listen(text)
            try:
                listeners.append(bind_one(host, port, reuseport=reuseport, freebind=s.freebind))
            except BindError as exc:
                cause = exc.__cause__
                if not (
                    default
                    and host == "::1"
                    and isinstance(cause, OSError)
                    and cause.errno in _ABSENT
                ):
                    raise
                log.warning(
                    "not listening on %s: %s (no IPv6 here); serving the IPv4 loopback only",
                    format_listen(host, port),
                    _why(cause, host, port),
                )
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def bind_metrics(config: Config) -> socket.socket | None:
    """The TCP socket of ``server.metrics_listen`` (None when off); BindError if it fails."""
    return _bind_http(config.server.metrics_listen, "metrics", "metrics_listen")


def bind_dashboard(config: Config) -> socket.socket | None:
    """The TCP socket of ``server.dashboard_listen`` (None when off); BindError if it fails."""
    return _bind_http(config.server.dashboard_listen, "the dashboard", "dashboard_listen")


def _bind_http(listen: str, what: str, key: str) -> socket.socket | None:
    if not listen:
        return None
    host, port = parse_listen(listen)
    try:
        return _socket(host, port, socket.SOCK_STREAM, False)
    except OSError as exc:
        name = format_listen(host, port)
        raise BindError(
            f"rootwalk: cannot serve {what} on {name} (tcp): {_why(exc, host, port)}; "
            f"choose another address in server.{key}"
        ) from None


def set_udp_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for a ``size``-byte receive queue (0: leave it); return what the kernel gave.

    A queue deeper than a fraction of a second of work only holds questions that their stubs
    will have given up on when they are read (issue #11: 7.4 MB, 8.7 s to recover). Linux
    doubles the request for its bookkeeping and caps it at net.core.rmem_max first (socket(7)),
    so the value read back is the one that counts."""
    if size:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def _log_rcvbuf(listener: Listener, asked: int, got: int, quiet: bool = False) -> None:
    if asked and got < 2 * asked:
        log.warning(
            "UDP receive queue on %s: %d bytes, less than asked (server.udp_rcvbuf %d, "
            "doubled by the kernel): capped by net.core.rmem_max",
            listener.name,
            got,
            asked,
        )
    elif not quiet:
        log.info(
            "UDP receive queue on %s: %d bytes (server.udp_rcvbuf %s)",
            listener.name,
            got,
            asked or "0: system default",
        )


def run(coro: Coroutine[Any, Any, int], event_loop: str = "auto") -> int:
    """Run ``coro`` to completion on the event loop ``server.event_loop`` asks for."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":  # config validation checks this first; be sure anyway
                raise
        else:
            factory = uvloop.new_event_loop
    # Everything built so far (modules, hints, blocklists, local data) lives as long as the
    # process: freeze it so the cycle collector never walks it again. A larger first
    # generation lets per-question objects die by reference count before a collection sees
    # them; with the default (700) the profile of a cold run showed ~8% in gc_collect_main.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def configure_logging(config: Config, verbose: int = 0) -> None:
    """Root level from ``server.log_level`` (``-v`` wins); server events always at INFO."""
    level = logging.getLevelName(config.server.log_level.upper())
    if verbose:
        level = logging.DEBUG if verbose > 1 else min(level, logging.INFO)
    root = logging.getLogger()
    logs.configure(config.server)  # server.log_format, server.query_log_file (server/logs.py)
    root.setLevel(level)
    # Start, stop and reload lines (and the query log, when on) are shown at any log level.
    logging.getLogger("rootwalk.server").setLevel(min(level, logging.INFO))
    logging.getLogger("rootwalk.query").setLevel(logging.INFO)


class Server:
    def __init__(
        self,
        config: Config,
        listeners: list[Listener],
        *,
        config_path: Path | None = None,
        overrides: Callable[[Config], Config] = lambda c: c,
        resolver: Resolver | None = None,
        verbose: int = 0,
        announce: bool = True,
        on_ready: Callable[[], None] | None = None,
        name: str = "",
        metrics_sock: socket.socket | None = None,
        control_sock: ControlSocket | None = None,
        dashboard_sock: socket.socket | None = None,
    ) -> None:
        self.config = config
        self.listeners = listeners
        self.config_path = config_path
        self.overrides = overrides
        self.verbose = verbose
        self.announce = announce
        self.on_ready = on_ready
        self.name = name
        self.metrics_sock = metrics_sock
        self.control_sock = control_sock
        self.dashboard_sock = dashboard_sock
        # JSON routes other parts serve on the dashboard's listener (path -> handler; see
        # server/dashboard/http.py Route), e.g. GET /api/explain. Register before start().
        self.http_routes: dict[str, Route] = {
            path: self._api_route(route) for path, route in api.ROUTES.items()
        }
        self.dashboard: DashboardService | None = None
        self.resolver = resolver or Resolver(config)
        # The walk log (server.record_walks), read by ctl explain, /api/explain, the dashboard.
        # The dashboard draws the walk of a query clicked in its live tail, so it keeps the
        # last DASHBOARD_WALKS walks when record_walks leaves the log off.
        walks = config.server.record_walks or (
            DASHBOARD_WALKS if config.server.dashboard_listen else 0
        )
        if walks:
            self.resolver.walks = WalkLog(walks)
        # An empty blocklist for now: start() loads the real one without blocking the loop.
        self.handler = Handler(self.resolver, config, Blocklist())
        self.handler.explainer = self._explain_lines  # explain.rootwalk.arpa (dig)
        self.inflight = Inflight(
            config.server.max_inflight, self.handler.stats, config.limits.jostle_timeout
        )
        s = config.server
        self.tcp = TcpService(
            self.handler,
            self.inflight,
            idle_timeout=s.tcp_idle_timeout,
            max_connections=s.max_tcp_connections,
            max_pipeline=s.max_tcp_pipeline,
        )
        self.udp: list[tuple[asyncio.DatagramTransport, UdpProtocol]] = []
        self.control: ControlService | None = None
        self.metrics: MetricsService | None = None
        self._stop: asyncio.Event | None = None
        self._reloading = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresh: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        source = str(self.config_path or "config")
        blocklist = await self._load_blocklists(self.config, source)
        if blocklist is not self.handler.blocklist:
            self.handler.configure(self.config, source, blocklist)
        await cachectl.warm_load(self)  # before the first question: answered warm
        self._log_hosts()
        for listener in self.listeners:
            asked = self.config.server.udp_rcvbuf
            got = set_udp_rcvbuf(listener.udp, asked)
            _log_rcvbuf(listener, asked, got, quiet=not self.announce)
            protocol = UdpProtocol(self.handler, self.inflight, listener.udp)
            transport, _ = await loop.create_datagram_endpoint(
                lambda p=protocol: p,  # type: ignore[misc]
                sock=listener.udp,
            )
            self.udp.append((transport, protocol))
            await self.tcp.start(listener.tcp)
        s = self.config.server
        if s.control_socket:
            if self.control_sock is None:
                self.control_sock = bind_control(s.control_socket)
            self.control = ControlService(self, self.control_sock)
            await self.control.start()
        if self.metrics_sock is not None:
            self.metrics = MetricsService(self)
            await self.metrics.start(self.metrics_sock)
        if self.dashboard_sock is not None:
            self.dashboard = DashboardService(self, s.dashboard_token)
            await self.dashboard.start(self.dashboard_sock)
        if self.announce:
            log.info("event loop: %s", type(loop).__module__.split(".")[0])
            for listener in self.listeners:
                log.info("listening on %s (udp, tcp)", listener.name)
        self._schedule_refresh()
        if self.on_ready is not None:
            self.on_ready()

    async def run(self, *, install_signals: bool = True) -> int:
        """Serve until stop() (or SIGTERM/SIGINT); returns the exit status."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
            loop.add_signal_handler(signal.SIGINT, self.stop, "SIGINT")
            loop.add_signal_handler(signal.SIGHUP, self._sighup)
        try:
            try:
                await self.start()
            except (ConfigError, ControlError) as exc:
                # A blocklist became unreadable since it was checked; a control socket taken.
                if self.control_sock is not None:
                    self.control_sock.close()
                line = str(exc)
                print(
                    line if line.startswith("rootwalk:") else f"rootwalk: {line}", file=sys.stderr
                )
                return 2
            await self._stop.wait()
            await self.shutdown()
        finally:
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        return 0

    def _sighup(self) -> None:
        # First, whatever the reload makes of the file: logrotate has moved the query log.
        logs.reopen()
        # The reload runs as a task: a large blocklist is parsed aside while the loop serves.
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self, why: str = "stop requested") -> None:
        if self._stop is not None and not self._stop.is_set():
            log.info("%s: stopping%s", why, f" {self.name}" if self.name else "")
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop accepting, let questions in progress finish (bounded), close everything."""
        if self._refresh is not None:
            self._refresh.cancel()  # a download in progress: its child process is killed
        for _transport, protocol in self.udp:
            protocol.accepting = False
        self.tcp.stop_accepting()
        for service in (self.control, self.metrics, self.dashboard):
            if service is not None:
                service.close()
        left = await self.inflight.drain(self.config.server.shutdown_timeout)
        if left:
            log.info("%d question(s) still in progress abandoned", left)
        for task in self.resolver.prefetching():
            task.cancel()  # a refresh nobody waits for: not worth delaying the stop
        await cachectl.warm_save(self)
        for transport, _protocol in self.udp:
            transport.close()
        self.tcp.close_connections()
        for listener in self.listeners:
            listener.close()
        if self.announce:
            log.info("stopped")

    def _api_route(self, route: api.Route) -> Route:
        """A JSON API route (server/api.py) served on the dashboard's listener, which has
        checked the client already (loopback, or the token)."""

        async def handle(request: Request) -> Response:
            status, body = await route(self, {k: [v] for k, v in request.query.items()})
            return json_response(body, status)

        return handle

    async def _explain_lines(self, name: str, rdtype: str) -> list[str]:
        from rootwalk.server.explain import explain

        return (await explain(self, name, rdtype)).lines()

    # -- reload -----------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """SIGHUP: re-read the configuration file, keep the cache; keep running on errors.

        Everything is checked and the blocklists are built before anything changes; one
        reload at a time (a second waits for the first)."""
        if self.config_path is None:
            message = "no configuration file given (--config); nothing to reload"
            log.warning("reload: %s", message)
            return False, message
        source = str(self.config_path)
        async with self._reloading:
            try:
                new = self.overrides(load_config(self.config_path))
                LocalPolicy(new.server, source, Blocklist())  # bad local data: fail early
                logs.check_query_log_file(new.server, source)
                blocklist = await self._load_blocklists(new, source)
                warnings = self.apply(new, blocklist)  # ConfigError: a bad local_data line
            except ConfigError as exc:
                log.error("reload failed, keeping the running configuration: %s", exc)
                return False, str(exc)
            except Exception as exc:  # never let a reload take the server down
                log.error("reload failed, keeping the running configuration: %r", exc)
                return False, repr(exc)
            self._schedule_refresh()
        self._log_hosts()
        message = f"configuration reloaded from {self.config_path}"
        log.info("%s", message)
        # The "needs a restart" warnings go to `rootwalk ctl reload` too, not only the log.
        return True, "\n".join([message, *(f"warning: {w}" for w in warnings)])

    def _log_hosts(self) -> None:
        hosts = self.handler.hosts
        if hosts.path is not None and self.announce:
            log.info("hosts file %s: %d names", hosts.path, len(hosts))

    async def _load_blocklists(
        self, config: Config, source: str, *, force: bool = False
    ) -> Blocklist:
        """The lists built (and URLs downloaded) in a child process; the running ones if
        unchanged. ``force``: download every URL (the refresh timer)."""
        spec = blocklist_spec(config.server, force=force)
        current = self.handler.blocklist
        began = time.monotonic()
        try:
            blocklist = await load(spec, current)
        except LoadError as exc:
            lists = spec.block if exc.key == "server.blocklists" else spec.allow
            path = lists[exc.index] if exc.index < len(lists) else "?"
            raise blocklist_error(source, exc.index, path, exc.reason, exc.key) from None
        if blocklist is not current and spec.block:
            for warning in blocklist.warnings:
                log.warning("blocklists: %s", warning)
            n = blocklist.counts()
            log.info(
                "blocklists: %d names from %d list(s) in %.2f s (%.1f MB); "
                "%d wildcard(s), %d regex(es), %d allowed entries",
                n["names"],
                len(spec.block) + len(spec.allow),
                time.monotonic() - began,
                blocklist.nbytes() / 1e6,
                n["wildcards"],
                n["regexes"],
                n["allowed"],
            )
        return blocklist

    def _schedule_refresh(self) -> None:
        """(Re)start the download timer of the URL lists (after a start or a reload)."""
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        s = self.config.server
        if s.blocklist_refresh > 0 and any(is_url(x) for x in (*s.blocklists, *s.allowlists)):
            self._refresh = asyncio.get_running_loop().create_task(
                self._refresh_lists(s.blocklist_refresh)
            )

    async def _refresh_lists(self, every: float) -> None:
        """Every ``every`` seconds: download the URL lists again and swap in the result. A
        failed download keeps the last good copy (blocklist_fetch.py); a failed load keeps the
        lists in force."""
        source = str(self.config_path or "config")
        while True:
            await asyncio.sleep(every)
            async with self._reloading:
                try:
                    blocklist = await self._load_blocklists(self.config, source, force=True)
                    if blocklist is not self.handler.blocklist:
                        self.handler.configure(self.config, source, blocklist)
                except Exception as exc:  # never let the timer die or take the server down
                    log.error("blocklist refresh failed, keeping the lists in force: %s", exc)
                    continue
            log.info("blocklists refreshed")

    def apply(self, new: Config, blocklist: Blocklist | None = None) -> list[str]:
        """Switch to ``new``; ``blocklist`` is its lists already loaded (None: read them now).
        Returns (and logs) what waits for a restart."""
        old = self.config
        warnings: list[str] = []
        fixed = (
            "listen",
            "freebind",
            "workers",
            "control_socket",
            "metrics_listen",
            "record_walks",
            "dashboard_listen",
            "dashboard_token",
        )
        for key in fixed:
            if getattr(new.server, key) != getattr(old.server, key):
                warnings.append(f"server.{key} applies at the next restart only")
        if new.cache != old.cache:
            warnings.append("changes to [cache] apply at the next restart (the cache is kept)")
        for warning in warnings:
            log.warning("%s", warning)
        # The root hints are read first: a bad path fails the reload before anything changes.
        load_hints(Path(new.resolver.root_hints))
        # Keep what cannot change live, so a later reload compares against what runs.
        new = dataclasses.replace(
            new,
            cache=old.cache,
            server=dataclasses.replace(
                new.server, **{key: getattr(old.server, key) for key in fixed}
            ),
        )
        # First: raises ConfigError (unreadable blocklist...) and then changes nothing.
        self.handler.configure(new, str(self.config_path or "config"), blocklist)
        # [resolver], [limits] and [dnssec] apply live. With validation on, a reload also reads
        # the trust anchor file again (as Unbound does), and what was validated goes when the
        # anchors or negative trust anchors changed (Resolver.reconfigure).
        changed = (new.resolver, new.limits, new.dnssec) != (old.resolver, old.limits, old.dnssec)
        if changed or new.dnssec.enabled:
            self.resolver.reconfigure(new)
        self.config = new
        s = new.server
        self.inflight.limit = s.max_inflight
        self.inflight.jostle = new.limits.jostle_timeout
        # 0 (the system default) cannot be asked for again on a socket: that needs a restart.
        if s.udp_rcvbuf and s.udp_rcvbuf != old.server.udp_rcvbuf:
            for listener in self.listeners:
                _log_rcvbuf(listener, s.udp_rcvbuf, set_udp_rcvbuf(listener.udp, s.udp_rcvbuf))
        self.tcp.idle_timeout = s.tcp_idle_timeout
        self.tcp.max_connections = s.max_tcp_connections
        self.tcp.max_pipeline = s.max_tcp_pipeline
        configure_logging(new, self.verbose)
        return warnings
