"""Typed configuration: frozen dataclasses, parsed once from TOML, strict about unknown keys.

Each component receives only its slice (``Cache(config.cache, clock)``), so a component's
constructor documents exactly which settings it depends on. Every key is documented in
docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import ipaddress
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name

from rootwalk.errors import ConfigError
from rootwalk.wire.names import from_text, label_count

__all__ = [
    "ACL_ACTIONS",
    "CacheConfig",
    "Config",
    "ForwardZone",
    "Limits",
    "LOG_LEVELS",
    "LOG_FORMATS",
    "ResolverConfig",
    "ServerConfig",
    "default_root_hints",
    "format_listen",
    "load_config",
    "parse_access_entry",
    "parse_config",
    "parse_forward_address",
    "parse_listen",
]

#: Access-control actions, as Unbound's ``access-control`` (see docs/configuration.md).
ACL_ACTIONS = ("allow", "allow_snoop", "refuse", "deny")
#: Values of ``server.log_level``.
LOG_LEVELS = ("debug", "info", "warning", "error")
#: Values of ``resolver.qname_minimisation_type``.
QMIN_TYPES = ("A", "NS")
#: Values of ``server.log_format``.
LOG_FORMATS = ("auto", "text", "journal", "json")
#: Values of ``server.event_loop``.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def default_root_hints() -> Path:
    """The IANA root hints shipped with the package (a copy of the repository's root.hints)."""
    return Path(__file__).with_name("root.hints")


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one client question may cause (guide §8), and on the resolutions in
    progress at once.

    Each limit has a known attack or failure behind it: delegation and CNAME loops, NXNS-style
    amplification (glueless NS sets that fan out into many sub-queries), lame servers that
    never answer, and floods of never-seen names (random-subdomain attacks).
    """

    # Referrals followed for one (sub-)question. Unbound: MAX_REFERRAL_COUNT 130; Knot's
    # iteration limit is 100. Real hierarchies are < 10 deep, so 30 is generous.
    max_referrals: int = 30
    # CNAME/DNAME links followed for one client question. Knot: KR_CNAME_CHAIN_LIMIT 13.
    max_cname_chain: int = 12
    # Nesting of sub-resolutions for glueless NS addresses. Hickory recursion_limit is 24, but
    # each level multiplies work; 5 covers any sane deployment.
    max_subquery_depth: int = 5
    # Upstream queries sent for one client question, sub-resolutions included. Unbound:
    # MAX_TARGET_COUNT 64 targets; Knot KR_ITER_LIMIT 100 iterations.
    max_upstream_queries: int = 64
    # Glueless NS names resolved per delegation (NXNS defence). Knot: KR_COUNT_NO_NSADDR_LIMIT 5.
    max_ns_lookups: int = 5
    # Timeouts one server address may have for one question before it is given up for that
    # question (each retry waits twice as long, RFC 6298 §5.5). Unbound outbound-msg-retry: 5.
    # A busy authority drops or delays the odd packet; one timeout must not fail a question.
    max_server_timeouts: int = 3
    # Timeout for one upstream query before the server is considered to have timed out, when
    # no RTT is known yet. Unbound starts at 376 ms (UNKNOWN_SERVER_NICENESS): a dead server
    # in an NS set costs that much once before its siblings are tried.
    initial_timeout: float = 0.376
    # Floor for the adaptive per-query timeout (SRTT + 4 RTTVAR): below it, scheduling noise on
    # a loaded host causes spurious timeouts. Unbound's RTT_MIN_TIMEOUT is 50 ms; Python
    # needs more slack.
    min_timeout: float = 0.2
    # Upper bound for one upstream try, backoff included (Unbound keeps RTT_MAX_TIMEOUT 120 s
    # for its bookkeeping; a per-try bound well under the total keeps siblings in play).
    max_timeout: float = 1.5
    # Wall time for one client question, everything included; then SERVFAIL with EDE. Stub
    # resolvers give up after 5 s (glibc's resolv.conf timeout, dig +timeout), so the answer,
    # even a SERVFAIL, must be on its way before that: 3.5 s leaves margin for the stub's side.
    total_timeout: float = 3.5
    # Distinct resolutions (cache misses) in progress at once; identical questions share one.
    # Without a bound, a flood of never-seen names grows memory and upstream work without
    # limit. Unbound num-queries-per-thread: 1024 with libevent, 512 without.
    max_resolutions: int = 1000
    # Seconds after which a resolution may be pushed out of a full table by a new question.
    # Unbound jostle-timeout (200 ms, about one round trip to an authority): a question still
    # unanswered after that is likely to fail anyway, and under a flood the new questions are
    # more likely to come from real clients than the old ones.
    jostle_timeout: float = 0.2


@dataclass(frozen=True)
class CacheConfig:
    """RRset, negative and infrastructure caches."""

    max_entries: int = 200_000
    # Rendered answers kept as wire bytes for the cache-hit fast path (server/wirecache.py),
    # derived from the RRset cache; 0 turns the fast path off. Unbound's msg-cache plays the
    # same part.
    wire_answers: int = 20_000
    # RFC 8767 §4 and Unbound's cache-max-ttl: cap TTLs so a mistake upstream cannot pin data.
    max_ttl: int = 86_400
    min_ttl: int = 0
    # Unbound cache-max-negative-ttl default is 3600.
    max_negative_ttl: int = 3_600
    # RFC 8767: serve expired data when every authoritative server is unreachable.
    serve_stale: bool = True
    # RFC 8767 §4 recommends 30 s for the TTL of a stale answer.
    stale_answer_ttl: int = 30
    # How long past expiry data may still be served stale (RFC 8767 §4: 1 to 3 days).
    max_stale: int = 86_400
    # RFC 8767 §5 client response timer: seconds a client waits for a resolution before the
    # expired data is answered; the resolution goes on and refreshes the cache. RFC 8767 and
    # Unbound's serve-expired-client-timeout: 1.8 s. 0: answer expired data at once and
    # refresh behind it (Unbound's value 0, "optimistic" caching).
    stale_client_timeout: float = 1.8
    # RFC 8767 §4/§5 failure recheck timer: after a refresh failed, expired data is answered
    # at once and the authorities are not asked for it again for this many seconds (30 s is
    # what RFC 8767 suggests); 0: every question tries again.
    stale_failure_recheck: float = 30.0
    # Unbound prefetch: a question answered from the cache in the last 10 % of its TTL starts
    # a refresh in the background, so popular names never go cold.
    prefetch: bool = True
    # Warm start: the cache is saved here on shutdown and loaded at start (cache/persist.py);
    # "" (the default) is off.
    warm_start_file: str = ""


@dataclass(frozen=True)
class ForwardZone:
    """Questions at or below ``name`` go to these servers instead of being walked (Unbound
    ``forward-zone``). Addresses are ``IP`` or ``IP@PORT``; queries carry RD=1."""

    name: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolverConfig:
    """The iterative engine and its upstream transport."""

    root_hints: Path = field(default_factory=default_root_hints)
    # Port of authoritative servers. 53 in real life; the lab and the tests use a high port
    # so that nothing needs privileges.
    upstream_port: int = 53
    # Networks upstream queries may be sent to; empty means anywhere. Tests and the demo set
    # 127.0.0.0/8 so that a bug can never send a packet off the machine.
    upstream_allow: tuple[str, ...] = ()
    qname_minimisation: bool = True
    # QTYPE of minimised queries: "A" (RFC 9156 §3, Unbound) or "NS" (RFC 7816, Knot
    # Resolver). Some authorities answer a minimised A query wrongly but NS correctly.
    qname_minimisation_type: str = "A"
    # Unbound's do-not-query-localhost: never send upstream queries to 127.0.0.0/8, ::1,
    # 0.0.0.0/8 or ::, wherever a delegation points (a zone whose NS has address 127.0.0.1
    # would make the resolver query the machine it runs on). Forward-zone addresses are the
    # operator's own choice and are exempt. The lab, its demo and the tests set it false.
    do_not_query_localhost: bool = True
    # Ask upstream with the DO bit (RFC 3225) even with validation off ([dnssec] enabled =
    # false). A validating resolver always asks with DO, whatever this says.
    dnssec_ok: bool = False
    # DNS 0x20: random letter case in upstream questions (draft-vixie-dnsext-dns0x20).
    use_0x20: bool = False
    # RFC 9715 / DNS flag day 2020: 1232 avoids IP fragmentation on common paths.
    edns_payload: int = 1232
    # Send queries to IPv6 server addresses as well as IPv4.
    ipv6: bool = True
    # Zones answered by other (recursive or authoritative) servers, e.g. an internal
    # "corp.example" on the LAN. TOML: forward_zones = [{name = "corp.example",
    # addresses = ["10.0.0.53", "10.0.0.54@5353"]}]
    forward_zones: tuple[ForwardZone, ...] = ()

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return list(self.networks)

    # Typed forms of the text settings, parsed once per configuration (the engine reads them
    # for every server it picks). Valid text is guaranteed by _validate before use.
    @functools.cached_property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``upstream_allow`` as networks."""
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.upstream_allow)

    @functools.cached_property
    def forwards(self) -> tuple[tuple[bytes, tuple[tuple[str, int], ...]], ...]:
        """``forward_zones`` as (wire name, ((address, port), ...)), deepest zone first so that
        the most specific one wins."""
        zones = [
            (
                from_text(fz.name),
                tuple(parse_forward_address(a, self.upstream_port) for a in fz.addresses),
            )
            for fz in self.forward_zones
        ]
        return tuple(sorted(zones, key=lambda z: label_count(z[0]), reverse=True))


