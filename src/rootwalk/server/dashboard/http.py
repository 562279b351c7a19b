"""The dashboard's HTTP listener (``server.dashboard_listen``): the page, its JSON, and SSE.

A deliberately small HTTP/1.1 server on asyncio streams: one request per connection
(``Connection: close``), request line and headers bounded (8 KiB, 5 s), GET only. The page is
static (static/ in this package, no build step); it reads JSON from /api/... and a stream of
server-sent events (/api/stream, the WHATWG HTML "Server-sent events" text/event-stream
format) with one ``tick`` event a second.

Access, as the control socket and /metrics: the listener is meant for loopback. On a
non-loopback address the configuration requires ``server.dashboard_token`` (config.py), and
when a token is set every request must carry it (``?token=`` or ``Authorization: Bearer``),
compared in constant time. Without a token, requests must name the server by an IP address or
``localhost`` in their Host header: a web page elsewhere cannot then read the dashboard through
DNS rebinding (a hostile name re-pointed at 127.0.0.1 arrives with that name as its Host).

Other parts register JSON routes in ``routes`` (``Server.http_routes``): the explanation of an
answer (``GET /api/explain``) is served here too once it exists; the page shows "no walk
recorded" while the route is absent (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

from rootwalk.resolution import TraceEvent
from rootwalk.server.dashboard.browse import fetch_title, is_loopback
from rootwalk.server.dashboard.feed import WINDOWS, Feed
from rootwalk.server.dashboard.walk import walk_json
from rootwalk.wire.convert import rrset_lines
from rootwalk.wire.names import from_dns, to_text

if TYPE_CHECKING:
    from rootwalk.server.app import Server

__all__ = ["DashboardService", "Request", "Response", "Route", "json_response"]

log = logging.getLogger("rootwalk.server")

_HEAD_MAX = 8192
_HEADERS_MAX = 64
_READ_TIMEOUT = 5.0
_MAX_CONNECTIONS = 64
_MAX_STREAMS = 16
# Events a slow page may have waiting before it is dropped (it reconnects: EventSource does).
_STREAM_QUEUE = 30
_MAX_RESOLVES = 2
_TICK = 1.0
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
_SECURITY = (
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cache-Control: no-store\r\n"
)
_REASON = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    peer: Any = None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Awaitable[Response]]


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":")).encode())


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def render(resp: Response) -> bytes:
    head = (
        f"HTTP/1.1 {resp.status} {_REASON.get(resp.status, 'Error')}\r\n"
        f"Content-Type: {resp.content_type}\r\nContent-Length: {len(resp.body)}\r\n"
        f"Connection: close\r\n{_SECURITY}"
        + "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
        + "\r\n"
    )
    return head.encode() + resp.body


def _host_is_literal(host: str) -> bool:
    """Whether a Host header names the server by address (or localhost), not by a DNS name."""
    host = host.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class DashboardService:
    def __init__(self, server: Server, token: str = "") -> None:
        self.server = server
        self.token = token.encode()
        self.routes: dict[str, Route] = server.http_routes
        self.feed = Feed(server.handler, lambda: _stats(server))
        self._srv: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._streams: set[asyncio.Queue[bytes | None]] = set()
        self._connections = 0
        self._resolving = 0
        self._static: dict[str, bytes] = {}
        self.name = ""

    async def start(self, sock: Any) -> str:
        pkg = resources.files("rootwalk.server.dashboard") / "static"
        for path, (file, _ctype) in _STATIC.items():
            self._static[path] = (pkg / file).read_bytes()
        self.feed.attach()
        self._srv = await asyncio.start_server(self._client, sock=sock)
        host, port = sock.getsockname()[:2]
        self.name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())
        log.info("dashboard on http://%s/", self.name)
        return self.name

    def close(self) -> None:
        self.feed.detach()
        if self._ticker is not None:
            self._ticker.cancel()
        for queue in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._srv is not None:
            self._srv.close()

    # -- the once-a-second tick ---------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:  # until close() cancels it; one tick a second
            next_at += _TICK
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                self.tick()
            except Exception:  # the dashboard must never take the server down
                log.exception("dashboard tick failed")

    def tick(self) -> None:
        self.feed.subscribers = len(self._streams)
        point, rows = self.feed.tick()
        if not self._streams:
            return
        data = json.dumps(
            {"point": point, "summary": self.feed.latest, "tail": rows}, separators=(",", ":")
        )
        event = f"event: tick\ndata: {data}\n\n".encode()
        for queue in list(self._streams):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a page that stopped reading: end its stream
                self._streams.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    # -- requests ---------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connections >= _MAX_CONNECTIONS:
            writer.close()
            return
        self._connections += 1
        try:
            try:
                async with asyncio.timeout(_READ_TIMEOUT):
                    request = await self._read(reader, writer.get_extra_info("peername"))
            except (TimeoutError, ValueError, asyncio.LimitOverrunError):
                writer.write(render(_error(400, "bad request")))
                await writer.drain()
                return
            if request is None:
                return
            denied = self._check(request)
            if denied is not None:
                writer.write(render(denied))
            elif request.path == "/api/stream":
                await self._stream(writer)
                return
            else:
                writer.write(render(await self._dispatch(request)))
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("dashboard request failed")
        finally:
            self._connections -= 1
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, peer: Any) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        size = len(line)
        headers: dict[str, str] = {}
        for _ in range(_HEADERS_MAX + 1):
            raw = await reader.readline()
            size += len(raw)
            if size > _HEAD_MAX:
                raise ValueError("request head too large")
            if not raw.strip():
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("too many headers")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ValueError("bad request line")
        url = urlsplit(parts[1])
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        return Request(parts[0].upper(), url.path or "/", query, headers, peer)

    def _check(self, request: Request) -> Response | None:
        if self.token:
            given = request.query.get("token", "")
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), self.token):
                return _error(401, "a token is required: open the page as /?token=...")
            return None
        if not _host_is_literal(request.headers.get("host", "")):
            return _error(403, "open the dashboard by address (http://127.0.0.1:PORT/)")
        return None

    async def _dispatch(self, request: Request) -> Response:
        if request.method != "GET":
            return _error(405, "only GET")
        path = request.path
        if path in _STATIC:
            file, ctype = _STATIC[path]
            return Response(200, self._static[path], ctype)
        extra = self.routes.get(path)
        if extra is not None:
            return await extra(request)
        feed = self.feed
        if path == "/api/summary":
            return json_response(feed.latest or {"t": time.time()})
        if path == "/api/history":
            return json_response(feed.history())
        if path == "/api/top":
            try:
                window = float(request.query.get("window", "300"))
                n = int(request.query.get("n", "20"))
            except ValueError:
                return _error(400, "window and n are numbers")
            window = min(WINDOWS, key=lambda w: abs(w - window))
            return json_response(feed.top(window, max(1, min(n, 100))))
        if path == "/api/tail":
            return json_response({"rows": list(feed.tail)})
        if path == "/api/upstreams":
            return json_response({"servers": upstreams(self.server)})
        if path == "/api/resolve":
            return await self._resolve(request)
        if path == "/api/browse":
            return await self._browse(request)
        return _error(404, f"nothing at {path}")

    async def _browse(self, request: Request) -> Response:
        """Steps 8 and 9 for an answer on this machine: GET / from ADDRESS:PORT (loopback
        only, see browse.py), the status line and the page's title."""
        address = request.query.get("address", "").strip()
        host = request.query.get("host", "").strip().rstrip(".")
        try:
            port = int(request.query.get("port", "80"))
            dns.name.from_text(host or "x")
        except (ValueError, dns.exception.DNSException):
            return _error(400, "port is a number, host a name")
        if not is_loopback(address) or not 1 <= port <= 65535:
            return _error(400, "only a loopback address (this machine, as the lab's) is opened")
        started = time.monotonic()
        try:
            status, title = await fetch_title(address, port, host or address)
        except (OSError, TimeoutError) as exc:
            return _error(502, f"no page from {address}:{port}: {exc or 'timed out'}")
        ms = round((time.monotonic() - started) * 1000, 2)
        return json_response({"status": status, "title": title, "ms": ms})

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        if len(self._streams) >= _MAX_STREAMS:
            writer.write(render(_error(503, "too many pages streaming")))
            await writer.drain()
            return
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(_STREAM_QUEUE)
        self._streams.add(queue)
        self.feed.subscribers = len(self._streams)
        try:
            writer.write(
                (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    f"Connection: close\r\n{_SECURITY}\r\n"
                    # The HTML standard's reconnection time, and a first event at once.
                    "retry: 2000\n\n"
                ).encode()
            )
            if self.feed.latest:
                data = json.dumps({"point": None, "summary": self.feed.latest, "tail": []})
                writer.write(f"event: tick\ndata: {data}\n\n".encode())
            await writer.drain()
            while True:  # until the page goes (write fails) or the server closes (None)
                event = await queue.get()
                if event is None:
                    return
                writer.write(event)
                await writer.drain()
        finally:
            self._streams.discard(queue)
            self.feed.subscribers = len(self._streams)

    async def _resolve(self, request: Request) -> Response:
        """The resolve box: one traced walk (never coalesced with other questions:
        Resolver.resolve runs a traced question on its own)."""
        text = request.query.get("name", "").strip()
        try:
            name = dns.name.from_text(text)
            rdtype = dns.rdatatype.from_text(request.query.get("type", "A").strip() or "A")
        except (dns.exception.DNSException, ValueError) as exc:
            return _error(400, f"bad question: {exc}")
        if not text:
            return _error(400, "bad question: no name")
        if self._resolving >= _MAX_RESOLVES:
            return _error(429, "a walk is already running; try again in a moment")
        events: list[TraceEvent] = []
        resolver = self.server.resolver
        self._resolving += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(resolver.config.limits.total_timeout + 5.0):
                result = await resolver.resolve(from_dns(name), rdtype, trace=events.append)
        except TimeoutError:
            return _error(503, "the walk took too long")
        finally:
            self._resolving -= 1
        elapsed = time.monotonic() - started
        return json_response(
            {
                "name": to_text(from_dns(name)),
                "type": dns.rdatatype.to_text(rdtype),
                "rcode": dns.rcode.to_text(dns.rcode.Rcode.make(result.rcode)),
                "elapsed_ms": round(elapsed * 1000, 2),
                "from_cache": result.from_cache,
                "stale": result.stale,
                "answer": [line for r in result.answer for line in rrset_lines(r)],
                "authority": [line for r in result.authority for line in rrset_lines(r)],
                "ede": [{"code": c, "text": t} for c, t in result.ede],
                "hops": walk_json(events),
                "resolver": self.name,
            }
        )


def _stats(server: Server) -> dict[str, int]:
    from rootwalk.server.control import stats_map

    return stats_map(server)


def upstreams(server: Server, limit: int = 500) -> list[dict[str, Any]]:
    """The resolver's own selection state: every server in the infrastructure cache."""
    resolver = server.resolver
    now = resolver.clock.monotonic()
    chosen = resolver.selector.chosen_for
    rows = []
    for address, s in resolver.infra.items()[:limit]:
        ns, zone = chosen.get(address, (None, None))
        rows.append(
            {
                "address": address,
                "server": to_text(ns) if ns is not None else None,
                "zone": to_text(zone) if zone is not None else None,
                "srtt_ms": round(s.srtt * 1000, 2) if s.srtt is not None else None,
                "rttvar_ms": round(s.rttvar * 1000, 2),
                "timeouts": s.timeouts,
                "backed_off": s.backoff_until > now,
                "backoff_left": round(max(0.0, s.backoff_until - now), 1),
                "lame_for": sorted(to_text(z) for z, until in s.lame_for.items() if until > now),
                "broken": s.broken_until > now,
                "no_edns": s.no_edns,
            }
        )
    rows.sort(key=lambda r: (r["zone"] or "~", r["address"]))
    return rows
