"""DNS wire format without dnspython: the engine's data model and the bytes it speaks.

* ``names``: names as uncompressed, lower-cased wire labels (``b"\\x03www\\x07example\\x00"``).
* ``message``: a strict parser of responses into compact records (``RR``, ``RRset``).
* ``render``: upstream queries and client answers rendered from compact records.
* ``query``: the few header, question and OPT fields of a client query the fast path reads.

dnspython stays where it serves people (presentation, configuration, the lab, tests).
"""

from rootwalk.wire.query import QueryHead, parse_query_head, ttl_offsets

__all__ = ["QueryHead", "parse_query_head", "ttl_offsets"]