@dataclass(frozen=True)
class ServerConfig:
    """The front end (``rootwalk serve``): sockets, access control, logging, processes."""

    # Addresses to serve on, UDP and TCP each; IPv6 in brackets. Unbound's default: the
    # loopback addresses only, so that a fresh install is never an open resolver.
    listen: tuple[str, ...] = ("127.0.0.1:53", "[::1]:53")
    # Bind listen addresses that are not (yet) configured on an interface (IP_FREEBIND,
    # Linux), as Unbound's ip-freebind: for a LAN address that comes up after rootwalk.
    freebind: bool = False
    # "NETWORK ACTION" entries added to the built-in list (loopback and private networks
    # allowed, everything else refused); the longest matching prefix wins.
    access_control: tuple[str, ...] = ()
    # RFC 7766 §6.2.3: close an idle TCP connection after some seconds (Unbound tcp-idle-timeout
    # is 30 s; 10 s keeps connection slots free for stub clients that retry over TCP).
    tcp_idle_timeout: float = 10.0
    # Open TCP connections at once; further connections are closed on arrival.
    max_tcp_connections: int = 256
    # Questions in progress on one TCP connection (pipelining, RFC 7766 §6.2.1.1); reading
    # pauses at the limit.
    max_tcp_pipeline: int = 64
    # Client questions being answered at once, all transports together; UDP questions beyond
    # it are dropped (the client retries), TCP ones wait.
    max_inflight: int = 4096
    # Bytes asked of the kernel for each UDP socket's receive queue (SO_RCVBUF; 0: the system
    # default, net.core.rmem_default). Linux doubles the value and caps the request at
    # net.core.rmem_max; the effective size is logged at start. A question costs about 830
    # bytes of it on loopback, so the default queues about 630 questions: a fraction of a
    # second of cache misses. A deeper queue only holds questions that stubs have given up on
    # by the time they are read (docs/configuration.md, "Overload").
    udp_rcvbuf: int = 262_144
    # Seconds after which a UDP question read from the socket is not worth an answer: work
    # not yet started is not started, and an answer ready later is not sent (the resolution
    # still fills the cache). Above limits.total_timeout, below a stub's 5 s timeout; Unbound
    # discard-timeout and sock-queue-timeout do the same.
    client_deadline: float = 4.5
    # Largest UDP answer (EDNS payload advertised to clients, RFC 9715 / DNS flag day 2020).
    edns_payload: int = 1232
    # One log line per answered question (client, name, type, rcode, latency, cache).
    query_log: bool = False
    # Where the query log goes: empty for the server log (stderr); a file is reopened on
    # SIGHUP, after logrotate has moved it (docs/configuration.md, "Logging").
    query_log_file: str = ""
    log_level: str = "info"
    # "text" (timestamps), "journal" (syslog priority prefixes, no timestamps: journald adds
    # them), "json" (one object a line); "auto": journal when stderr is the journal's stream
    # (JOURNAL_STREAM, systemd.exec(5)), else text.
    log_format: str = "auto"
    # "auto": uvloop when it is installed (its UDP and TCP transports cost about half as
    # much per packet), else asyncio's own loop; "uvloop" insists; "asyncio" never uses it.
    event_loop: str = "auto"
    # Processes serving the same sockets, each with its own cache (SO_REUSEPORT).
    workers: int = 1
    # On SIGTERM/SIGINT: seconds allowed for questions in progress before exiting.
    shutdown_timeout: float = 2.0
    # Unbound-style local zones ("home.arpa static") and local data ("nas.home.arpa A 10.0.0.2"),
    # answered without resolving; PTR records derived for local A/AAAA data.
    local_zone: tuple[str, ...] = ()
    local_data: tuple[str, ...] = ()
    local_data_ptr: bool = True
    # A hosts file answered as local data (server/hosts.py): "auto" reads /etc/hosts when
    # every listen address is loopback (as systemd-resolved), "off", or a path.
    hosts_file: str = "auto"
    # Hosts files, domain lists or adblock lists, as paths or http(s) URLs; listed names and
    # the names below them are blocked (docs/blocklists.md). Allowlists: never blocked.
    blocklists: tuple[str, ...] = ()
    allowlists: tuple[str, ...] = ()
    # Seconds between downloads of the URL lists (0: only when no copy is kept yet); daily,
    # as AdGuard Home: lists change daily, Pi-hole's weekly gravity lags behind them.
    blocklist_refresh: float = 86_400.0
    # Where downloaded lists are kept ("": blocklists/ in the state directory).
    blocklist_cache: str = ""
    # "nxdomain", or "null" (0.0.0.0 / :: for A / AAAA).
    blocklist_action: str = "nxdomain"
    # Unix socket for `rootwalk ctl` (stats, flush, dump-cache, reload). Empty: `rootwalk
    # serve` picks control.sock in its run directory (rootwalk/paths.py); "off": none.
    control_socket: str = ""
    # ADDR:PORT of a Prometheus /metrics HTTP endpoint (and GET /api/explain); empty: off.
    metrics_listen: str = ""
    # The walk log (server/walks.py): the last N resolutions that walked, step by step, for
    # `rootwalk ctl explain`, /api/explain and the dashboard. 0: off (no trace is built):
    # recording costs 3-23 % of a cold resolution's CPU (docs/explain.md), so it is opt-in.
    record_walks: int = 0
    # ADDR:PORT of the live dashboard (docs/dashboard.md); empty: off. Meant for loopback:
    # any other address needs dashboard_token, which every request must then carry.
    dashboard_listen: str = ""
    dashboard_token: str = ""
    # Rebinding protection (server/rebind.py, Unbound's private-address): A/AAAA records with
    # these networks' addresses are removed from answers for names outside private_domains
    # (and outside the forward zones). Empty: off, as Unbound.
    private_addresses: tuple[str, ...] = ()
    private_domains: tuple[str, ...] = ()
    # Client rate limiting over UDP (server/ratelimit.py, Unbound's ip-ratelimit): questions
    # per second per client prefix; 0: off. Burst: the bucket's depth (0: twice the rate).
    # Per address by default, as Unbound; BIND's RRL uses /24 and /56.
    client_rate_limit: float = 0.0
    client_rate_burst: int = 0
    client_rate_prefix_v4: int = 32
    client_rate_prefix_v6: int = 128
    # "drop": no answer at all (Unbound; measured to protect the other clients best under a
    # flood that ignores TC); "truncate": an empty TC=1 answer, so a real client retries over
    # TCP (not limited: TCP proves the source address).
    client_rate_action: str = "drop"


