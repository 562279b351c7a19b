"""``server.hosts_file``: names from a hosts file answered locally (a file in a tmp dir, never
the machine's /etc/hosts: tests/conftest.py points ``"auto"`` away from it)."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.config import ServerConfig
from rootwalk.lab import Lab
from rootwalk.paths import ENV_HOSTS
from rootwalk.resolver import Resolver
from rootwalk.server import hosts as hosts_module
from rootwalk.server.app import Server, bind_one
from rootwalk.server.hosts import hosts_path, parse_hosts

from ..engine.conftest import make_config
from .conftest import ServeProcess, ask, lab_config, run_cli, start_server

HOSTS = """\
# a comment line
127.0.0.1   localhost
10.1.2.3    NAS.lan nas        # trailing comment
fd00::5     nas.lan
10.1.2.4    printer.lan
fe80::1%eth0 scoped.lan
not-an-ip   broken.lan
0.0.0.0     ads.example
192.0.2.99  www.example.com
"""


def by_key(text: str) -> dict[tuple[str, str], list[str]]:
    return {
        (r.name.to_text(), dns.rdatatype.to_text(r.rdtype)): sorted(x.to_text() for x in r)
        for r in parse_hosts(text).rrsets
    }


def test_parse_hosts() -> None:
    got = by_key(HOSTS)
    assert got[("nas.lan.", "A")] == ["10.1.2.3"]
    assert got[("nas.", "A")] == ["10.1.2.3"]
    assert got[("nas.lan.", "AAAA")] == ["fd00::5"]
    assert got[("ads.example.", "A")] == ["0.0.0.0"]
    # PTR: every name listed for the address; none for 0.0.0.0 (a blocklist line).
    assert got[("3.2.1.10.in-addr.arpa.", "PTR")] == ["nas.", "nas.lan."]
    assert ("0.0.0.0.in-addr.arpa.", "PTR") not in got
    assert not any(k[0].startswith(("scoped", "broken")) for k in got)
    assert all(r.ttl == 0 for r in parse_hosts(HOSTS).rrsets)
    assert len(parse_hosts(HOSTS)) == 6  # localhost nas.lan nas printer.lan ads www


def test_auto_reads_the_file_only_when_every_listen_address_is_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_HOSTS, str(tmp_path / "hosts"))
    loop = ServerConfig(listen=("127.0.0.1:53", "[::1]:53"))
    assert hosts_path(loop) == tmp_path / "hosts"
    lan = ServerConfig(listen=("127.0.0.1:53", "192.168.1.1:53"))
    assert hosts_path(lan) is None
    assert hosts_path(ServerConfig(listen=("0.0.0.0:53",))) is None
    assert hosts_path(dataclasses.replace(loop, hosts_file="off")) is None
    given = dataclasses.replace(lan, hosts_file="/srv/x.hosts")
    assert hosts_path(given) == Path("/srv/x.hosts")
    # The injected rule (what the in-process test below relies on) is the one consulted.
    assert hosts_path(loop, is_loopback=lambda host: False) is None


def test_serve_answers_from_the_hosts_file(lab: Lab, tmp_path: Path) -> None:
    hosts = tmp_path / "lan.hosts"
    hosts.write_text("10.1.2.3 nas.lan nas\nfd00::5 nas.lan\n")
    # Listening on loopback and on a non-loopback setting alike: an explicit path is read.
    proc = start_server(lab, tmp_path, f'hosts_file = "{hosts}"\n', listen=["127.0.0.1:0"])
    try:
        where = proc.addresses[0]
        proc.find(r"hosts file .*lan\.hosts: 2 names") or pytest.fail(proc.stderr)
        r = ask(where, "nas.lan")
        assert r.rcode() == dns.rcode.NOERROR
        assert [x.to_text() for x in r.answer[0]] == ["10.1.2.3"]
        assert r.answer[0].ttl == 0
        assert [x.to_text() for x in ask(where, "NAS.lan", "AAAA", tcp=True).answer[0]] == [
            "fd00::5"
        ]
        mx = ask(where, "nas.lan", "MX")  # listed name, no such type: NODATA, not a walk
        assert mx.rcode() == dns.rcode.NOERROR and not mx.answer
        ptr = ask(where, "3.2.1.10.in-addr.arpa", "PTR")
        assert sorted(x.to_text() for x in ptr.answer[0]) == ["nas.", "nas.lan."]

        # A name the lab serves, cached and on the fast path, then listed in the file: after
        # SIGHUP the file answers, not the walk nor the rendered answer of before.
        for _ in range(3):
            assert ask(where, "www.example.com").answer[0][0].address != "192.0.2.99"
        hosts.write_text("10.1.2.3 nas.lan\n192.0.2.99 www.example.com\n")
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        for tcp in (False, False, True):
            r = ask(where, "www.example.com", tcp=tcp)
            assert [x.to_text() for x in r.answer[0]] == ["192.0.2.99"]
            aaaa = ask(where, "www.example.com", "AAAA", tcp=tcp)
            assert aaaa.rcode() == dns.rcode.NOERROR and not aaaa.answer
        assert ask(where, "nas").rcode() == dns.rcode.NXDOMAIN  # gone from the file: walked
    finally:
        assert proc.stop() == 0, proc.stderr


def test_auto_on_loopback_serve(lab: Lab, tmp_path: Path) -> None:
    """The default ("auto") with loopback listening reads the (redirected) /etc/hosts."""
    hosts = tmp_path / "etc-hosts"
    hosts.write_text("10.9.9.9 myhost.local myhost\n")
    path = tmp_path / "c.toml"
    path.write_text(lab_config(lab, listen=["127.0.0.1:0"]))
    proc = ServeProcess(["serve", "--config", str(path)], env={ENV_HOSTS: str(hosts)})
    try:
        (where,) = proc.wait_listening(1)
        assert [x.to_text() for x in ask(where, "myhost").answer[0]] == ["10.9.9.9"]
    finally:
        assert proc.stop() == 0, proc.stderr


async def test_auto_off_when_listening_beyond_loopback(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listen address that is not loopback (stood in for: only 127.x may be bound here):
    "auto" reads nothing, and the same name is walked upstream."""
    hosts = tmp_path / "etc-hosts"
    hosts.write_text("192.0.2.99 www.example.com\n")
    monkeypatch.setenv(ENV_HOSTS, str(hosts))
    config = dataclasses.replace(make_config(lab), server=ServerConfig(listen=("127.0.0.1:0",)))

    async def answer() -> str:
        listener = bind_one("127.0.0.1", 0)
        srv = Server(config, [listener], resolver=Resolver(config), announce=False)
        await srv.start()
        try:
            q = dns.message.make_query("www.example.com", "A")
            host, port = listener.udp.getsockname()[:2]
            r = await dns.asyncquery.udp(q, host, port=port, timeout=5)
            return str(r.answer[0][0].address)
        finally:
            await srv.shutdown()

    assert await answer() == "192.0.2.99"  # loopback: the file
    monkeypatch.setattr(hosts_module, "is_loopback_address", lambda host: False)
    assert await answer() != "192.0.2.99"  # "LAN": the lab's own address


def test_unreadable_hosts_file_is_one_line(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    missing = tmp_path / "nope.hosts"
    path.write_text(lab_config(lab, f'hosts_file = "{missing}"\n', ["127.0.0.1:0"]))
    for cmd in (["check-config", str(path)], ["serve", "--config", str(path)]):
        done = run_cli(cmd)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "'server.hosts_file'" in lines[0] and "cannot read" in lines[0]
