"""Local zones, local data (with derived PTR) and blocklists."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from rootwalk.config import ServerConfig, load_config
from rootwalk.errors import ConfigError
from rootwalk.lab import Lab
from rootwalk.server.local import LocalPolicy, read_blocklist

from .conftest import ask, lab_config, run_cli, start_server


def policy(**kw: object) -> LocalPolicy:
    return LocalPolicy(dataclasses.replace(ServerConfig(), **kw))  # type: ignore[arg-type]


def n(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
TXT = dns.rdatatype.TXT
PTR = dns.rdatatype.PTR


def test_local_data_and_zone_types() -> None:
    p = policy(
        local_zone=(
            "home.arpa static",
            "corp.example transparent",
            "bad.example refuse",
            "gone.example nxdomain",
        ),
        local_data=(
            "home.arpa. 3600 IN SOA ns.home.arpa. admin.home.arpa. 1 3600 600 86400 300",
            "nas.home.arpa A 192.168.1.10",
            "nas.home.arpa. 600 IN AAAA fd00::10",
            "printer.office.home.arpa A 192.168.1.11",
            'intranet.corp.example TXT "hello  world"',
            "pc.elsewhere.example A 10.1.1.1",
            "www.bad.example A 10.9.9.9",
        ),
    )
    r = p.answer(n("NAS.home.arpa"), A)
    assert r is not None and r.rcode == dns.rcode.NOERROR
    assert r.answer[0][0].address == "192.168.1.10" and r.answer[0].ttl == 3600
    assert r.answer[0].name.labels[0] == b"NAS"  # the client's spelling
    r = p.answer(n("nas.home.arpa"), AAAA)
    assert r is not None and r.answer[0].ttl == 600
    r = p.answer(n("nas.home.arpa"), TXT)  # name exists, type does not: NODATA with SOA
    assert r is not None and r.rcode == dns.rcode.NOERROR and not r.answer
    assert r.authority[0].rdtype == dns.rdatatype.SOA
    r = p.answer(n("office.home.arpa"), A)  # empty non-terminal
    assert r is not None and r.rcode == dns.rcode.NOERROR and not r.answer
    r = p.answer(n("other.home.arpa"), A)
    assert r is not None and r.rcode == dns.rcode.NXDOMAIN and r.authority
    # PTR derived for A and AAAA.
    r = p.answer(n("10.1.168.192.in-addr.arpa"), PTR)
    assert r is not None and r.answer[0][0].target == n("nas.home.arpa")
    rev = dns.reversename.from_address("fd00::10")
    r = p.answer(rev, PTR)
    assert r is not None and r.answer[0][0].target == n("nas.home.arpa")
    # transparent: data answered, other names resolved.
    r = p.answer(n("intranet.corp.example"), TXT)
    assert r is not None and r.answer[0][0].strings == (b"hello  world",)
    assert p.answer(n("www.corp.example"), A) is None
    # data with no zone: an implicit transparent zone at the name.
    assert p.answer(n("pc.elsewhere.example"), A) is not None
    r = p.answer(n("pc.elsewhere.example"), TXT)
    assert r is not None and r.rcode == dns.rcode.NOERROR and not r.answer
    assert p.answer(n("x.elsewhere.example"), A) is None
    # refuse and nxdomain; local data still wins.
    r = p.answer(n("x.bad.example"), A)
    assert r is not None and r.rcode == dns.rcode.REFUSED
    r = p.answer(n("www.bad.example"), A)
    assert r is not None and r.answer
    r = p.answer(n("gone.example"), A)
    assert r is not None and r.rcode == dns.rcode.NXDOMAIN
    assert p.answer(n("example"), A) is None


def test_no_ptr_when_disabled() -> None:
    p = policy(local_data=("nas.home.arpa A 192.168.1.10",), local_data_ptr=False)
    assert p.answer(n("10.1.168.192.in-addr.arpa"), PTR) is None


def test_blocklists(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "# a hosts file\n127.0.0.1 localhost\n0.0.0.0 ads.example.com tracker.example.net\n"
        "::  ipv6ads.example\n"
    )
    plain = tmp_path / "domains.txt"
    plain.write_text("bad.example  # comment\n\nworse.example.\n!!!not a name\n")
    names = {str(x) for x in read_blocklist(hosts) + read_blocklist(plain)}
    assert names >= {"ads.example.com.", "tracker.example.net.", "bad.example.", "worse.example."}
    assert "localhost." not in names
    p = policy(blocklists=(hosts, plain))
    for name in ("ads.example.com", "deep.sub.ads.example.com", "bad.example"):
        r = p.answer(n(name), A)
        assert r is not None and r.rcode == dns.rcode.NXDOMAIN and r.ede[0][0] == 15
    assert p.answer(n("example.com"), A) is None
    assert p.answer(n("notads.example.com"), A) is None
    p = policy(blocklists=(hosts,), blocklist_action="null")
    r = p.answer(n("ads.example.com"), A)
    assert r is not None and r.answer[0][0].address == "0.0.0.0"
    r = p.answer(n("ads.example.com"), AAAA)
    assert r is not None and r.answer[0][0].address == "::"
    r = p.answer(n("ads.example.com"), TXT)
    assert r is not None and r.rcode == dns.rcode.NOERROR and not r.answer


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"local_zone": ("home.arpa stattic",)}, "server.local_zone[0]"),
        ({"local_zone": ("home.arpa",)}, "server.local_zone[0]"),
        ({"local_data": ("nas.home.arpa A 999.1.1.1",)}, "server.local_data[0]"),
        ({"local_data": ("nas.home.arpa",)}, "server.local_data[0]"),
        ({"local_data": ("x A 1.1.1.1", "nas FOO bar")}, "server.local_data[1]"),
        ({"blocklists": (Path("/nonexistent/list"),)}, "server.blocklists[0]"),
    ],
)
def test_errors_name_the_key(kw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        policy(**kw)
    assert f"'{key}'" in str(err.value) and "\n" not in str(err.value)


def test_blocklist_action_validated(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[server]\nblocklist_action = "sinkhole"\n')
    with pytest.raises(ConfigError, match="server.blocklist_action"):
        load_config(path)
    path.write_text('[server]\nlocal_data = ["nas.home.arpa A 300.1.1.1"]\n')
    p = run_cli(["check-config", str(path)])
    assert p.returncode == 2 and "'server.local_data[0]'" in p.stderr


def test_served_and_reloaded(lab: Lab, tmp_path: Path) -> None:
    block = tmp_path / "block.txt"
    block.write_text("example.org\n")
    extra = (
        'local_zone = ["home.arpa static"]\n'
        'local_data = ["nas.home.arpa A 192.168.1.10"]\n'
        f'blocklists = ["{block}"]\n'
    )
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        lab.reset_counters()
        r = ask(where, "nas.home.arpa")
        assert r.answer[0][0].address == "192.168.1.10"
        r = ask(where, "10.1.168.192.in-addr.arpa", "PTR")
        assert r.answer[0][0].target == n("nas.home.arpa")
        assert ask(where, "tv.home.arpa").rcode() == dns.rcode.NXDOMAIN
        r = ask(where, "www.example.org", use_edns=0)
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)] == [15]
        q = dns.message.make_query("nas.home.arpa", "A")
        q.flags &= ~dns.flags.RD
        assert dns.query.udp(q, where[0], port=where[1], timeout=5).answer  # RD=0 too
        assert lab.server("a.root-servers.net").count() == 0  # none of it left the machine
        # SIGHUP re-reads the blocklist file.
        block.write_text("example.net\n")
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        assert ask(where, "www.example.org").answer[0][0].address == "192.0.2.50"
        assert ask(where, "ns.example.net").rcode() == dns.rcode.NXDOMAIN
        # An unreadable blocklist on reload: reported, the old lists stay.
        assert proc.config_path is not None
        proc.config_path.write_text(
            lab_config(lab, 'blocklists = ["/nonexistent/list"]\n', ["127.0.0.1:0"])
        )
        proc.signal(signal.SIGHUP)
        assert "server.blocklists[0]" in proc.wait_for("reload failed").string
        assert ask(where, "ns.example.net").rcode() == dns.rcode.NXDOMAIN
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr
