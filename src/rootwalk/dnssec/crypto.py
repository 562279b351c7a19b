"""Algorithms, key tags, DS digests and signature verification (RFC 4034, 5702, 6605, 8080).

Public keys and signatures arrive in their DNS wire forms and are turned into what the
``cryptography`` package takes: RSA keys per RFC 3110 §2, ECDSA keys and signatures as raw
coordinates per RFC 6605 §4, EdDSA keys and signatures as raw bytes per RFC 8080 §3-4.
"""

from __future__ import annotations

import enum
import functools
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "Algorithm",
    "DigestType",
    "SUPPORTED_ALGORITHMS",
    "SUPPORTED_DIGESTS",
    "ds_digest",
    "key_tag",
    "verify_signature",
]


class Algorithm(enum.IntEnum):
    """DNSSEC signing algorithms (IANA registry; RFC 8624 §3.1 for what must validate)."""

    RSASHA1 = 5
    RSASHA1_NSEC3_SHA1 = 7
    RSASHA256 = 8
    RSASHA512 = 10
    ECDSAP256SHA256 = 13
    ECDSAP384SHA384 = 14
    ED25519 = 15
    ED448 = 16


class DigestType(enum.IntEnum):
    """DS digest types (RFC 4034 §5.1.3, RFC 4509, RFC 6605 §2)."""

    SHA1 = 1
    SHA256 = 2
    SHA384 = 4


SUPPORTED_ALGORITHMS = frozenset(int(a) for a in Algorithm)
SUPPORTED_DIGESTS = frozenset(int(d) for d in DigestType)

_DIGEST_HASH = {
    DigestType.SHA1: hashlib.sha1,
    DigestType.SHA256: hashlib.sha256,
    DigestType.SHA384: hashlib.sha384,
}
_RSA_HASH: dict[int, type[hashes.HashAlgorithm]] = {
    Algorithm.RSASHA1: hashes.SHA1,
    Algorithm.RSASHA1_NSEC3_SHA1: hashes.SHA1,
    Algorithm.RSASHA256: hashes.SHA256,
    Algorithm.RSASHA512: hashes.SHA512,
}
_EC_CURVE: dict[int, tuple[ec.EllipticCurve, type[hashes.HashAlgorithm], int]] = {
    Algorithm.ECDSAP256SHA256: (ec.SECP256R1(), hashes.SHA256, 32),
    Algorithm.ECDSAP384SHA384: (ec.SECP384R1(), hashes.SHA384, 48),
}
# RFC 3110 / RFC 8624 §3.1: an RSA modulus shorter than this proves nothing today.
_MIN_RSA_BITS = 1024


@functools.lru_cache(maxsize=4096)
def key_tag(dnskey_rdata: bytes) -> int:
    """The key tag of a DNSKEY (RFC 4034 Appendix B): a checksum over its rdata. A zone's few
    keys are checked again and again: the tags are remembered."""
    total = sum(dnskey_rdata[0::2]) << 8
    total += sum(dnskey_rdata[1::2])
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


def ds_digest(owner: bytes, dnskey_rdata: bytes, digest_type: int) -> bytes | None:
    """The digest a DS record carries for this key (RFC 4034 §5.1.4): over the owner's
    canonical (lower-case, uncompressed) wire name and the DNSKEY rdata. None when the
    digest type is not supported (the DS is then ignored, RFC 4035 §5.2)."""
    if digest_type not in SUPPORTED_DIGESTS:
        return None
    return _DIGEST_HASH[DigestType(digest_type)](owner + dnskey_rdata).digest()


def verify_signature(algorithm: int, public_key: bytes, signature: bytes, data: bytes) -> bool:
    """True if ``signature`` over ``data`` was made with the key whose DNSKEY public key
    field is ``public_key``. False for any malformed key or signature; an unsupported
    algorithm is the caller's business (see SUPPORTED_ALGORITHMS)."""
    try:
        key = _public_key(algorithm, public_key)
        if key is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _RSA_HASH[algorithm]())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            _curve, digest, size = _EC_CURVE[algorithm]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest()))
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


_PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


@functools.lru_cache(maxsize=1024)
def _public_key(algorithm: int, public_key: bytes) -> _PublicKey | None:
    """The key object of a DNSKEY's public key field, made once per key (loading a key costs
    about as much as a verification); None for an unsupported algorithm. Raises ValueError
    for a malformed key (not cached: lru_cache keeps no exceptions)."""
    if algorithm in _RSA_HASH:
        return _rsa_key(public_key)
    if algorithm in _EC_CURVE:
        curve, _digest, size = _EC_CURVE[algorithm]
        if len(public_key) != 2 * size:
            raise ValueError("bad ECDSA key size")
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + public_key)
    if algorithm == Algorithm.ED25519:
        return ed25519.Ed25519PublicKey.from_public_bytes(public_key)
    if algorithm == Algorithm.ED448:
        return ed448.Ed448PublicKey.from_public_bytes(public_key)
    return None


def _rsa_key(public_key: bytes) -> rsa.RSAPublicKey:
    """RFC 3110 §2: exponent length (1 octet, or 0 then 2 octets), exponent, modulus."""
    if not public_key:
        raise ValueError("empty RSA key")
    if public_key[0]:
        exp_len, start = public_key[0], 1
    else:
        if len(public_key) < 3:
            raise ValueError("short RSA key")
        exp_len, start = int.from_bytes(public_key[1:3], "big"), 3
    exponent = int.from_bytes(public_key[start : start + exp_len], "big")
    modulus_bytes = public_key[start + exp_len :]
    if not modulus_bytes or exponent == 0:
        raise ValueError("malformed RSA key")
    modulus = int.from_bytes(modulus_bytes, "big")
    if modulus.bit_length() < _MIN_RSA_BITS:
        raise ValueError("RSA modulus too short")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()
