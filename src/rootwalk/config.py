"""Typed configuration: frozen dataclasses, parsed once from TOML, strict about unknown keys.

Each component receives only its slice (``Cache(config.cache, clock)``), so a component's
constructor documents exactly which settings it depends on. Every key is documented in
docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rootwalk.errors import ConfigError

__all__ = [
    "CacheConfig",
    "Config",
    "Limits",
    "ResolverConfig",
    "default_root_hints",
    "load_config",
    "parse_config",
]


def default_root_hints() -> Path:
    """The IANA root hints shipped with the package (a copy of the repository's root.hints)."""
    return Path(__file__).with_name("root.hints")


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one client question may cause (guide §8).

    Each limit has a known attack or failure behind it: delegation and CNAME loops, NXNS-style
    amplification (glueless NS sets that fan out into many sub-queries), and lame servers that
    never answer.
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
    # Timeout for one upstream query before the server is considered to have timed out, when
    # no RTT is known yet. Unbound starts at 376 ms (UNKNOWN_SERVER_NICENESS).
    initial_timeout: float = 0.8
    # Upper bound for the adaptive per-query timeout (Unbound: RTT_MAX_TIMEOUT 120 s is for
    # backoff bookkeeping; a per-try bound of a few seconds keeps clients answered).
    max_timeout: float = 3.0
    # Wall time for one client question, everything included; then SERVFAIL with EDE.
    total_timeout: float = 6.0


@dataclass(frozen=True)
class CacheConfig:
    """RRset, negative and infrastructure caches."""

    max_entries: int = 200_000
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
    # Ask upstream with the DO bit (RFC 3225), keeping RRSIGs, ready for DNSSEC validation.
    dnssec_ok: bool = False
    # DNS 0x20: random letter case in upstream questions (draft-vixie-dnsext-dns0x20).
    use_0x20: bool = False
    # RFC 9715 / DNS flag day 2020: 1232 avoids IP fragmentation on common paths.
    edns_payload: int = 1232
    # Send queries to IPv6 server addresses as well as IPv4.
    ipv6: bool = True

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.upstream_allow]


@dataclass(frozen=True)
class Config:
    """The whole configuration, one slice per component."""

    resolver: ResolverConfig = field(default_factory=ResolverConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    limits: Limits = field(default_factory=Limits)


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
    if not 0 <= c.min_ttl <= c.max_ttl:
        raise ConfigError(f"{source}: 'cache.min_ttl' must be between 0 and cache.max_ttl")
    lim = config.limits
    for f in dataclasses.fields(lim):
        if getattr(lim, f.name) <= 0:
            raise ConfigError(f"{source}: 'limits.{f.name}' must be positive")
