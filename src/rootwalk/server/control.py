"""The control channel (``rootwalk ctl``) and the Prometheus metrics endpoint.

Control: a Unix socket (``server.control_socket``), one command line per connection, the answer
is ``ok`` or ``error: ...`` on the first line and details after it. File permissions on the
socket are the access control (mode 0600: the user rootwalk runs as, and root).

Commands: ``stats``, ``flush NAME``, ``flush-zone NAME``, ``flush-all``, ``dump-cache``,
``dump-cache FILE``, ``load-cache FILE``, ``reload`` (the cache ones: server/cachectl.py),
``explain NAME [TYPE] [json]`` (server/explain.py).

One server owns a control socket: a second instance configured with the same path refuses to
start (``bind_control``) instead of taking it over, and a server only ever removes the socket
file it created itself (same device and inode), so it cannot remove another's.

Metrics: ``GET /metrics`` on ``server.metrics_listen``, in the Prometheus text format 0.0.4;
the same listener serves the JSON API (server/api.py: ``/api/explain``, ``/api/walks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.name
import dns.rdatatype

from rootwalk.server import cachectl
from rootwalk.server.handler import LATENCY_BUCKETS, LATENCY_LABELS
from rootwalk.wire.convert import rrset_lines
from rootwalk.wire.names import from_dns, to_text

if TYPE_CHECKING:
    from rootwalk.server.app import Server

__all__ = [
    "ControlError",
    "ControlService",
    "ControlSocket",
    "MetricsService",
    "bind_control",
    "http_reply",
    "metrics_text",
    "render_metrics",
    "stats_lines",
    "stats_map",
]

log = logging.getLogger("rootwalk.server")

_MAX_LINE = 1024
_TIMEOUT = 5.0


def stats_map(server: Server) -> dict[str, int]:
    """The handler's counters and a few gauges, by name (``ctl stats`` and /metrics)."""
    r = server.resolver
    gauges = {
        "uptime_seconds": round(time.monotonic() - server.started),
        "cache_entries": len(r.cache),
        "inflight": len(server.inflight),
        "tcp_connections": len(server.tcp.connections),
        "resolutions_started": r.resolutions_started,
        "resolutions_in_progress": r.resolutions_in_progress,
        "resolutions_peak": r.peak_resolutions,
        "resolutions_shed": r.shed_new,
        "resolutions_jostled": r.shed_jostled,
        "upstream_queries": r.iterator.queries_sent,
        "upstream_timeouts": r.iterator.timeouts,
        "prefetches": r.prefetches,
        "prefetches_skipped": r.prefetches_skipped,
        "wire_answers": len(server.handler.wire),
    }
    v = r.validator
    if v is not None:
        # What validation found per response, and NXDOMAIN/NODATA made from cached NSEC.
        for status, n in v.stats.items():
            gauges[f"dnssec_{status}"] = n
        gauges["dnssec_aggressive_answers"] = v.denials.answers
        gauges["dnssec_key_entries"] = len(v.keys)
    return {**gauges, **dict(sorted(server.handler.counters().items()))}


def stats_lines(server: Server) -> list[str]:
    """``key value`` lines: the handler's counters and a few gauges."""
    return [f"{k} {v}" for k, v in stats_map(server).items()]


def metrics_text(server: Server) -> str:
    return render_metrics(stats_map(server))


