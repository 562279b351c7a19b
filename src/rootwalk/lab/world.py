"""The lab's world (zone files + servers.toml) and ``Lab``, which runs it on loopback.

Zone files live in the ``world/`` directory next to this module, one per origin
(``<origin>.zone``, ``root.zone`` for the root); ``world/servers.toml`` says which server (host
name, address) serves which zones. Addresses are written ``${NET}.0.N`` and substituted with the
lab's net prefix (``"127.A"``) before parsing.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib.resources
import ipaddress
import logging
import random
import re
import shutil
import string
import tempfile
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import dns.name
import dns.zone

from rootwalk.lab import signing, synth
from rootwalk.lab.authserver import AuthServer, ZoneData
from rootwalk.lab.faults import Faults
from rootwalk.lab.web import WebServer, web_address

__all__ = [
    "DEFAULT_NET",
    "DEFAULT_PORT",
    "Lab",
    "ServerSpec",
    "World",
    "build_world",
    "load_spec",
    "zone_file_name",
]

log = logging.getLogger(__name__)

#: Defaults of ``rootwalk lab up``.
DEFAULT_NET = "127.0"
DEFAULT_PORT = 53
#: Range of random ports and of random second octets (``127.A``).
RANDOM_PORTS = (20000, 60999)
RANDOM_NETS = (10, 250)
#: How many random choices ``Lab.start`` tries before giving up on "address in use".
START_TRIES = 20
#: Longest wait for the lab thread to bind everything or to stop.
THREAD_TIMEOUT = 60.0
#: TTL of the root hints records (as in IANA's named.cache).
HINTS_TTL = 3600000

_NET_RE = re.compile(r"127\.(\d{1,3})")


@dataclass(frozen=True)
class ServerSpec:
    """One server of the world: host name (with the trailing dot), address, zones it serves."""

    name: str
    address: str
    zones: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass
class World:
    """Everything a lab serves, for one net prefix; built by ``build_world``."""

    net: str
    servers: list[ServerSpec]
    zones: dict[dns.name.Name, ZoneData]
    """The core zones by origin (com./net./org. include the synthetic delegations)."""
    server_zones: dict[str, dict[dns.name.Name, ZoneData]]
    """For each server address, its origin -> zone map."""
    synthetic_domains: list[str] = field(default_factory=list)

    @property
    def signed_zones(self) -> dict[dns.name.Name, signing.SignedZone]:
        """The signed zones by origin (keys, chain, validity window)."""
        return {o: zd.signed for o, zd in self.zones.items() if zd.signed is not None}

    @property
    def anchored_zones(self) -> list[dns.name.Name]:
        """Signed zones no signed parent vouches for: the root and the islands (island.test),
        whose DS records make the lab's trust anchor."""
        signed = self.signed_zones
        return [o for o in sorted(signed) if _parent_zone(o, self.zones) not in signed]

    @property
    def trust_anchor_text(self) -> str:
        """The lab's trust anchor: DS records (SHA-256) of the root's and the islands' KSKs, in
        zone-file presentation ([dnssec] trust_anchor_file, Unbound's trust-anchor-file)."""
        lines = [
            "; Trust anchor of a rootwalk lab (rootwalk.lab): DS records of the lab's root KSK",
            "; and of the signed islands below unsigned parents. Keys are made per process.",
        ]
        for origin in self.anchored_zones:
            zs = self.signed_zones[origin]
            lines.append(f"{origin.to_text()} {signing.DNSKEY_TTL} IN DS {zs.keys.ds().to_text()}")
        return "\n".join(lines) + "\n"

    @property
    def root_hints_text(self) -> str:
        """Root hints in the format of IANA's named.cache (IPv4 only)."""
        lines = [
            "; Root hints of a rootwalk lab (rootwalk.lab): the lab's root servers.",
            f"; Net {self.net}; every server listens on the lab's port.",
        ]
        roots = [s for s in self.servers if "." in s.zones]
        for s in roots:
            lines.append(f".{' ' * 24}{HINTS_TTL}  NS  {s.name}")
        for s in roots:
            lines.append(f"{s.name:<25}{HINTS_TTL}  A   {s.address}")
        return "\n".join(lines) + "\n"


