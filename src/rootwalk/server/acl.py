"""Who may ask: access control by client address, as Unbound's ``access-control``.

A resolver that answers anyone on the internet is an open resolver, a tool for reflection and
amplification attacks (RFC 5358). The built-in list therefore allows only the machine itself and
private networks; configured entries are added to it, and the longest matching prefix decides.

Actions (Unbound semantics):

``allow``
    recursive questions (RD=1) are answered; non-recursive ones (RD=0) are refused, since
    answering them from the cache tells the asker what others have looked up (cache snooping).
``allow_snoop``
    as ``allow``, and RD=0 questions are answered from the cache only.
``refuse``
    every question gets REFUSED (with EDE 18, Prohibited).
``deny``
    questions are dropped without an answer.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Iterable

from rootwalk.config import parse_access_entry

__all__ = ["DEFAULT_ACCESS_CONTROL", "AccessControl", "Action"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Action(enum.Enum):
    ALLOW = "allow"
    ALLOW_SNOOP = "allow_snoop"
    REFUSE = "refuse"
    DENY = "deny"


#: The built-in list. Loopback may snoop (it is the operator's own machine: ``dig +norec``);
#: private networks (RFC 1918, RFC 6598 shared address space, RFC 4193 ULA, link-local) may ask.
DEFAULT_ACCESS_CONTROL: tuple[str, ...] = (
    "0.0.0.0/0 refuse",
    "::/0 refuse",
    "127.0.0.0/8 allow_snoop",
    "::1/128 allow_snoop",
    "10.0.0.0/8 allow",
    "172.16.0.0/12 allow",
    "192.168.0.0/16 allow",
    "100.64.0.0/10 allow",
    "169.254.0.0/16 allow",
    "fc00::/7 allow",
    "fe80::/10 allow",
)


class AccessControl:
    """Longest-prefix match of a client address against (network, action) entries."""

    def __init__(self, entries: Iterable[str] = (), *, defaults: bool = True) -> None:
        table: dict[Network, Action] = {}
        for text in (*DEFAULT_ACCESS_CONTROL, *entries) if defaults else tuple(entries):
            net, action = parse_access_entry(text)
            table[net] = Action(action)  # a configured entry replaces a default one
        # Most specific first: the first match is the longest prefix.
        self._entries = sorted(table.items(), key=lambda e: e[0].prefixlen, reverse=True)
        self.check = functools.lru_cache(maxsize=4096)(self._check)

    @property
    def entries(self) -> list[tuple[Network, Action]]:
        return list(self._entries)

    def _check(self, address: str) -> Action:
        """The action for ``address`` (text, maybe with a %scope); unknown means refuse."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return Action.REFUSE
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for net, action in self._entries:
            if ip.version == net.version and ip in net:
                return action
        return Action.REFUSE
