"""Synthetic domains: delegations in com/net/org, answers from shared template zones."""

from __future__ import annotations

from collections.abc import Iterator

import dns.flags
import dns.rcode
import pytest

from rootwalk.lab import Lab, synth
from rootwalk.lab.world import build_world
from tests.lab.dnsutil import ask, rrset, section

N = 30


@pytest.fixture(scope="module")
def slab() -> Iterator[Lab]:
    with Lab(domains=N) as running:
        yield running


def test_names_rotate_tlds(slab: Lab) -> None:
    names = slab.synthetic_domains
    assert len(names) == N
    assert names[:4] == ["d000000.com.", "d000001.net.", "d000002.org.", "d000003.com."]
    assert names[-1] == "d000029.org."
    assert [synth.server_index(i) for i in (0, 7, 8, 29)] == [1, 8, 1, 6]


def test_referral_from_tld_with_glue(slab: Lab) -> None:
    r = ask(slab, "a.gtld-servers.net", "www.d000003.com", "A")
    assert not r.flags & dns.flags.AA
    assert section(r, "authority") == ["d000003.com. 172800 IN NS ns1.d000003.com."]
    assert section(r, "additional") == [f"ns1.d000003.com. 172800 IN A {slab.addr(4, 1)}"]
    r = ask(slab, "ns1.nic.org", "d000029.org", "NS")
    assert section(r, "additional") == [f"ns1.d000029.org. 172800 IN A {slab.addr(6, 1)}"]
    r = ask(slab, "b.gtld-servers.net", "d000001.net", "A")
    assert section(r, "authority") == ["d000001.net. 172800 IN NS ns1.d000001.net."]
    r = ask(slab, "a.gtld-servers.net", "d000030.com", "A")  # past N: no such domain
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = ask(slab, "a.gtld-servers.net", "www.example.com", "A")  # the core world is intact
    assert section(r, "authority")[0] == "example.com. 172800 IN NS ns1.example.com."


def test_answers_from_the_synthetic_server(slab: Lab) -> None:
    srv = slab.server(slab.addr(4, 1))
    assert srv.name == "synthetic-4" and slab.server("synthetic-4") is srv
    assert slab.servers_for("d000003.com") == [srv]
    assert "d000003.com." in srv.zones and len(srv.zones) == 4  # 3, 11, 19, 27
    d = "d000003.com."
    r = ask(slab, srv.address, f"www.{d}", "A")
    assert r.flags & dns.flags.AA
    assert section(r, "answer") == [f"www.{d} 300 IN A 192.0.2.201"]
    r = ask(slab, srv.address, f"www.{d}", "AAAA")
    assert section(r, "answer") == [f"www.{d} 300 IN AAAA 2001:db8::201"]
    r = ask(slab, srv.address, f"alias.{d}", "A")
    assert [rr.to_text() for rr in r.answer] == [
        f"alias.{d} 300 IN CNAME www.{d}",
        f"www.{d} 300 IN A 192.0.2.201",
    ]
    r = ask(slab, srv.address, d, "MX")
    assert section(r, "answer") == [f"{d} 300 IN MX 10 mail.{d}"]
    assert section(r, "additional") == [f"mail.{d} 300 IN A 192.0.2.202"]
    r = ask(slab, srv.address, d, "NS")
    assert section(r, "answer") == [f"{d} 300 IN NS ns1.{d}"]
    assert section(r, "additional") == [f"ns1.{d} 300 IN A {srv.address}"]
    r = ask(slab, srv.address, f"x.wild.{d}", "A")
    assert section(r, "answer") == [f"x.wild.{d} 300 IN A 192.0.2.203"]
    r = ask(slab, srv.address, f"nope.{d}", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert section(r, "authority") == [
        f"{d} 300 IN SOA ns1.{d} hostmaster.{d} 2024060100 7200 3600 1209600 300"
    ]
    r = ask(slab, srv.address, d, "TXT")
    assert section(r, "answer") == [f'{d} 300 IN TXT "synthetic lab domain"']


def test_each_domain_gets_its_own_names(slab: Lab) -> None:
    for i in (0, 11, 27):
        d = synth.domain_name(i)
        r = ask(slab, slab.addr(synth.server_index(i), 1), f"alias.{d}", "A")
        assert r.answer[0].to_text() == f"alias.{d} 300 IN CNAME www.{d}"
        assert rrset(r, "answer", f"www.{d}", "A") is not None


def test_other_synthetic_servers_refuse(slab: Lab) -> None:
    r = ask(slab, slab.addr(5, 1), "www.d000003.com", "A")
    assert r.rcode() == dns.rcode.REFUSED


def test_build_synthetic_shares_templates() -> None:
    world = build_world("127.9", domains=100)
    assert len(world.synthetic_domains) == 100
    zmap = world.server_zones["127.9.1.1"]
    assert len(zmap) == 13 and len({id(z) for z in zmap.values()}) == 1
    with pytest.raises(ValueError):
        build_world("127.9", domains=synth.MAX_DOMAINS + 1)
