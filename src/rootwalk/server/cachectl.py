"""Cache commands of ``rootwalk ctl`` and the warm start: flush-zone, dump-cache FILE,
load-cache FILE, and ``cache.warm_start_file`` (saved on shutdown, loaded at start).

Everything goes through the CacheView seam (``flush_zone``, ``export``, ``restore``) and the
file format of ``rootwalk.cache.persist``. The text work runs in a thread on a snapshot, so a
large cache does not stall the event loop while it is written or read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.name

from rootwalk.cache import persist
from rootwalk.wire.names import from_dns, to_text

if TYPE_CHECKING:
    from rootwalk.server.app import Server

__all__ = ["dump_cache", "flush_zone", "load_cache", "warm_load", "warm_save"]

log = logging.getLogger("rootwalk.server")


def flush_zone(server: Server, text: str) -> str:
    """``ctl flush-zone NAME``: every RRset and negative verdict at or below NAME, and the
    rendered answers built from them (Unbound flush_zone). The control reply."""
    try:
        name = from_dns(dns.name.from_text(text))
    except dns.exception.DNSException as exc:
        return f"error: bad name {text!r}: {exc}\n"
    wire = server.handler.wire
    before = len(wire)
    gone = server.resolver.cache.flush_zone(name)
    if server.resolver.validator is not None:
        server.resolver.validator.flush(name)
    return (
        f"ok\nremoved {gone.rrsets} rrsets, {gone.negative} negative answers and "
        f"{before - len(wire)} rendered answers at or below {to_text(name)}\n"
    )


async def _dump(server: Server, path: Path) -> int:
    now = server.resolver.clock.now()
    entries = list(server.resolver.cache.export(now))  # the snapshot, on the loop
    return await asyncio.to_thread(persist.write_file, path, entries, now)


async def _load(server: Server, path: Path) -> persist.LoadReport:
    cache_config = server.resolver.config.cache
    read_at = server.resolver.clock.now()
    entries, report = await asyncio.to_thread(
        persist.read_file,
        path,
        read_at,
        cache_config.max_ttl,
        cache_config.max_negative_ttl,
    )
    persist.restore(server.resolver.cache, entries, server.resolver.clock.now(), report)
    return report


async def dump_cache(server: Server, where: str) -> str:
    """``ctl dump-cache FILE``: the cache in the cache-file format (the control reply)."""
    path = Path(where)
    try:
        count = await _dump(server, path)
    except OSError as exc:
        return f"error: cannot write {path}: {exc.strerror or exc}\n"
    return f"ok\nwrote {count} entries to {path}\n"


async def load_cache(server: Server, where: str) -> str:
    """``ctl load-cache FILE``: entries read back, TTLs counted down (the control reply)."""
    path = Path(where)
    try:
        report = await _load(server, path)
    except OSError as exc:
        return f"error: cannot read {path}: {exc.strerror or exc}\n"
    except ValueError as exc:
        return f"error: {path}: {exc}\n"
    return "ok\n" + "".join(f"{line}\n" for line in report.lines())


async def warm_load(server: Server) -> None:
    """At start, before serving: the cache saved by the last shutdown, if there is one."""
    where = server.config.cache.warm_start_file
    if not where:
        return
    path = Path(where)
    began = time.monotonic()
    try:
        report = await _load(server, path)
    except FileNotFoundError:
        log.info("warm start: no cache file %s yet; starting cold", path)
        return
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("warm start: cannot use %s (%s); starting cold", path, why)
        return
    log.info("warm start: %s from %s in %.2f s", report.summary(), path, time.monotonic() - began)
    for line in report.errors:
        log.warning("warm start: %s: %s", path, line)


async def warm_save(server: Server) -> None:
    """At shutdown, once the questions in progress are done: the cache for the next start."""
    where = server.config.cache.warm_start_file
    if not where:
        return
    path = Path(where)
    try:
        count = await _dump(server, path)
    except OSError as exc:
        log.error("warm start: cannot save the cache to %s: %s", path, exc.strerror or exc)
        return
    log.info("warm start: saved %d cache entries to %s", count, path)
