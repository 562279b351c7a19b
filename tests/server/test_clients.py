"""Real stub clients against ``rootwalk serve``: c-ares (aiodns) and dig."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import aiodns
import aiodns.error
import pycares
import pytest

from .conftest import HAVE_IPV6, ServeProcess


def _nameserver(where: tuple[str, int]) -> str:
    host, port = where
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addr(record: Any) -> str:
    addr: str = record.data.addr
    return addr


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_aiodns(udp4: tuple[str, int], tcp: bool) -> None:
    flags = pycares.ARES_FLAG_USEVC if tcp else 0
    r = aiodns.DNSResolver(nameservers=[_nameserver(udp4)], timeout=3, tries=1, flags=flags)
    try:
        result = await r.query_dns("www.example.com", "A")
        assert [_addr(rec) for rec in result.answer] == ["192.0.2.1"]
        result = await r.query_dns("alias.example.com", "AAAA")
        assert _addr(result.answer[-1]) == "2001:db8::1"
        with pytest.raises(aiodns.error.DNSError) as err:
            await r.query_dns("nonexistent.example.com", "A")
        assert err.value.args[0] == aiodns.error.ARES_ENOTFOUND
        result = await r.query_dns("big.example.com", "TXT")  # TC over UDP: c-ares retries TCP
        assert len(result.answer) >= 10
    finally:
        await r.close()


@pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback here")
async def test_aiodns_ipv6(server: ServeProcess) -> None:
    r = aiodns.DNSResolver(nameservers=[_nameserver(server.addresses[1])], timeout=3, tries=1)
    try:
        result = await r.query_dns("www.example.org", "A")
        assert [_addr(rec) for rec in result.answer] == ["192.0.2.50"]
    finally:
        await r.close()


DIG = shutil.which("dig")


def dig(where: tuple[str, int], *args: str) -> str:
    assert DIG is not None
    out = subprocess.run(
        [DIG, f"@{where[0]}", "-p", str(where[1]), "+time=3", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return out.stdout


@pytest.mark.skipif(DIG is None, reason="dig is not installed (apt-get install bind9-dnsutils)")
def test_dig(udp4: tuple[str, int]) -> None:
    assert dig(udp4, "+short", "www.example.com", "A").split() == ["192.0.2.1"]
    assert dig(udp4, "+short", "+tcp", "www.example.com", "AAAA").split() == ["2001:db8::1"]
    out = dig(udp4, "nonexistent.example.com", "A")
    # dig sets AD in its questions (RFC 6840 §5.7): a validated denial answers with AD.
    assert "status: NXDOMAIN" in out and "flags: qr rd ra ad;" in out
    out = dig(udp4, "+noadflag", "www.example.org", "A")  # example.org is unsigned
    assert "status: NOERROR" in out and "flags: qr rd ra;" in out
    out = dig(udp4, "big.example.com", "TXT")  # dig retries over TCP after TC
    assert "Truncated, retrying in TCP mode" in out and out.count("big record") >= 10
    out = dig(udp4, "host.lame.test", "A")
    assert "status: SERVFAIL" in out and "EDE:" in out
    out = dig(udp4, "+edns=1", "+noednsnegotiation", "www.example.com")
    assert "status: BADVERS" in out
    out = dig(udp4, "+norec", "www.example.com")
    assert "status: NOERROR" in out and "192.0.2.1" in out
    out = dig(udp4, "-c", "CH", "version.bind", "TXT")
    assert "status: REFUSED" in out
    out = dig(udp4, "+noedns", "www.example.com")
    assert "OPT PSEUDOSECTION" not in out
