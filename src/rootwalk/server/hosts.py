"""Answers from a hosts file (``/etc/hosts``), as systemd-resolved and dnsmasq give them.

``server.hosts_file``: ``"auto"`` (the default) reads ``/etc/hosts`` when every listen address
is a loopback address, as systemd-resolved does on 127.0.0.53: then the clients are programs on
this machine, which expect the names glibc would find in the file. A resolver serving a LAN is
not assumed to want its own host's file shown to every client; ``"off"`` never reads one, and a
path reads that file whatever the listen addresses. (``$ROOTWALK_HOSTS_FILE`` moves the file
``"auto"`` reads, rootwalk/paths.py: the tests keep off the machine's.)

The file's names become local data (server/local.py): A and AAAA records for the addresses
listed, TTL 0 (systemd-resolved: the file is the truth, a client keeps no copy past an edit),
and the PTR records of those addresses naming every name listed for them. Local data configured
with ``server.local_data`` wins for a name and type it sets. A name the file lists is answered
locally only: NODATA for the types the file has no address of (``foo`` with only an IPv4
address has no AAAA), never a walk upstream, so that the answer does not depend on what
public DNS happens to say about the same name. The file is read again on every reload (SIGHUP).

Syntax (hosts(5)): ``ADDRESS NAME [ALIAS...]``, ``#`` to the end of the line is a comment.
Lines whose address is not an IP address, or whose address carries a zone (``fe80::1%eth0``),
are skipped, as are names that are not valid domain names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from rootwalk.config import ServerConfig, parse_listen
from rootwalk.errors import ConfigError
from rootwalk.paths import default_hosts_path

__all__ = [
    "HOSTS_TTL",
    "Hosts",
    "hosts_path",
    "is_loopback_address",
    "listen_is_loopback",
    "parse_hosts",
    "read_hosts",
]

#: TTL of the answers (systemd-resolved answers the hosts file with TTL 0).
HOSTS_TTL = 0


def is_loopback_address(host: str) -> bool:
    """Looked up at each call: tests that can only bind 127.x stand in another rule here."""
    return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback


def listen_is_loopback(
    listen: Sequence[str], is_loopback: Callable[[str], bool] | None = None
) -> bool:
    """Every listen address is a loopback address (0.0.0.0 and :: are not)."""
    check = is_loopback or is_loopback_address
    return all(check(parse_listen(text)[0]) for text in listen)


def hosts_path(
    config: ServerConfig, is_loopback: Callable[[str], bool] | None = None
) -> Path | None:
    """The hosts file to read for ``config``, or None."""
    setting = config.hosts_file
    if setting == "off":
        return None
    if setting == "auto":
        return default_hosts_path() if listen_is_loopback(config.listen, is_loopback) else None
    return Path(setting)


@dataclass
class Hosts:
    """What a hosts file says, as dnspython RRsets (the form LocalPolicy keeps)."""

    path: Path | None = None
    rrsets: list[dns.rrset.RRset] = field(default_factory=list)
    names: int = 0  # distinct names

    def __len__(self) -> int:
        return self.names


def read_hosts(
    config: ServerConfig,
    source: str = "config",
    is_loopback: Callable[[str], bool] | None = None,
) -> Hosts:
    """The hosts file ``config`` asks for, parsed. A file named in ``server.hosts_file`` that
    cannot be read is a ConfigError (one line naming the key); a missing ``/etc/hosts`` under
    ``"auto"`` is just no data, as on a minimal container."""
    path = hosts_path(config, is_loopback)
    if path is None:
        return Hosts()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        if config.hosts_file == "auto":
            return Hosts()
        raise ConfigError(
            f"{source}: 'server.hosts_file' {str(path)!r}: cannot read: {exc.strerror or exc}"
        ) from None
    return parse_hosts(text, path)


def parse_hosts(text: str, path: Path | None = None) -> Hosts:
    """Records for the lines of a hosts file (bad lines skipped, see the module comment)."""
    # name -> rdtype -> addresses, in file order; address -> names (for the PTR records).
    by_name: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[str]]] = {}
    by_address: dict[str, list[dns.name.Name]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or "%" in words[0]:
            continue
        try:
            address = ipaddress.ip_address(words[0])
        except ValueError:
            continue
        rdtype = dns.rdatatype.A if address.version == 4 else dns.rdatatype.AAAA
        text_address = str(address)
        for word in words[1:]:
            try:
                name = dns.name.from_text(word.rstrip(".") + ".")
            except dns.exception.DNSException:
                continue
            name = name.canonicalize()  # lower case: one entry per name whatever the spelling
            addresses = by_name.setdefault(name, {}).setdefault(rdtype, [])
            if text_address not in addresses:
                addresses.append(text_address)
            names = by_address.setdefault(text_address, [])
            if name not in names:
                names.append(name)
    rrsets: list[dns.rrset.RRset] = []
    for name, types in by_name.items():
        for rdtype, addresses in types.items():
            rrsets.append(
                dns.rrset.from_text_list(name, HOSTS_TTL, dns.rdataclass.IN, rdtype, addresses)
            )
    for text_address, names in by_address.items():
        if ipaddress.ip_address(text_address).is_unspecified:
            # 0.0.0.0 / :: lines are a blocklist in hosts form: thousands of names, no host.
            continue
        rrsets.append(
            dns.rrset.from_text_list(
                dns.reversename.from_address(text_address),
                HOSTS_TTL,
                dns.rdataclass.IN,
                dns.rdatatype.PTR,
                [n.to_text() for n in names],
            )
        )
    return Hosts(path, rrsets, len(by_name))
