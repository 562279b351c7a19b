"""DNSSEC building blocks on the engine's compact records (RFC 4033-4035, 5155, 6840, 8624).

* ``crypto``: algorithms, key tags, DS digests and signature checks (the ``cryptography``
  package does the arithmetic).
* ``canonical``: RRSIG rdata, the signed data of an RRset in canonical form (RFC 4034 §3.1.8.1,
  §6), signature validity windows in serial-number arithmetic (RFC 4034 §3.1.5, RFC 1982).
* ``nsec3``: NSEC3 owner hashing (RFC 5155 §5) and base32hex.

These are pure functions over bytes; the validator that walks the chain of trust is built on
them in the resolution core's validation step.
"""
