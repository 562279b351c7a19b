"""Every fault a lab server can show, switched on and off at run time."""

from __future__ import annotations

import socket
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from rootwalk.lab import BOGUS_ADDRESS, Faults, Lab
from tests.lab.dnsutil import SHORT, ask, query, raw_exchange, section

SERVER = "ns1.example.com"


def test_no_faults_by_default() -> None:
    f = Faults()
    assert not f.alters_response() and f.drop == 0.0 and f.delay == 0.0 and f.rcode is None


def test_drop_fraction_with_seed(lab: Lab) -> None:
    srv = lab.server(SERVER)
    srv.faults = Faults(drop=0.5, seed=42)
    qs = [query(f"h{i}.example.com", "A") for i in range(200)]
    got = raw_exchange(lab, SERVER, [q.to_wire() for q in qs])
    assert 70 <= len(got) <= 130  # about half
    assert srv.count(transport="udp") == 200  # dropped queries are counted too
    # the same seed drops the same queries again
    srv.faults = Faults(drop=0.5, seed=42)
    again = raw_exchange(lab, SERVER, [q.to_wire() for q in qs])
    assert {r[:2] for r in again} == {r[:2] for r in got}
    srv.faults = Faults(drop=1.0)
    assert raw_exchange(lab, SERVER, [qs[0].to_wire()]) == []
    srv.faults = Faults()
    assert len(raw_exchange(lab, SERVER, [qs[0].to_wire()])) == 1


def test_delay(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(delay=0.3)
    for tcp in (False, True):
        start = time.monotonic()
        r = ask(lab, SERVER, "www.example.com", tcp=tcp)
        assert 0.28 <= time.monotonic() - start < 1.5
        assert section(r, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]


def test_delay_does_not_block_other_servers(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(delay=1.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(query("www.example.com").to_wire(), (lab.addr(20), lab.port))
        start = time.monotonic()
        ask(lab, "ns2.example.com", "www.example.com")
        assert time.monotonic() - start < 0.5


def test_truncate_over_udp_only(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(truncate=True)
    r = ask(lab, SERVER, "www.example.com")
    assert r.flags & dns.flags.TC
    assert r.answer == r.authority == r.additional == []
    assert r.question[0].name.to_text() == "www.example.com."
    r = ask(lab, SERVER, "www.example.com", tcp=True)
    assert not r.flags & dns.flags.TC
    assert section(r, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTAUTH])
def test_rcode(lab: Lab, rcode: dns.rcode.Rcode) -> None:
    lab.server(SERVER).faults = Faults(rcode=rcode)
    for tcp in (False, True):
        r = ask(lab, SERVER, "www.example.com", tcp=tcp)
        assert r.rcode() == rcode
        assert r.answer == r.authority == r.additional == []


def test_formerr_on_edns(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(formerr_on_edns=True)
    r = ask(lab, SERVER, "www.example.com", edns=0)
    assert r.rcode() == dns.rcode.FORMERR and r.edns == -1 and r.answer == []
    r = ask(lab, SERVER, "www.example.com", edns=None)
    assert r.rcode() == dns.rcode.NOERROR and r.edns == -1
    assert section(r, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]


def test_silent_over_udp_and_tcp(lab: Lab) -> None:
    srv = lab.server(SERVER)
    srv.faults = Faults(silent=True)
    with pytest.raises(dns.exception.Timeout):
        ask(lab, SERVER, "www.example.com", timeout=SHORT)
    with pytest.raises(dns.exception.Timeout):
        ask(lab, SERVER, "www.example.com", tcp=True, timeout=SHORT)
    assert srv.count("www.example.com", "A", "udp") == 1
    assert srv.count("www.example.com", "A", "tcp") == 1


def test_lame(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(lame=True)
    for name in ("www.example.com", "eng.example.com", "nope.example.com"):
        r = ask(lab, SERVER, name)
        assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.AA
        assert r.answer == r.authority == r.additional == []


def test_spoof_id_sends_a_forgery_first(lab: Lab) -> None:
    srv = lab.server(SERVER)
    srv.faults = Faults(spoof_id=True)
    q = query("www.example.com")
    got = [dns.message.from_wire(w) for w in raw_exchange(lab, SERVER, [q.to_wire()], expect=2)]
    assert len(got) == 2
    forged, real = got
    assert forged.id != q.id and forged.question == q.question
    assert section(forged, "answer") == [f"www.example.com. 86400 IN A {BOGUS_ADDRESS}"]
    assert real.id == q.id
    assert section(real, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]
    srv.faults = Faults(spoof_id=True, spoof_only=True)
    got = [dns.message.from_wire(w) for w in raw_exchange(lab, SERVER, [q.to_wire()])]
    assert len(got) == 1 and got[0].id != q.id


def test_spoof_question_sends_a_forgery_first(lab: Lab) -> None:
    srv = lab.server(SERVER)
    srv.faults = Faults(spoof_question=True)
    q = query("www.example.com")
    got = [dns.message.from_wire(w) for w in raw_exchange(lab, SERVER, [q.to_wire()], expect=2)]
    assert len(got) == 2
    forged, real = got
    assert forged.id == q.id and forged.question[0].name != q.question[0].name
    assert [rd.address for rrset in forged.answer for rd in rrset] == [BOGUS_ADDRESS]
    assert real.question == q.question
    assert section(real, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]
    srv.faults = Faults(spoof_question=True, spoof_only=True)
    assert len(raw_exchange(lab, SERVER, [q.to_wire()])) == 1


def test_spoofing_is_udp_only(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(spoof_id=True, spoof_question=True)
    r = ask(lab, SERVER, "www.example.com", tcp=True)
    assert section(r, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]


def test_poison_additional(lab: Lab) -> None:
    lab.server(SERVER).faults = Faults(poison_additional=True)
    r = ask(lab, SERVER, "www.example.com")
    assert section(r, "answer") == ["www.example.com. 300 IN A 192.0.2.1"]
    assert section(r, "additional") == [
        f"ns1.example.net. 86400 IN A {BOGUS_ADDRESS}",
        f"www.example.org. 86400 IN A {BOGUS_ADDRESS}",
    ]
    r = ask(lab, SERVER, "www.eng.example.com")  # a referral gets poisoned glue too
    assert f"ns1.example.net. 86400 IN A {BOGUS_ADDRESS}" in section(r, "additional")
    assert f"ns1.eng.example.com. 300 IN A {lab.addr(22)}" in section(r, "additional")
    lab.server("a.gtld-servers.net").faults = Faults(poison_additional=True)
    r = ask(lab, "a.gtld-servers.net", "www.example.com")
    assert f"www.example.org. 86400 IN A {BOGUS_ADDRESS}" in section(r, "additional")


def test_faults_switch_at_run_time(lab: Lab) -> None:
    srv = lab.server(SERVER)
    assert ask(lab, SERVER, "www.example.com").rcode() == dns.rcode.NOERROR
    srv.faults = Faults(rcode=dns.rcode.SERVFAIL)
    assert ask(lab, SERVER, "www.example.com").rcode() == dns.rcode.SERVFAIL
    srv.faults = Faults()
    assert ask(lab, SERVER, "www.example.com").rcode() == dns.rcode.NOERROR
    srv.faults = Faults(rcode=dns.rcode.REFUSED)
    lab.clear_faults()
    assert srv.faults == Faults()
    assert ask(lab, SERVER, "www.example.com").rcode() == dns.rcode.NOERROR