def check_net(net: str) -> str:
    """Validate a net prefix ``"127.A"`` (A in 0..255) and return it."""
    m = _NET_RE.fullmatch(net)
    if m is None or int(m.group(1)) > 255:
        raise ValueError(f"net must look like 127.A with A in 0..255, not {net!r}")
    return net


def zone_file_name(origin: str) -> str:
    """The file of a zone in the world directory: ``root.zone`` or ``example.com.zone``."""
    origin = origin.rstrip(".").lower()
    return "root.zone" if origin == "" else f"{origin}.zone"


@functools.cache
def _world_file(name: str) -> str:
    return importlib.resources.files("rootwalk.lab").joinpath("world", name).read_text("utf-8")


def load_spec(net: str) -> list[ServerSpec]:
    """The core servers of ``world/servers.toml`` for a net prefix."""
    text = string.Template(_world_file("servers.toml")).substitute(NET=check_net(net))
    servers = []
    for entry in tomllib.loads(text)["server"]:
        address = str(entry["address"])
        ip = ipaddress.IPv4Address(address)
        if not address.startswith(f"{net}.0.") or address == f"{net}.0.1" or ip.is_unspecified:
            raise ValueError(f"servers.toml: {address} is not a core address {net}.0.N (N > 1)")
        servers.append(
            ServerSpec(
                name=str(dns.name.from_text(entry["name"])).lower(),
                address=address,
                zones=tuple(str(dns.name.from_text(z)) for z in entry.get("zones", [])),
                aliases=tuple(str(dns.name.from_text(a)).lower() for a in entry.get("aliases", [])),
            )
        )
    return servers


def load_zone(origin: str, net: str) -> ZoneData:
    """Parse one zone file of the world for a net prefix."""
    text = string.Template(_world_file(zone_file_name(origin))).safe_substitute(NET=net)
    zone = dns.zone.from_text(
        text, origin=dns.name.from_text(origin), relativize=True, filename=zone_file_name(origin)
    )
    return ZoneData(dict(zone.nodes))


def _parent_zone(
    origin: dns.name.Name, zones: Mapping[dns.name.Name, ZoneData]
) -> dns.name.Name | None:
    """The nearest enclosing zone of the world (the one holding the cut), if any."""
    name = origin
    while name != dns.name.root:
        name = name.parent()
        if name in zones:
            return name
    return None


def sign_world(zones: Mapping[dns.name.Name, ZoneData]) -> None:
    """Sign the zones of ``signing.PLAN`` in place, children first, so that each signed
    parent publishes the DS of its signed children."""
    child_ds: dict[dns.name.Name, dict[dns.name.Name, list[Any]]] = {}
    for origin in sorted(zones, key=len, reverse=True):
        plan = signing.PLAN.get(origin)
        if plan is None:
            continue
        zd = zones[origin]
        zd.signed = signing.sign_zone(zd.nodes, origin, plan, child_ds.get(origin))
        parent = _parent_zone(origin, zones)
        if parent is not None and parent in signing.PLAN:
            rel = origin.relativize(parent)
            child_ds.setdefault(parent, {})[rel] = [zd.signed.keys.ds()]


def _load_core(net: str) -> tuple[list[ServerSpec], dict[dns.name.Name, ZoneData]]:
    specs = load_spec(check_net(net))
    origins = sorted({z for s in specs for z in s.zones})
    zones = {dns.name.from_text(o): load_zone(o, net) for o in origins}
    sign_world(zones)
    return specs, zones


@functools.lru_cache(maxsize=16)
def _core(net: str) -> tuple[list[ServerSpec], dict[dns.name.Name, ZoneData]]:
    """The signed core world of a net prefix, built once per process: labs of the same net
    share its (read-only) zone data."""
    return _load_core(net)


