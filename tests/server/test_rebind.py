"""Rebinding protection (``server.private_addresses`` / ``private_domains``) through ``rootwalk
serve``, and the filter's own logic (server/rebind.py).

The lab's example.com has public names with private addresses: ``rebind`` (192.168.1.10,
fd00::10), ``internal`` (10.0.0.1), ``mixed`` (192.0.2.50 and 10.0.0.2) and ``torebind``
(a CNAME to ``rebind``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.config import load_config
from rootwalk.errors import ConfigError
from rootwalk.lab import Lab
from rootwalk.server.rebind import RECOMMENDED_PRIVATE, PrivateFilter
from rootwalk.wire.message import AAAA, CNAME, A, RRset
from rootwalk.wire.names import from_text

from .conftest import ServeProcess, ask, run_cli, start_server

RECOMMENDED_TOML = ", ".join(f'"{n}"' for n in RECOMMENDED_PRIVATE)
FILTERED = f"""
private_addresses = [{RECOMMENDED_TOML}]
private_domains = ["internal.example.com"]
local_data = ["nas.home.arpa A 192.168.1.5"]
access_control = ["127.0.0.0/8 allow_snoop"]
"""


@pytest.fixture(scope="module")
def filtered(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    proc = start_server(lab, tmp_path_factory.mktemp("rebind"), FILTERED, listen=["127.0.0.1:0"])
    yield proc.addresses[0]
    rc = proc.stop()
    assert rc == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def addresses(r: dns.message.Message, rdtype: str = "A") -> list[str]:
    want = dns.rdatatype.from_text(rdtype)
    return sorted(rd.address for rrset in r.answer if rrset.rdtype == want for rd in rrset)


def nsid_query(name: str, rdtype: str = "A") -> dns.message.Message:
    """An EDNS option the wire path does not take: the question goes to the dnspython path."""
    return dns.message.make_query(
        name, rdtype, use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")]
    )


@pytest.mark.parametrize("repeat", [1, 2, 3])  # the 2nd and 3rd are fast-path hits
def test_private_addresses_of_public_names_are_removed(
    filtered: tuple[str, int], repeat: int
) -> None:
    for _ in range(repeat):
        r = ask(filtered, "rebind.example.com")
        assert r.rcode() == dns.rcode.NOERROR and r.answer == [], r  # NODATA-like, as Unbound
        r = ask(filtered, "rebind.example.com", "AAAA")
        assert r.rcode() == dns.rcode.NOERROR and r.answer == [], r
        r = ask(filtered, "mixed.example.com")
        assert addresses(r) == ["192.0.2.50"], r  # record by record
        r = ask(filtered, "torebind.example.com")
        assert [rrset.rdtype for rrset in r.answer] == [dns.rdatatype.CNAME], r
        r = ask(filtered, "www.example.com")
        assert addresses(r) == ["192.0.2.1"], r


def test_the_dnspython_path_filters_too(filtered: tuple[str, int]) -> None:
    where = filtered
    for _ in range(2):
        r = dns.query.udp(nsid_query("mixed.example.com"), where[0], port=where[1], timeout=5)
        assert addresses(r) == ["192.0.2.50"], r
        r = dns.query.udp(nsid_query("internal.example.com"), where[0], port=where[1], timeout=5)
        assert addresses(r) == ["10.0.0.1"], r
    # ANY (RFC 8482: the address records) is answered by the dnspython path only.
    ask(filtered, "rebind.example.com")
    r = ask(filtered, "rebind.example.com", "ANY")
    assert not any("192.168" in rrset.to_text() for rrset in r.answer), r


def test_cache_snooping_is_filtered(filtered: tuple[str, int]) -> None:
    ask(filtered, "mixed.example.com")  # cached
    r = ask(filtered, "mixed.example.com", flags=0)  # RD=0: from the cache only
    assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.50"], r


def test_private_domains_and_local_data_keep_private_addresses(
    filtered: tuple[str, int],
) -> None:
    for _ in range(2):
        r = ask(filtered, "internal.example.com")
        assert addresses(r) == ["10.0.0.1"], r
        r = ask(filtered, "nas.home.arpa")
        assert addresses(r) == ["192.168.1.5"], r


def test_off_by_default(udp4: tuple[str, int]) -> None:
    assert addresses(ask(udp4, "rebind.example.com")) == ["192.168.1.10"]
    assert addresses(ask(udp4, "mixed.example.com")) == ["10.0.0.2", "192.0.2.50"]


def test_forward_zones_are_private_domains(lab: Lab, tmp_path: Path) -> None:
    """A forward zone below the root is the LAN's own: its private addresses are kept."""
    ns1 = lab.server("ns1.example.com").address
    config = tmp_path / "fwd.toml"
    config.write_text(f"""
[resolver]
root_hints = "{lab.root_hints_path}"
upstream_port = {lab.port}
upstream_allow = ["127.0.0.0/8"]
do_not_query_localhost = false
forward_zones = [{{ name = "rebind.example.com", addresses = ["{ns1}@{lab.port}"] }}]

[dnssec]
trust_anchor_file = "{lab.trust_anchor_path}"

[server]
listen = ["127.0.0.1:0"]
private_addresses = ["192.168.0.0/16", "10.0.0.0/8"]
""")
    proc = ServeProcess(["serve", "--config", str(config)])
    try:
        (where,) = proc.wait_listening(1)
        assert addresses(ask(where, "rebind.example.com")) == ["192.168.1.10"]
        assert addresses(ask(where, "internal.example.com")) == []
    finally:
        rc = proc.stop()
    assert rc == 0 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('private_addresses = ["192.168.0.0/33"]', "server.private_addresses[0]"),
        ('private_addresses = ["10.0.0.0/8", "lan"]', "server.private_addresses[1]"),
        ('private_domains = ["a..b"]', "server.private_domains[0]"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(f"[server]\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        load_config(path)
    p = run_cli(["check-config", str(path)])
    assert p.returncode == 2 and f"'{key}'" in p.stderr and p.stderr.count("\n") == 1, p.stderr


# -- the filter's logic ----------------------------------------------------------------------


def a_set(owner: str, *addresses: bytes, rtype: int = A) -> RRset:
    return RRset(from_text(owner), rtype, 1, 300, addresses)


def test_filter_keeps_lists_without_private_addresses_as_they_are() -> None:
    f = PrivateFilter(RECOMMENDED_PRIVATE, [])
    assert f.filter([a_set("www.example", bytes([192, 0, 2, 1]))]) is None
    assert f.filter([]) is None


def test_filter_removes_records_and_empty_rrsets() -> None:
    f = PrivateFilter(RECOMMENDED_PRIVATE, [from_text("home.arpa")])
    cname = RRset(from_text("alias.example"), CNAME, 1, 300, (from_text("x.example"),))
    mixed = a_set("x.example", bytes([10, 1, 2, 3]), bytes([192, 0, 2, 7]))
    edge = a_set("e.example", bytes([172, 31, 255, 255]), bytes([172, 32, 0, 0]))
    private6 = a_set(
        "x.example",
        bytes.fromhex("fe80" + "00" * 13 + "01"),
        bytes.fromhex("00" * 10 + "ffff" + "c0a80101"),  # ::ffff:192.168.1.1
        rtype=AAAA,
    )
    lan = a_set("nas.home.arpa", bytes([192, 168, 1, 5]))
    out = f.filter([cname, mixed, edge, private6, lan])
    assert out == [
        cname,
        a_set("x.example", bytes([192, 0, 2, 7])),
        a_set("e.example", bytes([172, 32, 0, 0])),  # just past 172.16.0.0/12
        lan,  # at or below a private domain
    ]
    # Only addresses in the configured networks go.
    assert PrivateFilter(["10.0.0.0/8"], []).filter([lan]) is None
