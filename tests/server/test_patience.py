"""A stub resolver's patience, measured from the client's side of a running ``rootwalk serve``.

glibc and dig give up after 5 s. Whatever the authorities do, a client of rootwalk gets an
answer, at worst SERVFAIL with an Extended DNS Error (RFC 8914), in under 4 s. The server runs
with the shipped limits; only the lab's servers misbehave.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.edns
import dns.rcode
import pytest

from rootwalk.lab import Faults, Lab

from .conftest import ServeProcess, ask, start_server

EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    proc = start_server(lab, tmp_path_factory.mktemp("patience"), listen=["127.0.0.1:0"])
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("silent", Faults(silent=True)),
        ("late", Faults(delay=5.0)),
        ("no-question", Faults(empty_question=True)),
        ("another-question", Faults(wrong_question=True)),
        ("servfail", Faults(rcode=dns.rcode.SERVFAIL)),
    ],
)
def test_servfail_with_ede_before_the_stub_gives_up(
    lab: Lab, served: ServeProcess, name: str, fault: Faults
) -> None:
    where = served.addresses[0]
    ask(where, "mail.example.com", use_edns=0)  # the delegation is known; now they break
    for key in EXAMPLE_COM:
        lab.server(key).faults = fault
    try:
        start = time.monotonic()
        r = ask(where, f"{name}.example.com", timeout=5.0, use_edns=0)
        took = time.monotonic() - start
    finally:
        lab.clear_faults()
    assert r.rcode() == dns.rcode.SERVFAIL
    edes = [o for o in r.options if isinstance(o, dns.edns.EDEOption)]
    assert edes and edes[0].code == dns.edns.EDECode.NO_REACHABLE_AUTHORITY, edes
    print(f"\nPATIENCE {name}: {took:.3f} s")
    assert took < 4.0, took