def render_metrics(stats: Mapping[str, int]) -> str:
    """The Prometheus text of ``stats_map`` values (of one process, or summed over workers)."""
    out: list[str] = []

    def get(key: str) -> int:
        return stats.get(key, 0)

    def family(name: str, kind: str, helptext: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP rootwalk_{name} {helptext}")
        out.append(f"# TYPE rootwalk_{name} {kind}")
        for labels, value in samples:
            out.append(f"rootwalk_{name}{labels} {_number(value)}")

    family(
        "queries_total",
        "counter",
        "Client messages received.",
        [
            ('{transport="udp"}', get("queries_udp")),
            ('{transport="tcp"}', get("queries_tcp")),
        ],
    )
    rcodes = sorted(k[6:] for k in stats if k.startswith("rcode_"))
    family(
        "responses_total",
        "counter",
        "Answers sent, by rcode.",
        [(f'{{rcode="{r}"}}', get(f"rcode_{r}")) for r in rcodes],
    )
    family(
        "cache_results_total",
        "counter",
        "Answers by cache result (hit, miss, stale, local, referral, none: no lookup made).",
        [
            (f'{{result="{k[6:]}"}}', v)
            for k, v in sorted(stats.items())
            if k.startswith("cache_") and k != "cache_entries"  # a gauge, not a result
        ],
    )
    _latency_histogram(stats, out)
    by_type = sorted(
        (k[13:].rpartition("_"), v) for k, v in stats.items() if k.startswith("answers_type_")
    )
    family(
        "answers_by_type_total",
        "counter",
        'Answers sent to questions, by question type and rcode (type "other": one dnspython '
        'does not know; "none": no question).',
        [(f'{{qtype="{q}",rcode="{r}"}}', v) for (q, _, r), v in by_type],
    )
    family(
        "dropped_total",
        "counter",
        "Client messages not answered, by reason.",
        [
            (f'{{reason="{k[8:]}"}}', v)
            for k, v in sorted(stats.items())
            if k.startswith("dropped_")
        ],
    )
    family("truncated_total", "counter", "UDP answers sent with TC=1.", [("", get("truncated"))])
    family(
        "truncated_ratelimit_total",
        "counter",
        "Empty TC=1 answers to clients over server.client_rate_limit.",
        [("", get("truncated_ratelimit"))],
    )
    family(
        "tcp_closed_total",
        "counter",
        "TCP connections closed to make room: idlest evicted, or new rejected (all busy).",
        [
            ('{reason="evicted"}', get("tcp_evicted")),
            ('{reason="rejected"}', get("tcp_rejected")),
        ],
    )
    family(
        "internal_errors_total",
        "counter",
        "Unexpected errors answered with SERVFAIL.",
        [("", get("internal_errors"))],
    )
    family(
        "resolutions_total",
        "counter",
        "Resolutions started by the engine.",
        [("", get("resolutions_started"))],
    )
    family(
        "resolutions_shed_total",
        "counter",
        "Resolutions refused (new) or pushed out (jostled) by limits.max_resolutions.",
        [('{how="new"}', get("resolutions_shed")), ('{how="jostled"}', get("resolutions_jostled"))],
    )
    family(
        "resolutions_in_progress",
        "gauge",
        "Distinct resolutions running.",
        [("", get("resolutions_in_progress"))],
    )
    family(
        "upstream_queries_total",
        "counter",
        "Queries sent upstream.",
        [("", get("upstream_queries"))],
    )
    family(
        "upstream_timeouts_total",
        "counter",
        "Upstream queries that timed out.",
        [("", get("upstream_timeouts"))],
    )
    family(
        "wire_answers",
        "gauge",
        "Rendered answers kept for the cache-hit fast path.",
        [("", get("wire_answers"))],
    )
    family(
        "dnssec_responses_total",
        "counter",
        "Upstream responses validated, by what DNSSEC validation found.",
        [
            (f'{{status="{s}"}}', get(f"dnssec_{s}"))
            for s in ("secure", "insecure", "bogus", "indeterminate")
        ],
    )
    family(
        "dnssec_aggressive_answers_total",
        "counter",
        "Negative answers made from cached, validated NSEC/NSEC3 records (RFC 8198).",
        [("", get("dnssec_aggressive_answers"))],
    )
    family("cache_entries", "gauge", "Entries in the cache.", [("", get("cache_entries"))])
    family("inflight", "gauge", "Questions being answered.", [("", get("inflight"))])
    family("tcp_connections", "gauge", "Open TCP connections.", [("", get("tcp_connections"))])
    family(
        "uptime_seconds",
        "gauge",
        "Seconds since start.",
        [("", get("uptime_seconds"))],
    )
    if "workers" in stats:  # summed over workers by the supervisor (server/workers.py)
        family(
            "workers",
            "gauge",
            "Worker processes whose numbers are summed here.",
            [("", get("workers_answering"))],
        )
    return "\n".join(out) + "\n"


def _number(value: float) -> str:
    """A sample value: integers exactly (``:g`` would print 1234567 as 1.23457e+06)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _latency_histogram(stats: Mapping[str, int], out: list[str]) -> None:
    """``rootwalk_answer_duration_seconds`` from the per-bucket counts of the handler's
    ``latency_<cache>_le_<bound>`` keys (cumulative here, as Prometheus histograms are)."""
    name = "rootwalk_answer_duration_seconds"
    out.append(
        f"# HELP {name} Time from reading a question to its answer, by cache result "
        "(fast-path hits are counted in the first bucket and add nothing to the sum)."
    )
    out.append(f"# TYPE {name} histogram")
    caches = sorted(
        {k[8:].partition("_")[0] for k in stats if k.startswith("latency_")} | {"hit", "miss"}
    )
    for cache in caches:
        total = 0
        for label, bound in zip(LATENCY_LABELS, (*LATENCY_BUCKETS, None), strict=True):
            total += stats.get(f"latency_{cache}_le_{label}", 0)
            le = "+Inf" if bound is None else label
            out.append(f'{name}_bucket{{cache="{cache}",le="{le}"}} {total}')
        micros = stats.get(f"latency_{cache}_sum_us", 0)
        out.append(f'{name}_sum{{cache="{cache}"}} {micros / 1e6:.6f}')
        out.append(f'{name}_count{{cache="{cache}"}} {total}')


def http_reply(request_line: bytes, render: Callable[[], str]) -> bytes:
    """The whole HTTP/1.0 answer to one request line: ``render()`` for GET /metrics, else 404."""
    parts = request_line.decode(errors="replace").split()
    if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
        status, body = "200 OK", render()
        ctype = "text/plain; version=0.0.4; charset=utf-8"
    else:
        status, body, ctype = "404 Not Found", "only /metrics here\n", "text/plain"
    data = body.encode()
    head = (
        f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


class ControlError(Exception):
    """The control socket cannot be had; ``str()`` is the one line to show."""


@dataclass
class ControlSocket:
    """A bound, listening control socket and the identity of the file it created."""

    path: str
    sock: socket.socket
    ident: tuple[int, int]  # (st_dev, st_ino) of the socket file

    def owns_file(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.ident

    def close(self) -> None:
        """Close, and remove the file only if it is still ours (never another server's)."""
        self.sock.close()
        if self.owns_file():
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _owner(path: str) -> int | None:
    """None when nothing answers at ``path`` (a stale socket); else the pid listening there
    (0 when the kernel does not say)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        except OSError:
            return 0  # e.g. no permission: something is there, do not take it over
        with contextlib.suppress(OSError, AttributeError):
            # SO_PEERCRED (Linux): the credentials of the process that called listen().
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return int(struct.unpack("3i", creds)[0])
        return 0


def bind_control(path: str) -> ControlSocket:
    """Create the control socket at ``path`` (mode 0600). ControlError when another server is
    answering there; a stale socket file from an earlier run is replaced."""
    where = f"control socket {path}"
    if os.path.lexists(path):
        if not Path(path).is_socket():
            raise ControlError(
                f"rootwalk: {where}: a file that is not a socket is in the way; remove it or "
                "choose another server.control_socket"
            )
        pid = _owner(path)
        if pid is not None:
            raise ControlError(_in_use(where, pid))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale: its server is gone
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
        sock.listen(16)
        st = os.stat(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:  # another server created it just now
            raise ControlError(_in_use(where, _owner(path) or 0)) from None
        raise ControlError(
            f"rootwalk: cannot create {where}: {exc.strerror or exc}; "
            "choose another server.control_socket"
        ) from None
    finally:
        os.umask(old)
    sock.setblocking(False)
    return ControlSocket(path, sock, (st.st_dev, st.st_ino))


def _in_use(where: str, pid: int) -> str:
    who = f"another rootwalk (pid {pid})" if pid else "another process"
    return (
        f"rootwalk: {where} is in use by {who}; stop it first, or give this one "
        "another server.control_socket"
    )


class ControlService:
    def __init__(self, server: Server, control: ControlSocket) -> None:
        self.server = server
        self.control = control
        self.path = control.path
        self._srv: asyncio.Server | None = None

    async def start(self) -> None:
        self._srv = await asyncio.start_unix_server(self._client, sock=self.control.sock)
        log.info("control socket %s", self.path)

    def close(self) -> None:
        if self._srv is not None:
            self._srv.close()
        self.control.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                line = await reader.readline()
            command = line[:_MAX_LINE].decode(errors="replace").strip()
            cmd, _, rest = command.partition(" ")
            if command.lower() == "reload":  # awaits the blocklists, built aside
                ok, message = await self.server.reload()
                reply = f"ok\n{message}\n" if ok else f"error: {message}\n"
            elif cmd.lower() == "dump-cache" and rest.strip():  # a file: written in a thread
                reply = await cachectl.dump_cache(self.server, rest.strip())
            elif cmd.lower() == "explain":  # may walk: awaited, never blocks the loop
                from rootwalk.server.explain import explain_text

                reply = await explain_text(self.server, rest.split())
            elif cmd.lower() == "load-cache":
                path = rest.strip()
                reply = (
                    await cachectl.load_cache(self.server, path)
                    if path
                    else "error: usage: load-cache FILE\n"
                )
            else:
                reply = self.run(command)
            writer.write(reply.encode())
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("control command failed")
        finally:
            writer.close()

    def run(self, command: str) -> str:
        words = command.split()
        if not words:
            return "error: empty command\n"
        cmd, args = words[0].lower(), words[1:]
        cache = self.server.resolver.cache
        handlers: dict[str, Callable[[], str]] = {
            "stats": lambda: "ok\n" + "\n".join(stats_lines(self.server)) + "\n",
            "flush-all": self._flush_all,
            "dump-cache": lambda: "ok\n" + self._dump(),
        }
        if cmd == "flush":
            if len(args) != 1:
                return "error: usage: flush NAME\n"
            try:
                name = dns.name.from_text(args[0])
            except dns.exception.DNSException as exc:
                return f"error: bad name {args[0]!r}: {exc}\n"
            wire_name = from_dns(name)
            validator = self.server.resolver.validator
            if validator is not None:
                validator.denials.flush(wire_name)
            return f"ok\n{cache.flush(wire_name)} entries removed\n"
        if cmd == "flush-zone":
            if len(args) != 1:
                return "error: usage: flush-zone NAME\n"
            return cachectl.flush_zone(self.server, args[0])
        if cmd not in handlers or args:
            return f"error: unknown command {command!r} (stats, flush NAME, flush-all, ...)\n"
        return handlers[cmd]()

    def _flush_all(self) -> str:
        # Counted before the flush so the operator sees what went (as Unbound's "ok removed
        # N rrsets, M messages..."); the rendered answers are derived and go with the cache.
        resolver = self.server.resolver
        infra = len(resolver.infra)
        wire = len(self.server.handler.wire)
        gone = resolver.cache.flush_all()
        resolver.infra.clear()
        if resolver.validator is not None:
            resolver.validator.flush()
        return (
            f"ok\nremoved {gone.rrsets} rrsets, {gone.negative} negative answers, {wire} "
            f"rendered answers and {infra} server (RTT) entries\n"
        )

    def _dump(self) -> str:
        cache = self.server.resolver.cache
        now = self.server.resolver.clock.now()
        lines = []
        for item in cache.dump(now):
            if item.rrset is not None:
                for line in rrset_lines(item.rrset):
                    parts = line.split(None, 2)
                    lines.append(
                        f"{parts[0]} {item.ttl} {parts[2]} ; {item.trust} {item.security.value}"
                    )
                continue
            kind = (
                "NXDOMAIN"
                if item.trust == "nxdomain"
                else f"NODATA {dns.rdatatype.to_text(dns.rdatatype.RdataType.make(item.rdtype))}"
            )
            lines.append(f"; {to_text(item.name)} {item.ttl} {kind} {item.security.value}")
        return "\n".join(lines) + ("\n" if lines else "")


class MetricsService:
    """A minimal HTTP/1.0 server: ``GET /metrics`` and nothing else."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._srv: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> str:
        self._srv = await asyncio.start_server(self._client, sock=sock)
        host, port = sock.getsockname()[:2]
        name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("metrics on http://%s/metrics", name)
        return name

    def close(self) -> None:
        if self._srv is not None:
            self._srv.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass  # headers: ignored
            from rootwalk.server import api

            peer = writer.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            reply = await api.dispatch(self.server, request, client)
            if reply is None:
                reply = http_reply(request, lambda: metrics_text(self.server))
            writer.write(reply)
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
