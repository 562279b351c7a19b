"""The lab's web server: where the seeds' story ends (issue #14, step 9).

The walk the seed documents draw ends when the browser asks the web server at the address the
resolver found, and the page comes back. ``web.example.com`` in the lab (world/example.com.zone)
resolves to ``{net}.0.80``, where ``Lab.start`` runs this tiny HTTP/1.0 server on the lab's
port, so ``make demo`` can finish the story offline. It answers every GET (and HEAD) with one
small HTML page whose ``<title>`` is ``TITLE``, and counts the requests it served.

Bounded like the rest of the lab: a request line and headers of at most 8 KiB, read within
5 s, one response, then the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html

__all__ = ["NAME", "TITLE", "WebServer", "web_address"]

#: The lab name of the web server, and the title of its page.
NAME = "web.example.com"
TITLE = "Hello from web.example.com"
#: Its host number in the lab's core block: ``{net}.0.80`` (no DNS server lives there).
HOST = 80

_MAX_REQUEST = 8192
_TIMEOUT = 5.0


def web_address(net: str) -> str:
    """The web server's address in a lab whose net prefix is ``net`` (``"127.A"``)."""
    return f"{net}.0.{HOST}"


def page(address: str) -> str:
    """The page: the title, and what the browser went through to get here."""
    return (
        "<!doctype html>\n<html><head><meta charset=utf-8>"
        f"<title>{html.escape(TITLE)}</title></head>\n"
        f"<body><h1>{html.escape(TITLE)}</h1>\n"
        f"<p>You asked a resolver for {NAME}, it walked from the root to com. to "
        f"example.com.'s servers, and the answer was {html.escape(address)}: this page, "
        "served by the rootwalk lab.</p></body></html>\n"
    )


class WebServer:
    """HTTP/1.0 on ``address``:``port`` (TCP), in the lab's event loop."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port
        self.requests = 0  # GET/HEAD requests answered with the page
        self._server: asyncio.Server | None = None
        self._body = page(address).encode()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client,
            host=self.address,
            port=self.port,
            reuse_address=True,
            limit=_MAX_REQUEST,
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        try:
            method = head.split(b" ", 1)[0]
            if method in (b"GET", b"HEAD"):
                self.requests += 1
                status, body = "200 OK", self._body
            else:
                status, body = "405 Method Not Allowed", b"GET or HEAD only\n"
            writer.write(
                (
                    f"HTTP/1.0 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                + (b"" if method == b"HEAD" else body)
            )
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
