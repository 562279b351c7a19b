"""rootwalk.lab: a simulated internet on loopback, to learn, test and debug DNS offline.

A ``Lab`` runs authoritative servers for a small world (root, TLDs, example.com and friends,
broken delegations on purpose) plus optional synthetic domains, every one on a 127.A.x.y
address. Each server can be told to misbehave (``Faults``) and counts what it receives::

    from rootwalk.lab import Faults, Lab

    with Lab() as lab:
        srv = lab.server("ns1.example.com")
        srv.faults = Faults(drop=0.5)
        ...  # point a resolver at lab.root_hints_path, port lab.port
        assert srv.count("www.example.com", "A") >= 1

The lab is the authoritative side only; it imports nothing of the resolver. See docs/lab.md.
"""

from rootwalk.lab.authserver import AuthServer, QueryRecord
from rootwalk.lab.faults import BOGUS_ADDRESS, Faults
from rootwalk.lab.world import DEFAULT_NET, DEFAULT_PORT, Lab, World, build_world

__all__ = [
    "BOGUS_ADDRESS",
    "DEFAULT_NET",
    "DEFAULT_PORT",
    "AuthServer",
    "Faults",
    "Lab",
    "QueryRecord",
    "World",
    "build_world",
]
