"""Blocklists from URLs (refreshed, last good copy kept across failures and restarts),
allowlists, and wildcard, regex and adblock entries (issue #13).

The "URL" is always a local HTTP server the test starts on 127.0.0.1 (``ListServer``)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from rootwalk.lab import Lab
from rootwalk.server.blocklist import Blocklist, Entries, parse_list

from .conftest import ask, run_cli, start_server
from .test_blocklist import BIG, MAX_STALL, ede, write_hosts


class ListServer:
    """An HTTP server on 127.0.0.1 serving one list at ``url``; the body and status can be
    changed while it runs, and it can be stopped (connection refused)."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests += 1
                body = outer.body if outer.status == 200 else b"server error\n"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lists/ads.txt"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)


@pytest.fixture
def list_server() -> Iterator[ListServer]:
    server = ListServer()
    yield server
    server.stop()


def blocked(r: dns.message.Message) -> bool:
    return r.rcode() == dns.rcode.NXDOMAIN and ede(r) == [15]


def answered(where: tuple[str, int], name: str) -> str:
    """The address a not-blocked name resolves to (the lab: *.wild.example.com is 192.0.2.99)."""
    r = ask(where, name, use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    return str(r.answer[-1][0].address)


def labels(name: str) -> tuple[bytes, ...]:
    return (*(x.encode() for x in name.split(".")), b"")


# -- parsing and matching (pure logic) -------------------------------------------------------


def test_parse_list_syntaxes() -> None:
    block, allow = Entries(), Entries()
    parse_list(
        "! adblock comment\n[Adblock Plus 2.0]\n||ads.example.com^\n||imp.example^$important\n"
        "||third.example^$third-party\n@@||good.ads.example.com^\n*.wild.example\n"
        "(^|\\.)doubleclick\\.net$\n/^ad[0-9]+\\./\n||x*.glob.example^\nsite.example##.banner\n"
        "0.0.0.0 Hosts.Example # comment\nplain.example\nbad(regex\n||example.net/path^\n"
        "^ads\\.;querytype=AAAA\n",
        block,
        allow,
    )
    assert block.names == {"ads.example.com", "imp.example", "hosts.example", "plain.example"}
    assert block.wild == {"wild.example"}
    assert list(block.regex) == [
        "(^|\\.)doubleclick\\.net$",
        "^ad[0-9]+\\.",
        "(^|\\.)x.*\\.glob\\.example$",
    ]
    assert block.invalid == 1  # bad(regex
    assert allow.names == {"good.ads.example.com"}


def test_blocks_exact_wildcard_regex_and_allow() -> None:
    block, allow = Entries(), Entries()
    parse_list(
        "ads.example.com\n*.wild.example\n(^|\\.)doubleclick\\.net$\n/^ad[0-9]+\\./\n"
        "@@||good.ads.example.com^\n",
        block,
        allow,
    )
    parse_list("^ad7\\.\n*.ok.wild.example\n", allow, allow)
    b = Blocklist.from_bytes(Blocklist.from_entries(block, allow).to_bytes())
    b.compile_now()
    assert b.counts() == {"names": 1, "wildcards": 1, "regexes": 2, "allowed": 3}
    yes = ["ads.example.com", "x.ads.example.com", "a.wild.example", "doubleclick.net"]
    yes += ["x.doubleclick.net", "ad12.example", "a.b.wild.example", "ok.wild.example"]
    no = ["example.com", "wild.example", "notdoubleclick.net", "good.ads.example.com"]
    no += ["x.good.ads.example.com", "ad7.example", "a.ok.wild.example", "bad.example"]
    assert [n for n in yes if not b.blocks(labels(n))] == []
    assert [n for n in no if b.blocks(labels(n))] == []
    # A regex cannot say how deep it matched: inside a transparent zone (keep > 1) only the
    # exact and wildcard entries below the zone count.
    assert not b.blocks(labels("doubleclick.net"), keep=2)
    assert b.blocks(labels("a.wild.example"), keep=2)  # zone "example": the entry is below it
    assert not b.blocks(labels("x.a.wild.example"), keep=3)  # zone "wild.example": at it


def test_many_regexes_are_compiled_in_chunks() -> None:
    block = Entries()
    parse_list("".join(f"^r{i}x\\.\n" for i in range(1000)) + "(a)\\1\n", block, Entries())
    b = Blocklist.from_entries(block, Entries())
    b.compile_now()
    # 1000 combinable patterns in chunks of 64, and the back-reference one on its own.
    assert len(b.block.regex) == 16 + 1
    assert b.blocks(labels("r999x.example")) and b.blocks(labels("aa.example"))
    assert not b.blocks(labels("r1000x.example")) and not b.blocks(labels("ab.example"))


# -- over real sockets ------------------------------------------------------------------------


def url_config(server: ListServer, cache: Path, refresh: float, extra: str = "") -> str:
    return (
        f'blocklists = ["{server.url}"]\nblocklist_cache = "{cache}"\n'
        f"blocklist_refresh = {refresh}\n{extra}"
    )


def test_url_list_refresh_failure_and_restart(
    lab: Lab, tmp_path: Path, list_server: ListServer
) -> None:
    cache = tmp_path / "cache"
    list_server.body = b"||a.wild.example.com^\n"
    extra = url_config(list_server, cache, 0.5)
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        assert proc.find(r"blocklists: 1 names from 1 list") is not None, proc.stderr
        assert blocked(ask(where, "a.wild.example.com", use_edns=0))
        assert blocked(ask(where, "x.a.wild.example.com", use_edns=0))
        assert answered(where, "b.wild.example.com") == "192.0.2.99"

        # The refresh timer downloads the list again: the changed list is in force.
        list_server.body = b"0.0.0.0 b.wild.example.com\nc.wild.example.com\n"
        proc.wait_for(r"blocklists: 2 names from 1 list")
        assert blocked(ask(where, "b.wild.example.com", use_edns=0))
        assert answered(where, "a.wild.example.com") == "192.0.2.99"

        # A failed download keeps the last good copy...
        list_server.status = 500
        proc.wait_for(r"cannot download: HTTP status 500 .*keeping the copy of")
        proc.wait_for(r"blocklists: 2 names from 1 list")
        assert blocked(ask(where, "b.wild.example.com", use_edns=0))
        # ... and so does a list server that is gone.
        list_server.stop()
        proc.wait_for(r"cannot download: .*[Cc]onnection refused.*keeping the copy of")
        assert blocked(ask(where, "c.wild.example.com", use_edns=0))
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no leftovers

    # A restart with the list server down blocks from the copy kept on disk.
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        assert proc.find(r"blocklists: 2 names from 1 list") is not None, proc.stderr
        assert blocked(ask(where, "b.wild.example.com", use_edns=0))
        assert answered(where, "a.wild.example.com") == "192.0.2.99"
    finally:
        assert proc.stop() == 0, proc.stderr


def test_url_never_downloaded_starts_with_a_warning(lab: Lab, tmp_path: Path) -> None:
    dead = ListServer()
    dead.stop()  # a port nobody listens on any more: connection refused
    extra = url_config(dead, tmp_path / "cache", 0)
    conf = tmp_path / "check.toml"
    conf.write_text(f"[server]\n{extra}")
    r = run_cli(["check-config", str(conf)])  # never downloads: a dead list server is fine
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        assert proc.find(r"cannot download: .*no copy yet") is not None, proc.stderr
        assert answered(proc.addresses[0], "a.wild.example.com") == "192.0.2.99"
    finally:
        assert proc.stop() == 0, proc.stderr


def test_allowlist_wildcard_regex_and_adblock_over_sockets(
    lab: Lab, tmp_path: Path, list_server: ListServer
) -> None:
    block = tmp_path / "block.txt"
    block.write_text(
        "! an AdGuard list\n"
        "||blocked.wild.example.com^\n"
        "*.star.wild.example.com\n"
        "@@||ok.star.wild.example.com^\n"
        "(^|\\.)re[0-9]+\\.wild\\.example\\.com$\n"
        "/^ad-.*\\.wild\\.example\\.com$/\n"
        "0.0.0.0 example.org\n"
    )
    list_server.body = b"||keep.blocked.wild.example.com^\n^re7\\.\nwww.example.org\n"
    extra = (
        f'blocklists = ["{block}"]\nallowlists = ["{list_server.url}"]\n'
        f'blocklist_cache = "{tmp_path / "cache"}"\n'
    )
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        loaded = proc.find(r"blocklists: .* 1 wildcard\(s\), 2 regex\(es\), 4 allowed entries")
        assert loaded is not None, proc.stderr
        for name in [
            "blocked.wild.example.com",
            "x.blocked.wild.example.com",
            "x.star.wild.example.com",
            "re12.wild.example.com",
            "x.re8.wild.example.com",
            "ad-server.wild.example.com",
            "mail.example.org",
        ]:
            assert blocked(ask(where, name, use_edns=0)), name
        for name in [
            "keep.blocked.wild.example.com",  # allowlist, adblock syntax
            "star.wild.example.com",  # *.name: only the names below it
            "ok.star.wild.example.com",  # @@ exception in the blocklist
            "rex.wild.example.com",
            "re7.wild.example.com",  # allowlist regex
            "bad-server.wild.example.com",
        ]:
            assert answered(where, name) == "192.0.2.99", name
        assert answered(where, "www.example.org") == "192.0.2.50"  # allowlist, plain name
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('blocklists = ["ftp://127.0.0.1/list"]\n', "server.blocklists[0]"),
        ('allowlists = ["http://"]\n', "server.allowlists[0]"),
        ('allowlists = ["/nonexistent/allow"]\n', "server.allowlists[0]"),
        ("blocklist_refresh = -1\n", "server.blocklist_refresh"),
    ],
)
def test_bad_list_settings_fail_with_one_line(tmp_path: Path, extra: str, key: str) -> None:
    conf = tmp_path / "r.toml"
    conf.write_text(f'[server]\nlisten = ["127.0.0.1:0"]\n{extra}')
    for command in (["check-config", str(conf)], ["serve", "--config", str(conf)]):
        r = run_cli(command)
        assert r.returncode == 2, r
        assert r.stderr.startswith(f"rootwalk: {conf}: '{key}' "), r.stderr
        assert r.stderr.count("\n") == 1