def build_world(net: str, domains: int = 0) -> World:
    """Load the core world for ``net`` (signed) and add ``domains`` synthetic domains."""
    if domains:
        specs, zones = _load_core(net)  # synthetic delegations change the TLD zones: a copy
    else:
        cached_specs, cached_zones = _core(net)
        specs, zones = list(cached_specs), dict(cached_zones)
    server_zones = {
        s.address: {dns.name.from_text(z): zones[dns.name.from_text(z)] for z in s.zones}
        for s in specs
    }
    names: list[str] = []
    if domains:
        names, maps = synth.build_synthetic(net, domains, zones)
        for k, zmap in enumerate(maps, start=1):
            address = f"{net}.1.{k}"
            specs.append(ServerSpec(name=f"synthetic-{k}", address=address, zones=()))
            server_zones[address] = zmap
        # The synthetic delegations are unsigned. com. is opt-out: they need no NSEC3. net.
        # (NSEC) and org. (NSEC3) must prove each one has no DS: their chains are remade, and
        # signed as they are served (thousands of signatures would slow the lab's start).
        for tld in synth.TLDS:
            zd = zones[dns.name.from_text(tld)]
            if zd.signed is not None and not zd.signed.opt_out:
                zd.signed.build_chain(zd.nodes, lazy=True)
    return World(net, specs, zones, server_zones, names)


class ServerDirectory:
    """The lab's servers by address and by host name, with the helpers tests use on them;
    shared by ``Lab`` (sockets) and ``rootwalk.lab.inprocess.InLab`` (none)."""

    servers: dict[str, AuthServer]
    _by_name: dict[str, AuthServer]

    def _index(self, servers: list[AuthServer]) -> None:
        self.servers = {s.address: s for s in servers}
        self._by_name = {}
        for s in servers:
            for key in (s.name, *s.aliases):
                self._by_name[key.lower().rstrip(".")] = s

    def server(self, key: str) -> AuthServer:
        """A server by address (``127.A.0.20``) or host name (``ns1.example.com``)."""
        srv = self.servers.get(key) or self._by_name.get(key.lower().rstrip("."))
        if srv is None:
            raise KeyError(f"no lab server {key!r}")
        return srv

    def servers_for(self, zone: str) -> list[AuthServer]:
        """The servers that serve ``zone`` (e.g. ``"example.com"``)."""
        name = dns.name.from_text(zone)
        return [s for s in self.servers.values() if s.serves(name)]

    def reset_counters(self) -> None:
        for s in self.servers.values():
            s.reset_counters()

    def clear_faults(self) -> None:
        for s in self.servers.values():
            s.faults = Faults()


