"""Starting and stopping labs: random addresses, collisions, clean-up."""

from __future__ import annotations

import errno

import dns.rcode
import pytest

from rootwalk.lab import Lab
from tests.lab.dnsutil import ask


def test_two_labs_at_once_do_not_collide(lab: Lab) -> None:
    with Lab() as other:
        assert (other.net, other.port) != (lab.net, lab.port)
        for running in (lab, other):
            assert 20000 <= running.port <= 60999
            assert 10 <= int(running.net.split(".")[1]) <= 250
            r = ask(running, "ns1.example.com", "www.example.com")
            assert r.answer[0][0].address == "192.0.2.1"
            r = ask(running, "a.root-servers.net", "com", "NS")
            glue = {rd.address for rrset in r.additional for rd in rrset}
            assert glue == {running.addr(10), running.addr(11)}


def test_explicit_address_in_use_fails_naming_it(lab: Lab) -> None:
    with pytest.raises(OSError, match=rf"{lab.addr(2)}:{lab.port}") as info:
        Lab(net=lab.net, port=lab.port).start()
    assert info.value.errno == errno.EADDRINUSE
    ask(lab, "a.root-servers.net", ".", "NS")  # the running lab is untouched


def test_random_choices_retry_on_collision(lab: Lab) -> None:
    # Same port, random nets: a collision with `lab` would be retried on another net.
    with Lab(port=lab.port) as other:
        assert other.port == lab.port and other.net != lab.net
        assert ask(other, "ns2.example.com", "www.example.com").rcode() == dns.rcode.NOERROR


def test_stop_closes_sockets_and_removes_files() -> None:
    running = Lab()
    running.start()
    hints = running.root_hints_path
    address, port = running.addr(2), running.port
    assert hints.exists() and running.running
    running.stop()
    assert not hints.exists() and not running.running
    running.stop()  # twice is fine
    with Lab(net=".".join(address.split(".")[:2]), port=port):
        pass  # the addresses are free again


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Lab(net="10.0")
    with pytest.raises(ValueError):
        Lab(net="127.300")
    with pytest.raises(ValueError):
        Lab(port=70000)
    with pytest.raises(ValueError):
        Lab(domains=-1)
    with pytest.raises(RuntimeError):
        _ = Lab().root_hints_path