def test_big_url_list_refresh_while_answering(
    lab: Lab, tmp_path: Path, list_server: ListServer
) -> None:
    hosts = tmp_path / "big.hosts"
    write_hosts(hosts, BIG)
    list_server.body = hosts.read_bytes()
    extra = url_config(list_server, tmp_path / "cache", 0.5)
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        assert proc.find(rf"blocklists: {BIG} names from 1 list") is not None, proc.stderr
        assert answered(where, "www.example.org") == "192.0.2.50"  # now cached
        write_hosts(hosts, BIG, extra="0.0.0.0 www.example.com\n")
        list_server.body = hosts.read_bytes()
        worst, during = 0.0, 0
        deadline = time.monotonic() + 60
        while proc.find(rf"blocklists: {BIG + 1} names") is None:
            assert time.monotonic() < deadline, proc.stderr
            began = time.monotonic()
            assert answered(where, "www.example.org") == "192.0.2.50"
            worst = max(worst, time.monotonic() - began)
            during += 1
        assert worst < MAX_STALL, f"a cached name took {worst * 1000:.0f} ms during a refresh"
        assert during >= 5, during
        assert blocked(ask(where, "www.example.com", use_edns=0))
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_regex_results_are_remembered_within_a_bound() -> None:
    block = Entries()
    parse_list("^ad[0-9]+\\.\n", block, Entries())
    b = Blocklist.from_entries(block, Entries())
    b.compile_now()
    memo = b.block.memo
    for i in range(40_000):
        assert b.blocks(labels(f"ad{i}.example")) and not b.blocks(labels(f"x{i}.example"))
        assert len(memo) <= 16_384
    assert b.blocks(labels("ad39999.example"))  # answered from the memo: the same result
    assert memo["ad39999.example"] is True and memo["x39999.example"] is False
