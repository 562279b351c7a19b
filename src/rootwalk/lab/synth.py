"""Synthetic second-level domains: many cheap zones for load tests (``Lab(domains=N)``).

Domain ``i`` is ``d{i:06d}.{com,net,org}`` (the TLD rotates), delegated from its TLD zone to
``ns1.<domain>`` with in-bailiwick glue ``${NET}.1.K``, K = 1 + i % 8. The eight synthetic
servers each serve every domain whose K is theirs, all from ONE relativized template zone
(the origin comes from the lookup), so 100,000 domains cost no more zone objects than eight.
The delegations in com/net/org are real zone data, built directly as dnspython objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import dns.name
import dns.node
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.IN.A
import dns.zone

from rootwalk.lab.authserver import ZoneData

__all__ = [
    "DELEGATION_TTL",
    "MAX_DOMAINS",
    "SERVERS",
    "TLDS",
    "build_synthetic",
    "domain_name",
    "server_index",
    "template_zone",
]

#: Most synthetic domains a lab can have.
MAX_DOMAINS = 1_000_000
#: How many synthetic servers (``${NET}.1.1`` .. ``${NET}.1.8``).
SERVERS = 8
#: The TLDs the synthetic domains rotate through.
TLDS = ("com", "net", "org")
#: TTL of the NS and glue records of a synthetic delegation in its TLD.
DELEGATION_TTL = 172800

IN = dns.rdataclass.IN
_NS = dns.rdatatype.RdataType.NS
_A = dns.rdatatype.RdataType.A
# constructors that dnspython leaves untyped
_ARdata: Any = dns.rdtypes.IN.A.A
_NSRdata: Any = dns.rdtypes.ANY.NS.NS
_Node: Callable[[], dns.node.Node] = dns.node.Node

_TEMPLATE = """\
$TTL 300
@       3600 IN SOA ns1 hostmaster 2024060100 7200 3600 1209600 300
@       IN NS    ns1
@       IN A     192.0.2.200
@       IN MX    10 mail
@       IN TXT   "synthetic lab domain"
www     IN A     192.0.2.201
www     IN AAAA  2001:db8::201
mail    IN A     192.0.2.202
alias   IN CNAME www
*.wild  IN A     192.0.2.203
ns1     IN A     {address}
"""


def domain_name(i: int) -> str:
    """The name of synthetic domain ``i``, e.g. ``d000042.com.``."""
    return f"d{i:06d}.{TLDS[i % len(TLDS)]}."


def server_index(i: int) -> int:
    """K of the synthetic server (``${NET}.1.K``) that serves domain ``i``."""
    return 1 + i % SERVERS


def template_zone(address: str) -> ZoneData:
    """The relativized zone every synthetic domain of the server at ``address`` serves."""
    zone = dns.zone.from_text(
        _TEMPLATE.format(address=address),
        origin=dns.name.from_text("synthetic.invalid."),
        relativize=True,
    )
    return ZoneData(dict(zone.nodes))


def build_synthetic(
    net: str, count: int, tld_zones: Mapping[dns.name.Name, ZoneData]
) -> tuple[list[str], list[dict[dns.name.Name, ZoneData]]]:
    """Add ``count`` synthetic delegations to ``tld_zones`` (com., net., org.).

    Returns the domain names and, for each synthetic server K = 1..8, its map of
    origin -> (shared template) zone.
    """
    if not 0 <= count <= MAX_DOMAINS:
        raise ValueError(f"domains must be between 0 and {MAX_DOMAINS}, not {count}")
    addresses = [f"{net}.1.{k}" for k in range(1, SERVERS + 1)]
    templates = [template_zone(a) for a in addresses]
    glue: list[dns.rdataset.Rdataset] = []
    for a in addresses:  # one shared glue rdataset per server address
        rds = dns.rdataset.Rdataset(IN, _A)
        rds.add(_ARdata(IN, _A, a), DELEGATION_TTL)
        glue.append(rds)
    tlds = [tld_zones[dns.name.from_text(t)].nodes for t in TLDS]
    maps: list[dict[dns.name.Name, ZoneData]] = [{} for _ in range(SERVERS)]
    names: list[str] = []
    ns1 = b"ns1"
    for i in range(count):
        label = b"d%06d" % i
        t = i % len(TLDS)
        k = i % SERVERS
        nodes = tlds[t]
        owner = dns.name.Name((label,))
        if owner in nodes:
            raise ValueError(f"synthetic domain {domain_name(i)} is already in the world")
        target = dns.name.Name((ns1, label))
        ns = dns.rdataset.Rdataset(IN, _NS)
        ns.add(_NSRdata(IN, _NS, target), DELEGATION_TTL)
        node = _Node()
        node.rdatasets.append(ns)
        nodes[owner] = node
        glue_node = _Node()
        glue_node.rdatasets.append(glue[k])
        nodes[target] = glue_node
        maps[k][dns.name.Name((label, TLDS[t].encode(), b""))] = templates[k]
        names.append(domain_name(i))
    return names, maps
