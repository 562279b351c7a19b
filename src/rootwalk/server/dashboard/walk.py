"""A walk as JSON: the trace events of one resolution turned into the hops the page draws.

The seed documents draw a lookup as client -> resolver -> root -> TLD -> the zone's servers and
back. ``walk_json`` gives the page (and anything else that shows a walk, such as the
explanation of an answer) the same story as data: one object per step, in order.

A hop (``kind`` one of the ``TraceKind`` values of rootwalk/resolution.py):

* ``start``: a walk (or a sub-walk, ``depth`` > 0) begins at ``zone``, the deepest known cut;
* ``cache``: a step the cache answered (``detail`` says what it held), nothing sent;
* ``subquery``: a glueless delegation: the name server's address is resolved first;
* ``skipped``: a server not asked (``detail`` says why: this machine, not allowed, ...);
* every other kind is one exchange with a server: ``server`` (its name) and ``address``,
  ``zone`` it was asked for, ``rtt_ms`` (None for a timeout), ``tcp``, what came back
  (``kind``: referral, answer, cname, nodata, nxdomain, lame, timeout, error, ...) and
  ``detail``.

Each exchange has a ``dnssec`` field: what validation found of its response (secure,
insecure, bogus), None when nothing was validated; ``dnssec`` steps carry the links of the
chain of trust (DS, DNSKEY, signatures, denial proofs) in ``detail``.

The formatting itself lives in server/walks.py, so that the walk log, the explanation and the
page show a walk alike.
"""

from __future__ import annotations

from rootwalk.resolution import type_text as rdtype_text
from rootwalk.server.walks import ASKED, walk_json
from rootwalk.server.walks import event_json as hop_json

__all__ = ["ASKED", "hop_json", "rdtype_text", "walk_json"]
