"""One explanation of any answer (issue #14), from its three surfaces against a running
``rootwalk serve`` in front of the lab: ``rootwalk ctl explain``, ``GET /api/explain`` on the
metrics listener, and ``NAME.explain.rootwalk.arpa`` TXT; plus the walk log behind them."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.lab import Lab
from rootwalk.resolution import Question, Result, TraceEvent, TraceKind
from rootwalk.server.blocklist import find_entries
from rootwalk.server.walks import WalkLog
from rootwalk.wire.names import from_text

from .conftest import ServeProcess, ask, run_cli, start_server

#: A second loopback address the configuration gives only "allow" (no snooping).
OTHER = "127.0.0.2"


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("explain")
    sock = tmp / "ctl.sock"
    block = tmp / "block.txt"
    block.write_text(
        "# ads\n0.0.0.0 ads.example.com\n||tracker.example.net^\n@@||ok.tracker.example.net^\n"
    )
    hosts = tmp / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.1.2.3 printer.lan printer\n")
    extra = (
        f'control_socket = "{sock}"\nmetrics_listen = "127.0.0.1:0"\n'
        f'blocklists = ["{block}"]\nhosts_file = "{hosts}"\n'
        'local_data = ["nas.home.arpa A 10.0.0.2", "nas.home.arpa TXT \\"the nas\\""]\n'
        f'access_control = ["{OTHER}/32 allow"]\nrecord_walks = 256\n'
    )
    proc = start_server(lab, tmp, extra, listen=["127.0.0.1:0"])
    found = proc.find(r"metrics on http://(\S+)/metrics")
    assert found is not None, proc.stderr
    yield {"proc": proc, "sock": sock, "http": found.group(1), "block": block, "hosts": hosts}
    assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def ctl(served: dict[str, Any], *words: str) -> tuple[int, str, str]:
    p = run_cli(["ctl", "--socket", str(served["sock"]), "explain", *words])
    return p.returncode, p.stdout, p.stderr


def api(served: dict[str, Any], path: str, source: str = "127.0.0.1") -> tuple[int, Any]:
    host, _, port = served["http"].rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def where(served: dict[str, Any]) -> tuple[str, int]:
    proc: ServeProcess = served["proc"]
    return proc.addresses[0]


def test_ctl_explains_a_walk_then_the_cache_entry_it_left(served: dict[str, Any], lab: Lab) -> None:
    rc, out, err = ctl(served, "www.example.org")
    assert rc == 0, err
    first = out.splitlines()[0]
    assert first.startswith("www.example.org. A: NOERROR, resolved now by a walk"), out
    # Hop by hop: the root's referral to org., org.'s to example.org., the glueless lookup of
    # a server's name, and the answer from one of example.org.'s servers.
    assert f"[{lab.server('ns1.nic.org').address}] asked example.org. A" in out
    assert "referral: to org." in out and "glueless example.org." in out
    org_servers = {lab.server(n).address for n in ("ns1.example.net", "ns2.example.net")}
    answered = [line for line in out.splitlines() if "asked www.example.org. A" in line]
    assert answered and any(f"[{a}]" in answered[-1] for a in org_servers), out
    walk_id = int(out.split("walk #", 1)[1].split(" ", 1)[0])

    rc, out, _ = ctl(served, "www.example.org", "A")
    assert rc == 0 and "answered from the cache" in out.splitlines()[0], out
    entry = next(line for line in out.splitlines() if line.startswith("  www.example.org. A:"))
    assert "trust auth_answer" in entry and f"fetched by walk #{walk_id}" in entry, out
    ttl, original = entry.split("TTL ", 1)[1].split(",", 1)[0].split("/")
    assert 0 < int(ttl) <= int(original) == 300


def test_ctl_explains_servfail_with_its_reason_chain(served: dict[str, Any], lab: Lab) -> None:
    rc, out, _ = ctl(served, "www.lame.test")
    assert rc == 0 and "www.lame.test. A: SERVFAIL" in out, out
    assert "EDE 22 (NO_REACHABLE_AUTHORITY): no reachable server for lame.test." in out
    failed = out.split("failed steps:", 1)[1]
    for name in ("ns1.lame.test", "ns2.lame.test"):
        assert f"[{lab.server(name).address}]" in failed and "REFUSED" in failed, out


def test_ctl_explains_blocklist_local_data_and_hosts_lines(served: dict[str, Any]) -> None:
    rc, out, _ = ctl(served, "x.ads.example.com")
    assert rc == 0 and "NXDOMAIN, blocked by a blocklist" in out, out
    assert f"blocklist: server.blocklists[0] {served['block']}:2: 0.0.0.0 ads.example.com" in out
    # An adblock line blocks the names below it too; the line is named as written.
    rc, out, _ = ctl(served, "a.tracker.example.net")
    assert "blocked by a blocklist" in out and ":3: ||tracker.example.net^" in out, out
    rc, out, _ = ctl(served, "nas.home.arpa", "TXT")
    assert "answered from local data" in out
    assert 'local_data: server.local_data[1]: nas.home.arpa TXT "the nas"' in out, out
    rc, out, _ = ctl(served, "printer.lan")
    assert "answered from the hosts file" in out and "10.1.2.3" in out
    assert f"hosts_file: {served['hosts']}:2: 10.1.2.3 printer.lan printer" in out, out
    rc, out, err = ctl(served, "www.example.com", "NOTATYPE")
    assert rc == 1 and "unknown type" in err


def test_api_explain_json_matches_the_lab(served: dict[str, Any], lab: Lab) -> None:
    status, body = api(served, "/api/explain?name=nodata.example.com&type=MX")
    assert status == 200 and body["decided_by"] == "walk" and body["rcode"] == "NOERROR"
    assert "NODATA" in " ".join(body["reasons"])
    zone_servers = {lab.server(n).address for n in ("ns1.example.com", "ns2.example.com")}
    asked = [s for s in body["walk"]["steps"] if s["address"] is not None]
    assert asked[-1]["address"] in zone_servers and asked[-1]["kind"] == "nodata"
    status, body = api(served, f"/api/walks?id={body['walk']['id']}")
    assert status == 200 and body["name"] == "nodata.example.com." and body["type"] == "MX"
    status, again = api(served, "/api/explain?name=nodata.example.com&type=MX")
    assert again["decided_by"] == "cache" and again["cache"][0]["negative"] == "nodata"
    assert again["cache"][0]["walk"] == body["id"]
    assert api(served, "/api/explain?name=x&type=NOPE")[0] == 400
    assert api(served, "/api/explain")[0] == 400


def test_api_refuses_clients_not_allowed_to_snoop(served: dict[str, Any]) -> None:
    status, body = api(served, "/api/explain?name=www.example.com", source=OTHER)
    assert status == 403 and "allow_snoop" in body["error"]
    assert api(served, "/api/walks", source=OTHER)[0] == 403


def _txt(msg: dns.message.Message) -> list[str]:
    lines = [b"".join(rd.strings).decode() for rrset in msg.answer for rd in rrset]
    return [line.split(" ", 1)[1] for line in sorted(lines)]


def test_dig_explain_name_answers_txt_locally(served: dict[str, Any], lab: Lab) -> None:
    at = where(served)
    arpa = lab.server("ns.nic.arpa")
    # The zone's delegation and keys in the cache, whatever ran before in this module: the
    # walk below then takes exactly one query.
    assert ask(at, "www.example.com", "A").rcode() == dns.rcode.NOERROR
    arpa.reset_counters()
    q = dns.message.make_query("mail.example.com._aaaa.explain.rootwalk.arpa", "TXT")
    r = dns.query.tcp(q, at[0], port=at[1], timeout=10)
    lines = _txt(r)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0].ttl == 0
    expected = "mail.example.com. AAAA: NOERROR, resolved now by a walk (1 upstream query)"
    assert lines[0] == expected, lines
    assert any("nodata" in line for line in lines), lines
    # The same explanation as the other surfaces, line for line.
    rc, out, _ = ctl(served, "mail.example.com", "AAAA")
    assert out.splitlines()[0] == "mail.example.com. AAAA: NOERROR, answered from the cache"
    r = ask(at, "www.example.com.explain.rootwalk.arpa", "TXT", tcp=True)
    assert _txt(r)[0].startswith("www.example.com. A: NOERROR")
    # rootwalk.arpa never leaves the machine, whatever is asked there.
    assert ask(at, "other.rootwalk.arpa", "A").rcode() == dns.rcode.NXDOMAIN
    assert not ask(at, "www.example.com.explain.rootwalk.arpa", "A").answer
    assert arpa.count() == 0


def test_dig_explain_refused_to_clients_not_allowed_to_snoop(served: dict[str, Any]) -> None:
    at = where(served)
    q = dns.message.make_query("www.example.com.explain.rootwalk.arpa", "TXT", use_edns=0)
    r = dns.query.udp(q, at[0], port=at[1], timeout=10, source=OTHER)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
    assert r.options and r.options[0].code == 18  # EDE 18, Prohibited (RFC 8914)
    # An ordinary question from the same client is answered: it is allowed to resolve.
    r = dns.query.udp(
        dns.message.make_query("www.example.com", "A"), at[0], port=at[1], source=OTHER, timeout=10
    )
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def test_walk_log_records_one_walk_for_coalesced_clients(served: dict[str, Any], lab: Lab) -> None:
    # Eight clients at once ask a name nobody asked before, while its zone's servers are slow:
    # one resolution serves them all (the walk log's sink did not turn coalescing off), so
    # exactly one walk is recorded for it. (A client late enough to miss it gets a cache hit:
    # no walk either. The zone may see a retry when a loaded machine stretches the delay past
    # the first timeout, so its count only shows that the clients did not walk one each.)
    at = where(served)
    from rootwalk.lab import Faults

    for name in ("ns1.example.com", "ns2.example.com"):
        lab.server(name).faults = Faults(delay=0.15)
    lab.reset_counters()
    answers: list[dns.message.Message] = []
    try:
        threads = [
            threading.Thread(target=lambda: answers.append(ask(at, "c1.example.com", "A")))
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        lab.clear_faults()
    assert len(answers) == 8 and all(a.answer for a in answers)
    zone = [lab.server(n) for n in ("ns1.example.com", "ns2.example.com")]
    assert sum(s.count(name="c1.example.com", qtype="A") for s in zone) <= 2
    status, body = api(served, "/api/walks?limit=1000")
    mine = [w for w in body["walks"] if w["name"] == "c1.example.com." and w["type"] == "A"]
    assert status == 200 and len(mine) == 1 and mine[0]["rcode"] == "NOERROR"


# -- pure logic: the store and the line finder ----------------------------------------------


def _result(rcode: int = 0) -> Result:
    return Result(rcode)


def test_walk_log_is_bounded_and_keeps_the_latest_per_question() -> None:
    log = WalkLog(3)
    seen: list[int] = []
    log.listeners.append(lambda w: seen.append(w.id))
    ev = TraceEvent(0, TraceKind.START, from_text("a.test"), 1)
    for i in range(10):
        q = Question(from_text(f"n{i % 5}.test"), 1)
        log.record(q, 1000.0 + i, 0.01, [ev], _result())
    assert len(log) == 3 and [w.id for w in log.recent()] == [10, 9, 8]
    assert seen == list(range(1, 11))
    # n0.test was walked by #1 and #6: the latest is kept although both left the last 3.
    latest = log.latest(from_text("n0.test"), 1)
    assert latest is not None and latest.id == 6 and log.get(6) is latest
    assert log.get(1) is None
    big = WalkLog(1)
    for i in range(10):
        big.record(Question(from_text(f"m{i}.test"), 1), 0.0, 0.0, [], _result())
    assert big.latest(from_text("m0.test"), 1) is None  # at most 4 x size questions
    assert big.latest(from_text("m9.test"), 1) is not None


def test_find_entries_names_list_and_line(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text(
        "# header\nexample.org\n0.0.0.0 ads.example.com # x\n*.wild.example\n/^re[0-9]+\\./\n"
    )
    b = tmp_path / "allow.txt"
    b.write_text("good.ads.example.com\n")
    lists = [
        ("server.blocklists", 0, str(a), str(a)),
        ("server.allowlists", 0, str(b), str(b)),
    ]
    found = find_entries(lists, "x.ads.example.com", patterns=False)
    assert [(e.line, e.text, e.allows) for e in found] == [
        (3, "0.0.0.0 ads.example.com # x", False)
    ]
    found = find_entries(lists, "good.ads.example.com", patterns=False)
    assert [(e.key, e.line, e.allows) for e in found] == [
        ("server.blocklists", 3, False),
        ("server.allowlists", 1, True),
    ]
    assert [e.line for e in find_entries(lists, "a.wild.example", patterns=True)] == [4]
    assert find_entries(lists, "wild.example", patterns=True) == []  # *. is strictly below
    assert [e.line for e in find_entries(lists, "re42.example.net", patterns=True)] == [5]
    assert find_entries(lists, "re42.example.net", patterns=False) == []
    assert find_entries(lists, "example.com", patterns=True) == []


def test_walks_are_recorded_only_when_asked(lab: Lab) -> None:
    # The resolver records nothing unless given a log (server.record_walks = 0: no cost).
    from rootwalk.config import load_config
    from rootwalk.resolver import Resolver

    config = load_config(lab.config_path)  # the lab's resolver settings and trust anchor

    async def go() -> tuple[int, int]:
        r = Resolver(config)
        await r.resolve(from_text("www.example.com"), 1)
        log = WalkLog(8)
        r.walks = log
        await r.resolve(from_text("www.example.com"), 1)  # a cache hit: no walk
        await r.resolve(from_text("mail.example.com"), 1)
        return len(log), log.recent()[0].upstream_queries

    n, queries = asyncio.run(go())
    assert n == 1 and queries == 1
