"""Names as the engine keeps them: uncompressed wire format, lower-cased (RFC 4343).

``b"\\x03www\\x07example\\x03com\\x00"`` is ``www.example.com.``; ``ROOT`` is ``b"\\x00"``. Equal
names are equal bytes, so they hash and compare as fast as bytes do, and a name's ancestors
are suffixes of it. Case for DNS 0x20 is applied only when a query is rendered.
"""

from __future__ import annotations

import random

import dns.name

__all__ = [
    "ROOT",
    "from_dns",
    "from_text",
    "is_subdomain",
    "label_count",
    "labels",
    "parent",
    "randomise_case",
    "replace_suffix",
    "strictly_below",
    "to_dns",
    "to_text",
]

ROOT = b"\x00"
_LOWER = bytes(range(256)).translate(
    bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
)


def lower(wire: bytes) -> bytes:
    """ASCII letters folded (RFC 4343 §3); length bytes are below 64 and never change."""
    return wire.translate(_LOWER)


def from_dns(name: dns.name.Name) -> bytes:
    """From a dnspython name (configuration, tests): absolute, lower-cased."""
    return lower(name.to_wire() or ROOT)


def from_text(text: str) -> bytes:
    return from_dns(dns.name.from_text(text))


def to_dns(name: bytes) -> dns.name.Name:
    """For presentation (trace, logs, ctl): dnspython parses the uncompressed labels."""
    return dns.name.from_wire(name, 0)[0]


# Label bytes that presentation form writes as they are (RFC 1035 §5.1: anything else, such as
# ".", '"', "\\", "(", ";", spaces and non-ASCII, is escaped, which dnspython does for us).
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*/+=")


def to_text(name: bytes) -> str:
    """Presentation form with the trailing dot (``www.example.com.``, ``.`` for the root).
    Names are logged and traced often: plain labels are joined directly, in about a
    twentieth of the time dnspython takes; anything that needs escapes goes to dnspython."""
    if name == b"\x00":
        return "."
    out = []
    i = 0
    try:
        n = name[0]
        while n:
            label = name[i + 1 : i + 1 + n]
            if n > 63 or len(label) != n or not _PLAIN.issuperset(label):
                return str(to_dns(name))
            out.append(label.decode("ascii"))
            i += n + 1
            n = name[i]
    except IndexError:
        return str(to_dns(name))
    return ".".join(out) + "."


def labels(name: bytes) -> list[bytes]:
    """The labels, leftmost first, without the root."""
    out = []
    i = 0
    while name[i]:
        n = name[i]
        out.append(name[i + 1 : i + 1 + n])
        i += n + 1
    return out


def label_count(name: bytes) -> int:
    """Labels without the root (``www.example.com.``: 3)."""
    count = i = 0
    while name[i]:
        i += name[i] + 1
        count += 1
    return count


def parent(name: bytes) -> bytes:
    """The name one label up; the root's parent is the root."""
    return name[name[0] + 1 :] if name[0] else name


def is_subdomain(name: bytes, zone: bytes) -> bool:
    """``name`` is ``zone`` or below it (a server for ``zone`` may speak for it)."""
    extra = len(name) - len(zone)
    if extra < 0 or not name.endswith(zone):
        return False
    i = 0
    while i < extra:  # the suffix must start on a label boundary
        i += name[i] + 1
    return i == extra


def strictly_below(name: bytes, zone: bytes) -> bool:
    return len(name) > len(zone) and is_subdomain(name, zone)


def replace_suffix(name: bytes, owner: bytes, target: bytes) -> bytes | None:
    """DNAME substitution (RFC 6672 §2.2): ``name`` with ``owner`` replaced by ``target``;
    None when the result is longer than 255 octets (the YXDOMAIN case)."""
    new = name[: len(name) - len(owner)] + target
    return new if len(new) <= 255 else None


def randomise_case(name: bytes, rng: random.Random) -> bytes:
    """DNS 0x20 (draft-vixie-dnsext-dns0x20): each letter upper-cased with probability 1/2."""
    bits = rng.getrandbits(len(name))
    out = bytearray(name)
    i = 0
    while out[i]:
        end = i + 1 + out[i]
        for j in range(i + 1, end):
            c = out[j]
            if 97 <= c <= 122 and (bits >> j) & 1:
                out[j] = c - 32
        i = end
    return bytes(out)
