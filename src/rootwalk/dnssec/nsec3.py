"""NSEC3 owner-name hashing (RFC 5155 §5) and the base32hex encoding of its labels.

The hash of a name is iterated SHA-1 over its canonical (lower-cased, uncompressed) wire form
and the zone's salt: IH(salt, x, 0) = H(x | salt), IH(salt, x, k) = H(IH(salt, x, k-1) | salt).
The iterations are bounded by the caller (RFC 9276 §3.2 lets a validator treat zones with too
many as insecure).
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["SHA1", "b32hex", "from_b32hex", "nsec3_hash"]

SHA1 = 1  # the only NSEC3 hash algorithm (RFC 5155 §11)

_TO_HEX = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghijklmnopqrstuv")
_FROM_HEX = bytes.maketrans(
    b"0123456789abcdefghijklmnopqrstuv", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)


def nsec3_hash(name: bytes, salt: bytes, iterations: int) -> bytes:
    """The raw 20-octet hash of a lower-cased wire name."""
    digest = hashlib.sha1(name + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def b32hex(raw: bytes) -> bytes:
    """Base32 with the extended hex alphabet, lower case, no padding (RFC 4648 §7): the
    form of an NSEC3 owner's first label."""
    return base64.b32encode(raw).rstrip(b"=").translate(_TO_HEX)


def from_b32hex(label: bytes) -> bytes | None:
    """The raw hash from an NSEC3 owner label; None when it is not base32hex."""
    text = label.lower().translate(_FROM_HEX)
    try:
        return base64.b32decode(text + b"=" * (-len(text) % 8))
    except ValueError:
        return None
