"""Steps 8 and 9 of the seed documents: the browser asks the web server at the address the
resolver found, and the page comes back.

The dashboard's resolve box offers it for an answer on this machine (a loopback address, as
in the lab, whose web server answers ``web.example.com``), and ``make demo`` uses it for its
own story. Only loopback: the resolver fetching pages anywhere a name points would let a page
of the dashboard make the server reach into other networks (server-side request forgery).
Bounded: one GET, ``TIMEOUT`` seconds, at most ``MAX_BYTES`` read, only the status line and
the ``<title>`` kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

__all__ = ["MAX_BYTES", "TIMEOUT", "fetch_title", "is_loopback"]

TIMEOUT = 3.0
MAX_BYTES = 65536
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def fetch_title(address: str, port: int, host: str) -> tuple[str, str]:
    """GET / from ``address``:``port`` with ``Host: host``: (status line, page title).
    Raises OSError or TimeoutError when the server cannot be reached in time."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(address, port)
        try:
            writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            data = b""
            while len(data) < MAX_BYTES:
                chunk = await reader.read(MAX_BYTES - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            writer.close()
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    m = _TITLE.search(data)
    return status, (m.group(1).decode(errors="replace").strip() if m else "(no title)")