@dataclass(frozen=True)
class DnssecConfig:
    """DNSSEC validation (RFC 4033-4035): on by default, as in Unbound, Knot Resolver, BIND."""

    enabled: bool = True
    # DS or DNSKEY lines in zone-file presentation, for any zones (Unbound's
    # trust-anchor-file); replaces the built-in root anchor (root.ds, KSK-2017 and KSK-2024).
    # Empty: the built-in one.
    trust_anchor_file: str = ""
    # RFC 7646: names below which nothing is validated (a zone whose DNSSEC is known broken).
    negative_trust_anchors: tuple[str, ...] = ()
    # RFC 8198: answer NXDOMAIN/NODATA from cached, validated NSEC/NSEC3 records.
    aggressive_nsec: bool = True
    # How long a bogus answer is remembered (Unbound val-bogus-ttl), so a broken zone is
    # not validated again on every question.
    bogus_ttl: int = 60

    @functools.cached_property
    def anchor_path(self) -> Path:
        from rootwalk.dnssec.anchors import default_anchor_file

        return Path(self.trust_anchor_file) if self.trust_anchor_file else default_anchor_file()

    @functools.cached_property
    def negative_anchors(self) -> tuple[bytes, ...]:
        """``negative_trust_anchors`` as wire names."""
        return tuple(from_text(n) for n in self.negative_trust_anchors)


