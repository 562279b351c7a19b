"""Cache files: ``ctl dump-cache FILE``, ``ctl load-cache FILE`` and ``cache.warm_start_file``.

The format (version 1) is JSON lines, UTF-8, documented in docs/configuration.md ("Cache
files"). The first line is the header ``{"rootwalk-cache": 1, "saved": UNIX_TIME}``; every
other line is one RRset or one negative verdict::

    {"name": "www.example.com.", "type": "A", "ttl": 300, "expires": 1764572000.25,
     "trust": "auth_answer", "rdata": ["192.0.2.1"]}
    {"name": "nx.example.com.", "negative": "nxdomain", "ttl": 300, "expires": 1764571900.0,
     "soa": {"name": "example.com.", "ttl": 3600, "rdata": "ns1.example.com. ..."}}

``expires`` is absolute (wall-clock seconds), so loading counts every TTL down by the time
that has passed and skips what has expired; ``ttl`` is the TTL the entry was stored with
(prefetch needs it). Records are in presentation form so that a person can read, grep and
edit the file.

A file is never trusted blindly: every line is parsed and checked (names, types, rdata through
dnspython, trust ranks, times), remaining lifetimes are capped by the entry's own TTL and by
``cache.max_ttl``/``cache.max_negative_ttl``, and a bad line is reported with its number and
skipped, never fatal. Loaded data never replaces better data already cached (higher trust, or
the same trust living longer).

No dnspython on the query path: this runs for ctl commands and at start and stop only, and the
slow part (text) runs off the event loop (``asyncio.to_thread``) on a snapshot of the cache.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from rootwalk.cache import CacheView, SavedEntry, Trust
from rootwalk.cache.negative import NXDOMAIN_KEY
from rootwalk.dnssec.verify import Security
from rootwalk.wire.convert import from_dns_rrset, to_dns_rrset
from rootwalk.wire.message import RRSIG, SOA, RRset
from rootwalk.wire.names import from_dns, is_subdomain, to_text

__all__ = [
    "FORMAT_VERSION",
    "LoadReport",
    "encode",
    "parse",
    "read_file",
    "restore",
    "write_file",
]

FORMAT_VERSION = 1
_HEADER_KEY = "rootwalk-cache"
# One RRset of at most 64 KiB of wire data is well under this in text; longer lines are bad.
_MAX_LINE = 1 << 20
_MAX_TTL = 2**31 - 1  # RFC 2181 §8
# Bad lines described in a report (the count covers all of them).
_MAX_ERRORS = 10
_RRSET_KEYS = frozenset({"name", "type", "ttl", "expires", "trust", "rdata", "rrsig", "security"})
_NEGATIVE_KEYS = frozenset({"name", "negative", "type", "ttl", "expires", "soa", "security"})
# What DNSSEC validation found is kept, as Unbound's dump_cache keeps it; bogus data is never
# written. A line without it (or written with validation off) is insecure: no AD.
_SECURITY = {"secure": Security.SECURE, "insecure": Security.INSECURE}
_IN = dns.rdataclass.IN


class BadLine(ValueError):
    """One line of a cache file that cannot be used; ``str()`` says why."""


@dataclass
class LoadReport:
    """What reading and restoring a cache file did (``ctl load-cache`` prints it)."""

    loaded: int = 0
    expired: int = 0
    kept: int = 0  # the cache already held better data
    bad: int = 0
    errors: list[str] = field(default_factory=list)

    def bad_line(self, number: int, why: str) -> None:
        self.bad += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(f"line {number}: {why}")

    def summary(self) -> str:
        return (
            f"loaded {self.loaded} entries, skipped {self.expired} expired, {self.kept} "
            f"already cached, {self.bad} bad lines"
        )

    def lines(self) -> list[str]:
        more = self.bad - len(self.errors)
        return [
            self.summary(),
            *self.errors,
            *([f"... and {more} more bad lines"] if more > 0 else []),
        ]


# -- writing ---------------------------------------------------------------------------------


def _rdata_texts(rrset: RRset) -> list[str]:
    return [rd.to_text() for rd in to_dns_rrset(rrset)]


def encode(entry: SavedEntry) -> str:
    """One line of the file (without the newline)."""
    obj: dict[str, Any] = {"name": to_text(entry.name)}
    if entry.trust is None:
        if entry.rdtype == NXDOMAIN_KEY:
            obj["negative"] = "nxdomain"
        else:
            obj["negative"] = "nodata"
            obj["type"] = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(entry.rdtype))
        obj["ttl"] = entry.original
        obj["expires"] = entry.expires
        soa = entry.rrset
        obj["soa"] = {"name": to_text(soa.owner), "ttl": soa.ttl, "rdata": _rdata_texts(soa)[0]}
        obj["security"] = entry.security.value
    else:
        obj["type"] = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(entry.rdtype))
        obj["ttl"] = entry.original
        obj["expires"] = entry.expires
        obj["trust"] = entry.trust.name.lower()
        obj["rdata"] = _rdata_texts(entry.rrset)
        if entry.sigs is not None:
            obj["rrsig"] = _rdata_texts(entry.sigs)
        obj["security"] = entry.security.value
    return json.dumps(obj, separators=(",", ":"))


def write_file(path: Path, entries: Iterable[SavedEntry], now: float) -> int:
    """Write ``entries`` to ``path`` atomically (a temporary file, then rename), mode 0600:
    a reader never sees half a file, and the cache can tell what clients asked. Returns the
    number of entries written. Raises OSError."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps({_HEADER_KEY: FORMAT_VERSION, "saved": now}) + "\n")
            for entry in entries:
                out.write(encode(entry) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count


# -- reading ---------------------------------------------------------------------------------


def _name(value: object, key: str) -> bytes:
    if not isinstance(value, str) or not value.endswith("."):
        raise BadLine(f"{key!r} must be an absolute name (ending in '.')")
    try:
        return from_dns(dns.name.from_text(value))
    except dns.exception.DNSException as exc:
        raise BadLine(f"{key!r} is not a domain name: {exc}") from None


def _type(value: object) -> int:
    if not isinstance(value, str):
        raise BadLine("'type' must be a type name such as \"A\"")
    try:
        rdtype = dns.rdatatype.from_text(value)
    except dns.exception.DNSException:
        raise BadLine(f"unknown type {value!r}") from None
    if dns.rdatatype.is_metatype(rdtype) or rdtype in (dns.rdatatype.ANY, dns.rdatatype.NONE):
        raise BadLine(f"{value} is not a data type")
    return int(rdtype)


def _int(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadLine(f"{key!r} must be a whole number {low}..{high}")
    return value


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadLine("'expires' must be a number (Unix time)")
    return float(value)


def _rrset(owner: bytes, rdtype: int, ttl: int, texts: object, key: str) -> RRset:
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadLine(f"{key!r} must be a non-empty list of strings")
    kind = dns.rdatatype.RdataType.make(rdtype)
    out = dns.rrset.RRset(dns.name.from_wire(owner, 0)[0], _IN, kind)
    for text in texts:
        try:
            rd = dns.rdata.from_text(_IN, kind, text, origin=dns.name.root, relativize=False)
            out.add(rd, ttl)
        except (dns.exception.DNSException, ValueError) as exc:
            what = dns.rdatatype.to_text(kind)
            raise BadLine(f"{key!r}: bad {what} rdata {text!r}: {exc}") from None
    return from_dns_rrset(out)


def _expiry(obj: dict[str, Any], now: float, cap: int) -> tuple[int, float]:
    ttl = _int(obj.get("ttl"), "ttl", 1, _MAX_TTL)
    expires = _time(obj.get("expires"))
    # Never longer than the entry's own TTL from now, nor than this server keeps anything:
    # a file cannot make data live longer than its authority said.
    return ttl, min(expires, now + ttl, now + cap)


def parse(line: str, now: float, max_ttl: int, max_negative_ttl: int) -> SavedEntry:
    """One validated entry from one line (its expiry capped); BadLine says why not."""
    if len(line) > _MAX_LINE:
        raise BadLine("line too long")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise BadLine(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    name = _name(obj.get("name"), "name")
    if "negative" in obj:
        unknown = set(obj) - _NEGATIVE_KEYS
        if unknown:
            raise BadLine(f"unknown keys {sorted(unknown)}")
        kind = obj["negative"]
        if kind == "nxdomain":
            if "type" in obj:
                raise BadLine("an NXDOMAIN verdict has no 'type'")
            rdtype = NXDOMAIN_KEY
        elif kind == "nodata":
            rdtype = _type(obj.get("type"))
        else:
            raise BadLine('\'negative\' must be "nxdomain" or "nodata"')
        ttl, expires = _expiry(obj, now, max_negative_ttl)
        soa_obj = obj.get("soa")
        if not isinstance(soa_obj, dict) or set(soa_obj) != {"name", "ttl", "rdata"}:
            raise BadLine("'soa' must be an object with name, ttl and rdata")
        owner = _name(soa_obj["name"], "soa.name")
        soa_ttl = _int(soa_obj["ttl"], "soa.ttl", 0, _MAX_TTL)
        soa = _rrset(owner, SOA, soa_ttl, [soa_obj["rdata"]], "soa.rdata")
        if not is_subdomain(name, owner):
            raise BadLine("the SOA is not of a zone containing the name")
        return SavedEntry(name, rdtype, expires, ttl, None, soa, None, _security(obj))
    unknown = set(obj) - _RRSET_KEYS
    if unknown:
        raise BadLine(f"unknown keys {sorted(unknown)}")
    rdtype = _type(obj.get("type"))
    ttl, expires = _expiry(obj, now, max_ttl)
    trust_text = obj.get("trust")
    try:
        trust = Trust[str(trust_text).upper()]
    except KeyError:
        raise BadLine(f"unknown trust {trust_text!r}") from None
    rrset = _rrset(name, rdtype, ttl, obj.get("rdata"), "rdata")
    sigs = None
    if "rrsig" in obj:
        sigs = _rrset(name, RRSIG, ttl, obj["rrsig"], "rrsig")
        sigs = RRset(sigs.owner, sigs.rtype, sigs.rclass, sigs.ttl, sigs.rdatas, rdtype)
    return SavedEntry(name, rdtype, expires, ttl, trust, rrset, sigs, _security(obj))


def _security(obj: dict[str, Any]) -> Security:
    text = obj.get("security", "insecure")
    found = _SECURITY.get(text) if isinstance(text, str) else None
    if found is None:
        raise BadLine(f'\'security\' must be "secure" or "insecure", not {text!r}')
    return found


def read_file(
    path: Path, now: float, max_ttl: int, max_negative_ttl: int
) -> tuple[list[SavedEntry], LoadReport]:
    """The usable entries of a cache file, and a report of what was skipped. Raises OSError
    when the file cannot be read, ValueError when it is not a rootwalk cache file at all."""
    report = LoadReport()
    entries: list[SavedEntry] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        lines: Iterator[str] = iter(f)
        first = next(lines, "")
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or _HEADER_KEY not in header:
            raise ValueError("not a rootwalk cache file (no header line)")
        if header[_HEADER_KEY] != FORMAT_VERSION:
            raise ValueError(
                f"cache file format {header[_HEADER_KEY]!r}; this rootwalk reads {FORMAT_VERSION}"
            )
        for number, line in enumerate(lines, start=2):
            text = line.strip()
            if not text:
                continue
            try:
                entry = parse(text, now, max_ttl, max_negative_ttl)
            except BadLine as exc:
                report.bad_line(number, str(exc))
                continue
            except Exception as exc:  # anything dnspython did not expect: still one bad line
                report.bad_line(number, f"unusable: {exc!r}")
                continue
            if entry.expires <= now:
                report.expired += 1
                continue
            entries.append(entry)
    return entries, report


def restore(
    cache: CacheView, entries: Iterable[SavedEntry], now: float, report: LoadReport
) -> None:
    """Put parsed entries into the cache (on the event loop: the cache is not thread-safe)."""
    for entry in entries:
        if entry.expires <= now:
            report.expired += 1
        elif cache.restore(entry, now):
            report.loaded += 1
        else:
            report.kept += 1
