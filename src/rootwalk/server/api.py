"""The JSON API over HTTP: ``GET /api/explain`` and ``GET /api/walks``.

Served on ``server.metrics_listen`` beside ``/metrics``; any other HTTP listener of the server
(the dashboard's) serves the same routes by calling ``dispatch`` with the request line, so
that there is one implementation of each.

Access: what these answer tells what others have looked up (the cache, the walks), as RD=0
questions do (cache snooping). So they answer only clients whose address the access control
list gives ``allow_snoop`` (server/acl.py; by default the machine itself, loopback), the
same rule as the ``explain.rootwalk.arpa`` name; others get 403.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rootwalk.server.acl import Action
from rootwalk.server.explain import explain, walk_log

if TYPE_CHECKING:
    from rootwalk.server.app import Server

__all__ = ["ROUTES", "allowed", "dispatch", "http_json"]

Query = dict[str, list[str]]
Route = Callable[["Server", Query], Awaitable[tuple[int, Any]]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}
_WALKS_MAX = 1000


def http_json(status: int, body: Any) -> bytes:
    """A whole HTTP/1.0 response with a JSON body."""
    data = (json.dumps(body, indent=1) + "\n").encode()
    head = (
        f"HTTP/1.0 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


def allowed(server: Server, client: str) -> bool:
    """Whether ``client`` (an address) may read the API: ``allow_snoop`` in the ACL."""
    return server.handler.acl.check(client) is Action.ALLOW_SNOOP


async def _explain(server: Server, query: Query) -> tuple[int, Any]:
    name = query.get("name", [""])[0]
    if not name:
        return 400, {"error": "give ?name=NAME (and &type=TYPE, default A)"}
    try:
        ex = await explain(server, name, query.get("type", ["A"])[0] or "A")
    except ValueError as exc:
        return 400, {"error": str(exc)}
    return 200, ex.to_json()


async def _walks(server: Server, query: Query) -> tuple[int, Any]:
    walks = walk_log(server)
    if walks is None:
        return 404, {"error": "the walk log is off (server.record_walks = 0)"}
    try:
        if "id" in query:
            walk = walks.get(int(query["id"][0]))
            if walk is None:
                return 404, {"error": "no such walk (forgotten, or never recorded)"}
            return 200, walk.to_json()
        limit = min(int(query.get("limit", ["50"])[0]), _WALKS_MAX)
    except ValueError:
        return 400, {"error": "id and limit are numbers"}
    return 200, {"walks": [w.to_json() for w in walks.recent(max(0, limit))]}


#: Path -> handler. A listener that serves the API looks the path up here (``dispatch``).
ROUTES: dict[str, Route] = {"/api/explain": _explain, "/api/walks": _walks}


async def dispatch(server: Server, request_line: bytes, client: str) -> bytes | None:
    """The response to one request line if its path is an API route, else None (the
    listener answers it some other way). ``client``: the peer's address, for ``allowed``."""
    parts = request_line.decode(errors="replace").split()
    if len(parts) < 2:
        return None
    target = urllib.parse.urlsplit(parts[1])
    route = ROUTES.get(target.path)
    if route is None:
        return None
    if parts[0] != "GET":
        return http_json(405, {"error": "only GET"})
    if not allowed(server, client):
        return http_json(
            403,
            {
                "error": "this client may not read the API "
                "(it needs allow_snoop in server.access_control)"
            },
        )
    status, body = await route(server, urllib.parse.parse_qs(target.query))
    return http_json(status, body)
