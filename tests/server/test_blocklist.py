"""Large blocklists: loaded and reloaded aside while the server keeps answering; a
``transparent`` local zone unblocks (issue #10)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.config import ServerConfig
from rootwalk.lab import Lab
from rootwalk.server.blocklist import Blocklist, build, parse_names
from rootwalk.server.local import LocalPolicy

from .conftest import ask, run_cli, start_server

BIG = 300_000
# Answering a cached name must never wait this long, however large the list being loaded.
MAX_STALL = 0.2


def write_hosts(path: Path, count: int, extra: str = "") -> None:
    """A Pi-hole style hosts file of ``count`` distinct names (generated in-process)."""
    with path.open("w") as f:
        f.write("# generated\n127.0.0.1 localhost\n")
        f.writelines(f"0.0.0.0 ads{i}.tracker{i % 997}.example\n" for i in range(count))
        f.write(extra)


def ede(r: dns.message.Message) -> list[int]:
    return [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)]


def test_parse_names_hosts_and_lists() -> None:
    names: set[str] = set()
    parse_names(
        "# c\n127.0.0.1 localhost\n0.0.0.0 Ads.Example.COM tracker.example.net # x\n"
        ":: v6ads.example\n1.2.3.4\nbad.example.\n!!! adblock-comment\n%% not-a-name\n"
        "bücher.example\n"
        "a..b\n" + "x" * 64 + ".example\n",
        names,
    )
    assert names == {
        "ads.example.com",
        "tracker.example.net",
        "v6ads.example",
        "bad.example",
        "not-a-name",
        "xn--bcher-kva.example",
    }


def test_blocklist_is_exact_under_hash_collisions() -> None:
    # Every name shares one hash bucket walk with its neighbours: only exact names match.
    names = {f"n{i}.example" for i in range(5000)}
    b = Blocklist.from_bytes(Blocklist.from_names(names).to_bytes())
    assert len(b) == 5000
    assert all(n.encode() in b for n in names)
    assert not any(f"m{i}.example".encode() in b for i in range(5000))
    assert b.blocks((b"deep", b"n7", b"example", b""))
    assert not b.blocks((b"n7", b"example", b""), keep=3)  # at the zone itself: not blocked
    assert not b.blocks((b"a.n7", b"example", b""))  # a label with a dot is another name


def test_memory_per_name(tmp_path: Path) -> None:
    path = tmp_path / "big.hosts"
    write_hosts(path, 100_000)
    b = build([path])
    assert len(b) == 100_000
    average = sum(len(f"ads{i}.tracker{i % 997}.example") for i in range(100_000)) / 100_000
    # 4 (hash) + 4 (offset) + the name and its separator: no per-name Python object.
    assert b.nbytes() / len(b) <= average + 9 + 0.001


def test_transparent_zone_unblocks() -> None:
    cfg = ServerConfig(local_zone=("ads.example transparent", "static.example static"))
    b = Blocklist.from_names({"ads.example", "deeper.ok.ads.example", "example.net"})
    p = LocalPolicy(cfg, blocklist=b)
    assert p.answer(dns.name.from_text("ads.example"), dns.rdatatype.A) is None
    assert p.answer(dns.name.from_text("www.ads.example"), dns.rdatatype.A) is None
    # A list entry below the transparent zone is more specific than the zone: still blocked.
    r = p.answer(dns.name.from_text("x.deeper.ok.ads.example"), dns.rdatatype.A)
    assert r is not None and r.rcode == dns.rcode.NXDOMAIN and r.ede[0][0] == 15
    r = p.answer(dns.name.from_text("www.example.net"), dns.rdatatype.A)
    assert r is not None and r.ede[0][0] == 15


def test_transparent_zone_unblocks_over_sockets(lab: Lab, tmp_path: Path) -> None:
    block = tmp_path / "block.txt"
    block.write_text("example.org\nexample.com\n")
    extra = f'local_zone = ["www.example.org transparent"]\nblocklists = ["{block}"]\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        r = ask(where, "www.example.org", use_edns=0)
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.50"
        r = ask(where, "www.example.com", use_edns=0)
        assert r.rcode() == dns.rcode.NXDOMAIN and ede(r) == [15]
    finally:
        assert proc.stop() == 0, proc.stderr


def test_check_config_is_fast_and_only_opens_the_lists(tmp_path: Path) -> None:
    path = tmp_path / "big.hosts"
    write_hosts(path, BIG)
    conf = tmp_path / "r.toml"
    conf.write_text(f'[server]\nblocklists = ["{path}"]\n')
    began = time.monotonic()
    r = run_cli(["check-config", str(conf)])
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    assert time.monotonic() - began < 2.0  # a Python start; the 300,000 lines are not parsed
    conf.write_text(f'[server]\nblocklists = ["{path}", "{tmp_path / "missing"}"]\n')
    r = run_cli(["check-config", str(conf)])
    assert r.returncode == 2
    assert r.stderr.startswith(f"rootwalk: {conf}: 'server.blocklists[1]' ")
    assert r.stderr.count("\n") == 1


def test_big_list_loads_and_reloads_while_answering(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "big.hosts"
    write_hosts(path, BIG)
    proc = start_server(lab, tmp_path, f'blocklists = ["{path}"]\n', listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        # "listening on" comes after the load: the list is in force from the first answer.
        loaded = proc.find(r"blocklists: (\d+) names from 1 list")
        assert loaded is not None and int(loaded.group(1)) == BIG, proc.stderr
        r = ask(where, "www.ads1378.tracker381.example", use_edns=0)
        assert r.rcode() == dns.rcode.NXDOMAIN and ede(r) == [15]
        assert ask(where, "www.example.org").answer[0][0].address == "192.0.2.50"  # cached
        assert ask(where, "www.example.com").answer[0][0].address == "192.0.2.1"

        # A changed file is read again on SIGHUP, in a child process.
        write_hosts(path, BIG, extra="0.0.0.0 www.example.com\n")
        proc.signal(signal.SIGHUP)
        worst, during = 0.0, 0
        deadline = time.monotonic() + 30
        while proc.find("configuration reloaded") is None:
            assert time.monotonic() < deadline, proc.stderr
            began = time.monotonic()
            r = ask(where, "www.example.org", timeout=2)
            took = time.monotonic() - began
            assert r.answer[0][0].address == "192.0.2.50"
            worst = max(worst, took)
            during += 1
        assert worst < MAX_STALL, f"a cached name took {worst * 1000:.0f} ms during the reload"
        # The reload really was in progress while those answers went out.
        assert during >= 5, during
        r = ask(where, "www.example.com", use_edns=0)
        assert r.rcode() == dns.rcode.NXDOMAIN and ede(r) == [15]
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("how", ["missing", "directory"])
def test_unreadable_list_fails_start(tmp_path: Path, how: str) -> None:
    bad = tmp_path / "list"
    if how == "directory":
        bad.mkdir()
    conf = tmp_path / "r.toml"
    conf.write_text(f'[server]\nlisten = ["127.0.0.1:0"]\nblocklists = ["{bad}"]\n')
    r = run_cli(["serve", "--config", str(conf)])
    assert r.returncode == 2
    assert r.stderr.startswith(f"rootwalk: {conf}: 'server.blocklists[0]' {str(bad)!r}: cannot")
    assert r.stderr.count("\n") == 1
