"""The bench lab served by NSD: the same world as ``rootwalk lab up``, in C.

The Python lab (``rootwalk lab up``) saturates a core long before Unbound does on the cold
path, so a cold run against it measures the lab. Here the very same world (``build_world``:
the zone files of ``rootwalk/lab/world`` with ``${NET}`` substituted, plus the synthetic
domains and their delegations in com/net/org) is written out as zone files and served by NSD
processes on the same ``127.A.x.x`` addresses, port 53. The zones are the signed ones (RRSIG,
NSEC/NSEC3, DNSKEY included), so NSD answers DNSSEC and a validating resolver given the
lab's trust anchor (``NsdLab.anchor``, written beside the root hints) validates:

* ``nsd-root``: the root zone, on the root servers' addresses;
* ``nsd-tld``: com, net, org, test and arpa, on the TLD servers' addresses;
* ``nsd-sld``: every other zone (example.*, eng/lab.eng.example.com, partlame.test and the
  synthetic domains), on the addresses of their servers (``127.A.0.2x``..., ``127.A.1.1-8``);
* ``nsd-lame``: no zone at all, on the addresses of the lame servers (REFUSED to everything,
  as in the Python lab).

NSD serves every zone of a process on every address of that process, so a server of the
Python lab that holds only some of them answers more here (``ns1.example.com`` also answers
for eng.example.com instead of referring). The bench's questions only go to the synthetic
domains, whose servers hold only synthetic domains in both labs.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype

from bench.procs import Proc, ProcError, cpu_seconds
from rootwalk.lab.authserver import ZoneData
from rootwalk.lab.world import World, build_world

READY_TIMEOUT = 120.0  # 10,000 zones load in about a second; leave room for a busy host
PROBE_TIMEOUT = 0.2


@dataclass
class NsdGroup:
    """One NSD process: its addresses and the zones (origin, file) it serves."""

    name: str
    addresses: list[str] = field(default_factory=list)
    zones: list[tuple[str, str]] = field(default_factory=list)


def zone_text(zd: ZoneData) -> str:
    """A zone in master-file format, names relative to the zone's origin, SOA first.

    Without ``$ORIGIN`` NSD takes the zone's name as the origin, so one file can serve
    every synthetic domain of a server, as the Python lab shares one ZoneData. Every record
    carries its TTL, so no ``$TTL`` is needed.
    """
    apex = dns.name.empty
    if zd.signed is not None:
        # Signed zones go out whole (DNSKEY, RRSIG, NSEC/NSEC3, NSEC3PARAM): NSD serves
        # presigned zones as they are. Chain records made for synthetic delegations are
        # signed when first served in the Python lab; a file needs them all now.
        zd.signed.sign_pending(zd.nodes)
    names = sorted(zd.nodes, key=lambda n: (n != apex, n))
    return "\n".join(zd.nodes[n].to_text(n) for n in names) + "\n"


def group_of(origins: list[dns.name.Name]) -> str:
    if not origins:
        return "lame"
    if dns.name.root in origins:
        return "root"
    if all(len(o.labels) == 2 for o in origins):  # one label and the root label
        return "tld"
    return "sld"


def plan(world: World, zonedir: Path) -> list[NsdGroup]:
    """Write every zone file under ``zonedir``; return the NSD processes to start."""
    zonedir.mkdir(parents=True, exist_ok=True)
    groups = {g: NsdGroup(f"nsd-{g}") for g in ("root", "tld", "sld", "lame")}
    files: dict[int, str] = {}  # id(ZoneData) -> file: shared zones are written once
    served: dict[str, set[str]] = {g: set() for g in groups}
    for spec in world.servers:
        zmap = world.server_zones[spec.address]
        g = groups[group_of(list(zmap))]
        g.addresses.append(spec.address)
        for origin, zd in zmap.items():
            key = id(zd)
            if key not in files:
                files[key] = f"z{len(files):05d}.zone"
                (zonedir / files[key]).write_text(zone_text(zd), encoding="ascii")
            text = origin.to_text()
            if text not in served[g.name[4:]]:
                served[g.name[4:]].add(text)
                g.zones.append((text, str(zonedir / files[key])))
    return [g for g in groups.values() if g.addresses]


def nsd_conf(g: NsdGroup, workdir: Path) -> Path:
    d = workdir / g.name
    d.mkdir(parents=True, exist_ok=True)
    lines = ["server:"]
    lines += [f"    ip-address: {a}" for a in g.addresses]
    lines += [
        "    port: 53",
        "    do-ip4: yes",
        "    do-ip6: no",
        "    server-count: 1",
        '    username: ""',
        '    chroot: ""',
        f'    zonesdir: "{d}"',
        f'    pidfile: "{d}/nsd.pid"',
        '    database: ""',
        f'    zonelistfile: "{d}/zone.list"',
        f'    xfrdfile: "{d}/xfrd.state"',
        f'    xfrdir: "{d}"',
        "    verbosity: 0",
        "    hide-version: yes",
        # Like the Python lab: no NS RRset in the authority section of positive answers.
        "    minimal-responses: yes",
        # Debian builds NSD with response rate limiting (200 answers/s per /24 by default):
        # the resolver under test is one client sending thousands of questions a second.
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        # Nothing to notify or transfer: the lab's zones are all primaries without peers.
        "    zonefiles-check: no",
        "remote-control:",
        "    control-enable: no",
    ]
    for origin, path in g.zones:
        lines += ["zone:", f'    name: "{origin}"', f'    zonefile: "{path}"']
    conf = d / "nsd.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _answers(address: str, origin: str) -> bool:
    """One SOA question over UDP; True if the server answered it with NOERROR."""
    q = dns.message.make_query(origin, dns.rdatatype.SOA)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(PROBE_TIMEOUT)
        sock.sendto(q.to_wire(), (address, 53))
        try:
            wire, _ = sock.recvfrom(65535)
        except OSError:
            return False
    r = dns.message.from_wire(wire)
    return r.id == q.id and r.rcode() == 0


class NsdLab:
    """The NSD processes of one lab; ``pids()`` includes their forked children."""

    def __init__(self, procs: list[Proc], hints: Path, world: World, anchor: Path) -> None:
        self.procs = procs
        self.hints = hints
        self.anchor = anchor
        self.world = world

    def pids(self) -> list[int]:
        """Every live process of every NSD (main, xfrd and the server child)."""
        out: list[int] = []
        for p in self.procs:
            out += _descendants(p.pid)
        return out

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                total += cpu_seconds(pid)
            except OSError:  # a process that went away between listing and reading
                continue
        return total

    def stop(self) -> None:
        errors: list[BaseException] = []
        for p in self.procs:
            try:
                p.stop()
            except BaseException as e:  # stop the others all the same
                errors.append(e)
        if errors:
            raise errors[0]


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def start(net: str, domains: int, workdir: Path, nsd: str) -> NsdLab:
    """Render the world, start one NSD per group, wait until each answers on every address."""
    t0 = time.monotonic()
    world = build_world(net, domains)
    groups = plan(world, workdir / "zones")
    hints = workdir / "root.hints"
    hints.write_text(world.root_hints_text, encoding="utf-8")
    anchor = workdir / "trust-anchor.ds"
    anchor.write_text(world.trust_anchor_text, encoding="utf-8")
    procs: list[Proc] = []
    try:
        for g in groups:
            conf = nsd_conf(g, workdir)
            procs.append(Proc(g.name, [nsd, "-d", "-c", str(conf)], workdir / f"{g.name}.log"))
        for p in procs:
            p.wait_for(r"nsd started", READY_TIMEOUT)
        # "nsd started" comes before the zones are loaded: ask each address for one of its
        # zones (or, for the lame ones, anything) until it answers, within the deadline.
        deadline = time.monotonic() + READY_TIMEOUT
        for g in groups:
            origin = g.zones[0][0] if g.zones else None
            for a in g.addresses:
                while origin is not None and not _answers(a, origin):
                    for p in procs:
                        if p.popen.poll() is not None:
                            raise ProcError(f"{p.name} exited; see {p.log_path}")
                    if time.monotonic() > deadline:
                        raise ProcError(f"{g.name}: {a} does not answer for {origin}")
    except BaseException:
        for p in procs:
            p.stop()
        raise
    lab = NsdLab(procs, hints, world, anchor)
    print(
        f"[nsd] {len(groups)} NSD processes, {sum(len(g.zones) for g in groups)} zones, "
        f"ready in {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    return lab
