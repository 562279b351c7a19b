"""Access control: the built-in list keeps rootwalk from being an open resolver."""

from __future__ import annotations

import pytest

from rootwalk.server.acl import AccessControl, Action


@pytest.mark.parametrize(
    ("address", "action"),
    [
        ("127.0.0.1", Action.ALLOW_SNOOP),
        ("127.9.8.7", Action.ALLOW_SNOOP),
        ("::1", Action.ALLOW_SNOOP),
        ("10.1.2.3", Action.ALLOW),
        ("172.16.0.1", Action.ALLOW),
        ("172.31.255.255", Action.ALLOW),
        ("172.32.0.1", Action.REFUSE),
        ("192.168.10.1", Action.ALLOW),
        ("100.64.0.1", Action.ALLOW),
        ("fd12:3456::1", Action.ALLOW),
        ("fe80::1%eth0", Action.ALLOW),
        ("::ffff:192.168.1.1", Action.ALLOW),
        ("8.8.8.8", Action.REFUSE),
        ("2001:db8::1", Action.REFUSE),
        ("not an address", Action.REFUSE),
    ],
)
def test_defaults(address: str, action: Action) -> None:
    assert AccessControl().check(address) is action


def test_longest_prefix_wins_and_configured_entries_replace_defaults() -> None:
    acl = AccessControl(
        ["127.0.0.0/8 refuse", "127.0.0.5/32 allow", "0.0.0.0/0 allow", "10.9.0.0/16 deny"]
    )
    assert acl.check("127.0.0.1") is Action.REFUSE
    assert acl.check("127.0.0.5") is Action.ALLOW
    assert acl.check("8.8.8.8") is Action.ALLOW  # an explicit open resolver
    assert acl.check("10.9.1.1") is Action.DENY
    assert acl.check("10.8.1.1") is Action.ALLOW
    assert acl.check("::1") is Action.ALLOW_SNOOP


def test_without_defaults() -> None:
    acl = AccessControl(["192.0.2.0/24 allow"], defaults=False)
    assert acl.check("192.0.2.1") is Action.ALLOW
    assert acl.check("127.0.0.1") is Action.REFUSE


@pytest.mark.parametrize("entry", ["10.0.0.0/8", "10.0.0.0/8 maybe", "10.0.0.300/8 allow"])
def test_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        AccessControl([entry])
