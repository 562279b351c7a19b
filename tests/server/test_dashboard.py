"""The dashboard's listener over real sockets: configuration rules, access (token, Host),
the JSON endpoints, the event stream, the resolve box's walk against the lab, and the hook
other parts use to serve routes on the same listener."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.rcode
import pytest

from rootwalk.config import ServerConfig
from rootwalk.lab import Lab, web
from rootwalk.resolver import Resolver
from rootwalk.server.app import Server, bind_dashboard, bind_one
from rootwalk.server.dashboard.http import Request, Response, json_response

from ..engine.conftest import make_config
from .conftest import ServeProcess, ask, dashboard_server, run_cli, start_server

TOKEN = "0123456789abcdef-test"


def http_get(
    base: tuple[str, int], path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request on a plain socket (so that Host and odd requests are ours to choose)."""
    head = {"Host": f"{base[0]}:{base[1]}", **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
    with socket.create_connection(base, timeout=15) as s:
        s.sendall("\r\n".join(lines).encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), hdrs, body


def get_json(base: tuple[str, int], path: str, **kw: Any) -> Any:
    status, _, body = http_get(base, path, **kw)
    assert status == 200, (status, body)
    return json.loads(body)


def stream_ticks(
    base: tuple[str, int], until: Any, timeout: float = 10.0, query: str = ""
) -> list[dict[str, Any]]:
    """Read /api/stream's ``tick`` events until ``until(events)`` is true (or fail)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(base, timeout=timeout) as s:
        s.sendall(f"GET /api/stream{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        buf = b""
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            assert chunk, f"the stream ended; got {buf[:300]!r}"
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                fields = dict(
                    line.split(": ", 1)
                    for line in block.decode().split("\n")
                    if ": " in line and not line.startswith("HTTP/")
                )
                if fields.get("event") == "tick":
                    events.append(json.loads(fields["data"]))
            if events and until(events):
                return events
    raise AssertionError(f"stream: condition not met in {timeout} s; {len(events)} events")


def dashboard_address(proc: ServeProcess) -> tuple[str, int]:
    # Logged before "listening on", which start_server has waited for.
    m = proc.find(r"dashboard on http://(\S+):(\d+)/")
    assert m is not None, proc.stderr
    return m.group(1), int(m.group(2))


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    proc = dashboard_server(lab, tmp_path_factory.mktemp("dash"))
    yield proc
    assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_non_loopback_needs_a_token(tmp_path: Path) -> None:
    """check-config and serve refuse the same configuration with the same one line."""
    conf = tmp_path / "c.toml"
    conf.write_text('[server]\nlisten = ["127.0.0.1:0"]\ndashboard_listen = "0.0.0.0:0"\n')
    checked = run_cli(["check-config", str(conf)])
    served = run_cli(["serve", "--config", str(conf)])
    for p in (checked, served):
        assert p.returncode == 2
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert "'server.dashboard_listen' '0.0.0.0:0' is not a loopback address" in lines[0]
        assert "server.dashboard_token" in lines[0]
    assert checked.stderr == served.stderr
    conf.write_text(
        '[server]\nlisten = ["127.0.0.1:0"]\ndashboard_listen = "0.0.0.0:0"\n'
        'dashboard_token = "short"\n'
    )
    p = run_cli(["check-config", str(conf)])
    assert p.returncode == 2 and "at least 16" in p.stderr
    conf.write_text(
        f'[server]\nlisten = ["127.0.0.1:0"]\ndashboard_listen = "0.0.0.0:0"\n'
        f'dashboard_token = "{TOKEN}"\n'
    )
    assert run_cli(["check-config", str(conf)]).returncode == 0


def test_page_and_access_rules(served: ServeProcess) -> None:
    base = dashboard_address(served)
    status, headers, body = http_get(base, "/")
    assert status == 200 and b"<title>rootwalk dashboard</title>" in body
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    for path in ("/dashboard.js", "/dashboard.css"):
        assert http_get(base, path)[0] == 200
    # DNS rebinding: a page elsewhere reaching 127.0.0.1 under its own name is refused.
    assert http_get(base, "/api/summary", {"Host": f"rebind.attacker.example:{base[1]}"})[0] == 403
    assert http_get(base, "/api/summary", {"Host": f"localhost:{base[1]}"})[0] == 200
    assert http_get(base, "/api/summary", method="POST")[0] == 405
    assert http_get(base, "/api/nothing")[0] == 404
    assert http_get(base, "/api/top?window=abc")[0] == 400
    with socket.create_connection(base, timeout=10) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_counters_tops_tail_and_stream(lab: Lab, served: ServeProcess) -> None:
    base = dashboard_address(served)
    dns_at = served.addresses[0]
    before = get_json(base, "/api/summary")
    seen_ids: set[int] = set()

    def send() -> None:
        for _ in range(3):
            assert ask(dns_at, "www.example.com").rcode() == dns.rcode.NOERROR
        assert ask(dns_at, "ads.example.com").rcode() == dns.rcode.NXDOMAIN  # blocked

    sent = False

    def tail_has_ours(events: list[dict[str, Any]]) -> bool:
        nonlocal sent
        if not sent:  # send once the stream is open: the tail is kept only while one is
            send()
            sent = True
        rows = [r for e in events for r in e["tail"]]
        seen_ids.update(r["id"] for r in rows)
        names = {(r["name"], r["how"]) for r in rows}
        return ("ads.example.com.", "blocked") in names and ("www.example.com.", "cache") in names

    events = stream_ticks(base, tail_has_ours)
    summary = events[-1]["summary"]
    assert summary["queries"] >= before.get("queries", 0) + 4
    assert summary["blocked"] >= 1
    assert summary["rcodes"]["NXDOMAIN"] >= 1 and summary["types"]["A"] >= 4
    assert summary["latency"]["hit"]["p50"] is not None
    top = get_json(base, "/api/top?window=60&n=5")
    names = {i["key"]: i["count"] for i in top["names"]["items"]}
    assert names["www.example.com."] >= 3
    assert {i["key"] for i in top["clients"]["items"]} == {"127.0.0.1"}
    assert [i["key"] for i in top["blocked"]["items"]] == ["ads.example.com."]
    tail = get_json(base, "/api/tail")["rows"]
    assert seen_ids <= {r["id"] for r in tail}
    history = get_json(base, "/api/history")
    assert sum(p["queries"] for p in history["second"]) >= 4
    upstreams = get_json(base, "/api/upstreams")["servers"]
    root = lab.server("a.root-servers.net")
    rows = {r["address"]: r for r in upstreams}
    assert any(a in rows for a in (root.address, lab.server("b.root-servers.net").address))
    servers = [lab.server(n) for n in ("ns1.example.com", "ns2.example.com")]
    ex = [rows[s.address] for s in servers if s.address in rows]
    assert ex, upstreams
    assert ex[0]["zone"] == "example.com."
    assert ex[0]["server"] in ("ns1.example.com.", "ns2.example.com.")
    assert ex[0]["srtt_ms"] is not None and ex[0]["backed_off"] is False


def test_resolve_box_walk_matches_the_lab(lab: Lab, served: ServeProcess) -> None:
    base = dashboard_address(served)
    walk = get_json(base, "/api/resolve?name=www.eng.example.com&type=A")
    assert walk["rcode"] == "NOERROR" and walk["answer"]
    asked = [h for h in walk["hops"] if h["asked"]]
    assert asked, walk
    for hop in asked:
        srv = lab.server(hop["address"])  # every address asked is a lab server...
        assert hop["server"] == srv.name  # ...with the name the walk drew for it
        assert srv.serves(dns.name.from_text(hop["zone"]))  # ...asked for a zone it serves
    assert asked[-1]["zone"] == "eng.example.com." and asked[-1]["kind"] == "answer"
    # What validation found of each response: the unsigned child's answer is insecure (its
    # parent proves it has no DS), the signed zones' keys on the way are secure.
    assert asked[-1]["dnssec"] == "insecure", asked[-1]
    links = [h["detail"] for h in walk["hops"] if h["kind"] == "dnssec"]
    assert any("eng.example.com" in d and "unsigned delegation" in d for d in links), links
    # A signed zone's answer (a NODATA no other test asks for) is secure.
    signed = get_json(base, "/api/resolve?name=mail.example.com&type=MX")
    assert [h["dnssec"] for h in signed["hops"] if h["asked"]][-1] == "secure", signed
    # A second walk for the same name is answered by the cache: no server asked.
    again = get_json(base, "/api/resolve?name=www.eng.example.com&type=A")
    assert again["from_cache"] and not [h for h in again["hops"] if h["asked"]]
    assert [h["kind"] for h in again["hops"]] == ["cache"]
    assert http_get(base, "/api/resolve?name=&type=A")[0] == 400
    assert http_get(base, "/api/resolve?name=x.example&type=NOTATYPE")[0] == 400


def test_token(lab: Lab, tmp_path: Path) -> None:
    proc = start_server(
        lab,
        tmp_path,
        f'dashboard_listen = "127.0.0.1:0"\ndashboard_token = "{TOKEN}"\n',
        listen=["127.0.0.1:0"],
    )
    try:
        base = dashboard_address(proc)
        assert http_get(base, "/")[0] == 401
        assert http_get(base, "/api/summary?token=wrong-but-long-enough")[0] == 401
        assert http_get(base, f"/?token={TOKEN}")[0] == 200
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert http_get(base, "/api/summary", auth)[0] == 200
        # With a token, the Host header does not matter (other machines use a name).
        auth["Host"] = "resolver.home.arpa"
        assert http_get(base, "/api/summary", auth)[0] == 200
    finally:
        assert proc.stop() == 0


async def test_extra_routes_are_served(lab: Lab) -> None:
    """Server.http_routes: what another part registers answers on the dashboard listener
    (GET /api/explain, once it exists)."""
    config = make_config(lab)
    config = dataclasses.replace(
        config,
        server=ServerConfig(listen=("127.0.0.1:0",), dashboard_listen="127.0.0.1:0"),
    )
    sock = bind_dashboard(config)
    assert sock is not None
    srv = Server(
        config,
        [bind_one("127.0.0.1", 0)],
        resolver=Resolver(config),
        announce=False,
        dashboard_sock=sock,
    )
    asked: list[Request] = []

    async def explain(request: Request) -> Response:
        asked.append(request)
        return json_response({"name": request.query["name"], "hops": []})

    srv.http_routes["/api/explain"] = explain
    await srv.start()
    try:
        base = sock.getsockname()[:2]
        status, _, body = await asyncio.to_thread(
            http_get, base, "/api/explain?name=www.example.com&type=A"
        )
        assert status == 200 and json.loads(body)["name"] == "www.example.com"
        assert asked[0].query == {"name": "www.example.com", "type": "A"}
        assert srv.handler.tap is not None  # the feed is attached while the dashboard runs
    finally:
        await srv.shutdown()
    assert srv.handler.tap is None


def test_browse_fetches_the_page_at_a_loopback_answer(lab: Lab, served: ServeProcess) -> None:
    """Steps 8 and 9 of the seed documents: the lab's web.example.com resolves to a loopback
    address where the lab runs a web server; the dashboard fetches its page and title. Only
    loopback addresses are opened (no reaching into other networks through the dashboard)."""
    base = dashboard_address(served)
    assert lab.web is not None
    walk = get_json(base, "/api/resolve?name=web.example.com&type=A")
    assert any(line.endswith(lab.web.address) for line in walk["answer"]), walk["answer"]
    before = lab.web.requests
    page = get_json(
        base, f"/api/browse?address={lab.web.address}&port={lab.port}&host=web.example.com"
    )
    assert page["status"].startswith("HTTP/1.0 200") and page["title"] == web.TITLE
    assert lab.web.requests == before + 1
    for query in (
        f"address=192.0.2.1&port={lab.port}",  # not this machine
        f"address=example.com&port={lab.port}",  # not an address
        f"address={lab.web.address}&port=0",
        f"address={lab.web.address}&port=http",
    ):
        assert http_get(base, f"/api/browse?{query}")[0] == 400, query
    assert lab.web.requests == before + 1