@dataclass(frozen=True)
class Config:
    """The whole configuration, one slice per component."""

    resolver: ResolverConfig = field(default_factory=ResolverConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    limits: Limits = field(default_factory=Limits)
    server: ServerConfig = field(default_factory=ServerConfig)
    dnssec: DnssecConfig = field(default_factory=DnssecConfig)


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:53"`` or ``"[::1]:5300"`` to (address, port). Raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError("IPv6 addresses are written [ADDR]:PORT, e.g. [::1]:53")
        if ipaddress.ip_address(host.split("%", 1)[0]).version != 6:
            raise ValueError("only IPv6 addresses go in brackets")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError("expected ADDR:PORT, e.g. 127.0.0.1:53")
        if ipaddress.ip_address(host).version != 4:
            raise ValueError("IPv6 addresses are written [ADDR]:PORT, e.g. [::1]:53")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 0..65535, not {port_text!r}")
    return host, int(port_text)


def parse_forward_address(text: str, default_port: int = 53) -> tuple[str, int]:
    """``"192.0.2.1"`` or ``"192.0.2.1@5353"`` (Unbound's notation) to (address, port)."""
    host, sep, port_text = text.strip().partition("@")
    ipaddress.ip_address(host)
    if not sep:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 1..65535, not {port_text!r}")
    return host, int(port_text)


def format_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_access_entry(
    text: str,
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]:
    """``"192.168.0.0/16 allow"`` to (network, action). Raises ValueError."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError("expected 'NETWORK ACTION', e.g. '192.168.0.0/16 allow'")
    net = ipaddress.ip_network(parts[0], strict=False)
    action = parts[1].lower().replace("-", "_")
    if action not in ACL_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACL_ACTIONS)}, not {parts[1]!r}")
    return net, action


def load_config(path: Path | str) -> Config:
    """Read and validate a TOML file. Raises ConfigError with one line naming the bad key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Build a Config from an already-parsed mapping, strictly."""
    config: Config = _build(Config, data, prefix="", source=source)
    _validate(config, source)
    return config


def _build(cls: type[Any], data: Any, prefix: str, source: str) -> Any:
    """Map a TOML table onto dataclass ``cls``: unknown keys and wrong types are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key '{prefix}{key}' (known here: {known})")
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{key}", source)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, source: str) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, prefix=f"{key}.", source=source)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key, source)
    if origin is tuple:
        (item,) = typing.get_args(tp)[:1]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: '{key}' must be a list, not {_tname(value)}")
        return tuple(_coerce(item, v, f"{key}[{i}]", source) for i, v in enumerate(value))
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a path string, not {_tname(value)}")
        return Path(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: '{key}' must be a number, not {_tname(value)}")
        return float(value)
    if tp in (int, bool, str):
        # bool is a subclass of int: reject true/false where a number is wanted.
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"{source}: '{key}' must be {tp.__name__}, not {_tname(value)}")
        return value
    return value


def _tname(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _validate(config: Config, source: str) -> None:
    r = config.resolver
    if not 1 <= r.upstream_port <= 65535:
        raise ConfigError(f"{source}: 'resolver.upstream_port' must be 1..65535")
    if not 512 <= r.edns_payload <= 65535:
        raise ConfigError(f"{source}: 'resolver.edns_payload' must be 512..65535")
    if r.qname_minimisation_type not in QMIN_TYPES:
        raise ConfigError(
            f"{source}: 'resolver.qname_minimisation_type' must be "
            f"{' or '.join(repr(t) for t in QMIN_TYPES)}, not {r.qname_minimisation_type!r}"
        )
    for i, fz in enumerate(r.forward_zones):
        key = f"resolver.forward_zones[{i}]"
        try:
            dns.name.from_text(fz.name)
        except dns.exception.DNSException as exc:
            raise ConfigError(f"{source}: '{key}.name' is not a domain name: {exc}") from None
        if not fz.addresses:
            raise ConfigError(f"{source}: '{key}.addresses' must list at least one server")
        for j, text in enumerate(fz.addresses):
            try:
                parse_forward_address(text)
            except ValueError as exc:
                raise ConfigError(
                    f"{source}: '{key}.addresses[{j}]' is not ADDR or ADDR@PORT: {exc}"
                ) from None
    for i, net in enumerate(r.upstream_allow):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: 'resolver.upstream_allow[{i}]' is not a network: {net!r}"
            ) from None
    c = config.cache
    if c.max_entries < 1:
        raise ConfigError(f"{source}: 'cache.max_entries' must be at least 1")
    if c.wire_answers < 0:
        raise ConfigError(f"{source}: 'cache.wire_answers' must be 0 (off) or more")
    if not 0 <= c.min_ttl <= c.max_ttl:
        raise ConfigError(f"{source}: 'cache.min_ttl' must be between 0 and cache.max_ttl")
    for name in ("stale_client_timeout", "stale_failure_recheck"):
        if not 0 <= getattr(c, name) <= 86_400:
            raise ConfigError(f"{source}: 'cache.{name}' must be 0..86400 seconds")
    if c.warm_start_file:
        where = Path(c.warm_start_file)
        if where.is_dir():
            raise ConfigError(f"{source}: 'cache.warm_start_file' {where} is a directory")
        if not where.absolute().parent.is_dir():
            raise ConfigError(
                f"{source}: 'cache.warm_start_file' {where}: no such directory "
                f"{where.absolute().parent}"
            )
    lim = config.limits
    for f in dataclasses.fields(lim):
        if getattr(lim, f.name) <= 0:
            raise ConfigError(f"{source}: 'limits.{f.name}' must be positive")
    _validate_server(config.server, source)
    _validate_dnssec(config.dnssec, source)


def _validate_dnssec(d: DnssecConfig, source: str) -> None:
    from rootwalk.dnssec.anchors import load_anchors

    if d.enabled:
        try:
            load_anchors(d.anchor_path)
        except ConfigError as exc:
            raise ConfigError(f"{source}: 'dnssec.trust_anchor_file': {exc}") from None
    for i, text in enumerate(d.negative_trust_anchors):
        try:
            dns.name.from_text(text)
        except dns.exception.DNSException as exc:
            raise ConfigError(
                f"{source}: 'dnssec.negative_trust_anchors[{i}]' is not a domain name: {exc}"
            ) from None
    if not 0 <= d.bogus_ttl <= 86_400:
        raise ConfigError(f"{source}: 'dnssec.bogus_ttl' must be 0..86400 seconds")


def _validate_server(s: ServerConfig, source: str) -> None:
    if not s.listen:
        raise ConfigError(f"{source}: 'server.listen' must name at least one address")
    for i, text in enumerate(s.listen):
        try:
            parse_listen(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: 'server.listen[{i}]' {text!r}: {exc}") from None
    for i, text in enumerate(s.access_control):
        try:
            parse_access_entry(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: 'server.access_control[{i}]' {text!r}: {exc}") from None
    for name in ("tcp_idle_timeout", "max_tcp_connections", "max_tcp_pipeline", "max_inflight"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{source}: 'server.{name}' must be positive")
    if s.udp_rcvbuf != 0 and not 4096 <= s.udp_rcvbuf <= 1 << 30:
        raise ConfigError(
            f"{source}: 'server.udp_rcvbuf' must be 0 (system default) or 4096..1073741824 bytes"
        )
    if not 0 < s.client_deadline <= 60:
        raise ConfigError(f"{source}: 'server.client_deadline' must be more than 0, at most 60 s")
    if s.shutdown_timeout < 0:
        raise ConfigError(f"{source}: 'server.shutdown_timeout' must not be negative")
    if not 0 <= s.record_walks <= 100_000:
        raise ConfigError(f"{source}: 'server.record_walks' must be 0 (off) to 100000")
    if not 512 <= s.edns_payload <= 65535:
        raise ConfigError(f"{source}: 'server.edns_payload' must be 512..65535")
    if s.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"{source}: 'server.log_level' must be one of {', '.join(LOG_LEVELS)}, "
            f"not {s.log_level!r}"
        )
    if s.log_format not in LOG_FORMATS:
        raise ConfigError(
            f"{source}: 'server.log_format' must be one of {', '.join(LOG_FORMATS)}, "
            f"not {s.log_format!r}"
        )
    if not s.hosts_file.strip():
        raise ConfigError(
            f'{source}: \'server.hosts_file\' must be "auto", "off" or the path of a file'
        )
    if s.event_loop not in EVENT_LOOPS:
        raise ConfigError(
            f"{source}: 'server.event_loop' must be one of {', '.join(EVENT_LOOPS)}, "
            f"not {s.event_loop!r}"
        )
    if s.event_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError(
            f"{source}: 'server.event_loop' is \"uvloop\" but uvloop is not installed "
            '(pip install uvloop, or use "auto")'
        )
    if s.blocklist_action not in ("nxdomain", "null"):
        raise ConfigError(
            f'{source}: \'server.blocklist_action\' must be "nxdomain" or "null", '
            f"not {s.blocklist_action!r}"
        )
    for key in ("blocklists", "allowlists"):
        for i, text in enumerate(getattr(s, key)):
            scheme, sep, rest = text.partition("://")
            if sep and (scheme.lower() not in ("http", "https") or not rest):
                raise ConfigError(
                    f"{source}: 'server.{key}[{i}]' {text!r}: a list is a file path or an "
                    "http:// or https:// URL"
                )
    if s.blocklist_refresh < 0:
        raise ConfigError(
            f"{source}: 'server.blocklist_refresh' must be 0 (off) or a number of seconds"
        )
    if not 1 <= s.workers <= 256:
        raise ConfigError(f"{source}: 'server.workers' must be 1..256")
    _validate_lan_guards(s, source)
    if s.metrics_listen:
        try:
            parse_listen(s.metrics_listen)
        except ValueError as exc:
            raise ConfigError(
                f"{source}: 'server.metrics_listen' {s.metrics_listen!r}: {exc}"
            ) from None
    _validate_dashboard(s, source)


#: The shortest ``server.dashboard_token`` taken: it is the only lock on a dashboard that
#: other machines can reach (and that dashboard can start walks).
DASHBOARD_TOKEN_MIN = 16


def _validate_dashboard(s: ServerConfig, source: str) -> None:
    if s.dashboard_token and (
        len(s.dashboard_token) < DASHBOARD_TOKEN_MIN
        or not s.dashboard_token.isascii()
        or not s.dashboard_token.isprintable()
        or " " in s.dashboard_token
    ):
        raise ConfigError(
            f"{source}: 'server.dashboard_token' must be at least {DASHBOARD_TOKEN_MIN} "
            "printable ASCII characters without spaces (e.g. the output of "
            "`openssl rand -hex 16`)"
        )
    if not s.dashboard_listen:
        return
    try:
        host, _port = parse_listen(s.dashboard_listen)
    except ValueError as exc:
        raise ConfigError(
            f"{source}: 'server.dashboard_listen' {s.dashboard_listen!r}: {exc}"
        ) from None
    if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback and not s.dashboard_token:
        raise ConfigError(
            f"{source}: 'server.dashboard_listen' {s.dashboard_listen!r} is not a loopback "
            "address: set server.dashboard_token to serve the dashboard to other machines"
        )


def _validate_lan_guards(s: ServerConfig, source: str) -> None:
    """Rebinding protection and client rate limiting (server/rebind.py, server/ratelimit.py)."""
    for i, net in enumerate(s.private_addresses):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: 'server.private_addresses[{i}]' is not a network: {net!r}"
            ) from None
    for i, name in enumerate(s.private_domains):
        try:
            from_text(name)
        except (ValueError, dns.exception.DNSException) as exc:
            raise ConfigError(
                f"{source}: 'server.private_domains[{i}]' is not a domain name: {exc}"
            ) from None
    if not 0 <= s.client_rate_limit <= 10_000_000:
        raise ConfigError(
            f"{source}: 'server.client_rate_limit' must be 0 (off) or a positive rate, "
            "at most 10000000 per second"
        )
    if s.client_rate_burst < 0:
        raise ConfigError(
            f"{source}: 'server.client_rate_burst' must be 0 (twice the rate) or more"
        )
    if not 0 <= s.client_rate_prefix_v4 <= 32:
        raise ConfigError(f"{source}: 'server.client_rate_prefix_v4' must be 0..32")
    if not 0 <= s.client_rate_prefix_v6 <= 128:
        raise ConfigError(f"{source}: 'server.client_rate_prefix_v6' must be 0..128")
    if s.client_rate_action not in ("drop", "truncate"):
        raise ConfigError(
            f'{source}: \'server.client_rate_action\' must be "drop" or "truncate", '
            f"not {s.client_rate_action!r}"
        )