class Lab(ServerDirectory):
    """A simulated internet on loopback: the world's servers, each on UDP and TCP.

    ``Lab()`` picks a random port and net prefix (and retries on "address in use"), so
    several labs can run at once. Use it as a context manager, or call start() and stop().
    """

    def __init__(self, net: str | None = None, port: int | None = None, domains: int = 0) -> None:
        if net is not None:
            check_net(net)
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port must be in 1..65535, not {port}")
        if not 0 <= domains <= synth.MAX_DOMAINS:
            raise ValueError(f"domains must be in 0..{synth.MAX_DOMAINS}, not {domains}")
        self._want_net = net
        self._want_port = port
        self.domains = domains
        self.net = net or ""
        self.port = port or 0
        self.servers: dict[str, AuthServer] = {}
        self.world: World | None = None
        self._by_name: dict[str, AuthServer] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: Path | None = None
        self.web: WebServer | None = None  # web.example.com's page (lab/web.py)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab net={self.net or '?'} port={self.port or '?'} {state}>"

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    # -- start / stop ---------------------------------------------------------------------

    def start(self) -> Lab:
        """Bind every server; returns once all sockets are bound (raises OSError if not)."""
        if self._thread is not None:
            raise RuntimeError("this lab is already running")
        rnd = random.SystemRandom()
        tries = 1 if (self._want_net and self._want_port) else START_TRIES
        world: World | None = None
        for attempt in range(tries):
            if self._want_net:
                net = self._want_net
            elif world is not None and self._want_port is None:
                net = world.net  # only the port changes: keep the world already built
            else:
                net = f"127.{rnd.randint(*RANDOM_NETS)}"
            port = self._want_port or rnd.randint(*RANDOM_PORTS)
            if world is None or world.net != net:
                world = build_world(net, self.domains)
            servers = [
                AuthServer(s.address, port, s.name, world.server_zones[s.address], s.aliases)
                for s in world.servers
            ]
            site = WebServer(web_address(net), port)
            try:
                self._launch([*servers, site])
            except OSError as e:
                if e.errno == errno.EADDRINUSE and attempt + 1 < tries:
                    log.debug("lab: %s, trying other random choices", e)
                    continue
                raise
            self.net, self.port, self.world = net, port, world
            self._index(servers)
            self.web = site
            self._tmpdir = Path(tempfile.mkdtemp(prefix="rootwalk-lab-"))
            self.root_hints_path.write_text(self.root_hints_text, encoding="utf-8")
            self.trust_anchor_path.write_text(self.trust_anchor_text, encoding="utf-8")
            self.config_path.write_text(self.resolver_config_text, encoding="utf-8")
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, servers: list[AuthServer | WebServer]) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def bind_all() -> None:
            try:
                for s in servers:
                    await s.start()
            except BaseException:
                await close_all()
                raise

        async def close_all() -> None:
            for s in servers:
                await s.close()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(bind_all())
                except BaseException as e:
                    failure.append(e)
                    return
                finally:
                    ready.set()
                loop.run_forever()
                loop.run_until_complete(close_all())
            finally:
                loop.close()

        thread = threading.Thread(target=main, name="rootwalk-lab", daemon=True)
        thread.start()
        if not ready.wait(THREAD_TIMEOUT):
            loop.call_soon_threadsafe(loop.stop)
            raise OSError(errno.ETIMEDOUT, "the lab did not finish binding its sockets")
        if failure:
            thread.join(THREAD_TIMEOUT)
            raise failure[0]
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        """Close every socket, stop the lab's thread and remove its temporary files."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(THREAD_TIMEOUT)
        self._loop = self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    # -- what it serves -------------------------------------------------------------------

    @property
    def root_hints_text(self) -> str:
        """Root hints naming the lab's root servers (named.cache format, IPv4 only)."""
        if self.world is None:
            raise RuntimeError("the lab is not started")
        return self.world.root_hints_text

    @property
    def root_hints_path(self) -> Path:
        """A root hints file the lab wrote (removed by stop())."""
        if self._tmpdir is None:
            raise RuntimeError("the lab is not started")
        return self._tmpdir / "root.hints"

    @property
    def trust_anchor_text(self) -> str:
        """The lab's trust anchor (DS of the lab root's KSK and of island.test's)."""
        if self.world is None:
            raise RuntimeError("the lab is not started")
        return self.world.trust_anchor_text

    @property
    def trust_anchor_path(self) -> Path:
        """The trust anchor file the lab wrote beside its root hints (removed by stop())."""
        if self._tmpdir is None:
            raise RuntimeError("the lab is not started")
        return self._tmpdir / "trust-anchor.ds"

    @property
    def config_path(self) -> Path:
        """A rootwalk configuration file for resolving in this lab (removed by stop())."""
        if self._tmpdir is None:
            raise RuntimeError("the lab is not started")
        return self._tmpdir / "rootwalk.toml"

    @property
    def resolver_config_text(self) -> str:
        """The [resolver] and [dnssec] tables that point rootwalk at this lab and nowhere else,
        with the lab's own trust anchor (the real root's keys sign nothing here)."""
        return (
            "# Written by the rootwalk lab: resolve in the simulated internet on loopback.\n"
            "[resolver]\n"
            f'root_hints = "{self.root_hints_path}"\n'
            f"upstream_port = {self.port}\n"
            "# Nothing may leave the machine, and the lab's servers live on 127.x addresses.\n"
            'upstream_allow = ["127.0.0.0/8"]\n'
            "do_not_query_localhost = false\n"
            "\n[dnssec]\n"
            f'trust_anchor_file = "{self.trust_anchor_path}"\n'
        )

    @property
    def synthetic_domains(self) -> list[str]:
        """The synthetic domain names, e.g. ``d000042.com.``."""
        return self.world.synthetic_domains if self.world is not None else []

    def addr(self, n: int, block: int = 0) -> str:
        """The lab address ``{net}.{block}.{n}`` (core servers: block 0; synthetic: 1)."""
        if not self.net:
            raise RuntimeError("the lab is not started")
        return f"{self.net}.{block}.{n}"
