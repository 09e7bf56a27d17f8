"""Outbound URL safety: where emitrun may POST on behalf of a tenant.

A tenant chooses the URLs (callbacks, Slack, push), so without this check they could
make the server call its own loopback, the private network or a cloud metadata service
(SSRF). Checked when a URL is saved and again before every send, because DNS answers
change. EMITRUN_ALLOW_PRIVATE_WEBHOOKS lifts the address check (development, tests).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

# Metadata services reachable at public-looking or special addresses.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeURL(ValueError):
    """The URL is not one emitrun will call; the message says why."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """Where to send: `url` names the checked address itself, so the connection cannot
    go to another one (DNS rebinding); `host` is the Host header, `sni` the TLS name
    (certificates are verified against it)."""

    url: str
    host: str | None = None
    sni: str | None = None


def check_url(url: str) -> str:
    """Returns `url` if it is http(s) to a public address. Raises UnsafeURL otherwise.

    Resolves the host (a blocking DNS lookup): every address it resolves to must be
    public, so a name with one private answer among public ones is refused too. A
    name that does not resolve at all passes: there is nothing to reach yet.
    """
    _checked_addresses(url)
    return url


def target(url: str) -> Target:
    """check_url, then the URL pinned to the first address the check accepted."""
    addresses = _checked_addresses(url)
    parts = urlsplit(url)
    if not addresses or _is_ip_literal(parts.hostname or ""):
        return Target(url)
    # IPv4 first: a host with an AAAA record is often unreachable over IPv6 from here,
    # and pinning takes away the fallback a plain connect would have.
    ip = min(addresses, key=lambda a: a.version)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    if parts.port:
        netloc += f":{parts.port}"
    host = parts.netloc.rsplit("@", 1)[-1]
    sni = parts.hostname if parts.scheme.lower() == "https" else None
    return Target(urlunsplit(parts._replace(netloc=netloc)), host, sni)


def _checked_addresses(url: str) -> list[Address]:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL("must be an http or https URL")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURL("must name a host")
    if parts.username or parts.password:
        raise UnsafeURL("must not carry credentials in the URL; use headers")
    if host in _METADATA_HOSTS and not settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS:
        raise UnsafeURL(f"host {host} is a cloud metadata service")
    addresses = _resolve(host, parts.port)
    if settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS:
        return addresses
    for address in addresses:
        if not _is_public(address):
            raise UnsafeURL(f"host {host} resolves to a non-public address ({address})")
    return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int | None) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        # Nothing to call yet: accepted when saved (DNS may come later); at send time
        # the POST itself fails to connect and is recorded as a failed attempt.
        return []
    found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))  # in the resolver's order, without repeats


def _is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address not in _METADATA and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )
