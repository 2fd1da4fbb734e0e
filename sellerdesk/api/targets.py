"""Where webhooks may be sent: never to this machine, the private network or a cloud metadata
service (server-side request forgery), unless ``SELLERDESK_WEBHOOK_ALLOW_PRIVATE`` says so.

A subscription's host is resolved when it is made and again at every delivery, and the
delivery connects to the very address that was checked (a host that resolved to a public
address at subscribing and to 127.0.0.1 later — DNS rebinding — is refused, not re-resolved
behind our back by the HTTP client).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from typing import Any

from django.conf import settings

from sellerdesk.core.errors import ValidationError


class TargetRefused(ValidationError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_problem(address: IPAddress) -> str:
    """Why webhooks may not reach ``address``, or "" if they may."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        address = mapped
    carried = getattr(address, "sixtofour", None)
    if carried is not None:
        # 2002:7f00:1:: carries 127.0.0.1 (6to4), which a host relaying 6to4 would reach;
        # Python counts the 6to4 prefix as global whatever it carries.
        problem = address_problem(carried)
        if problem:
            return f"a 6to4 address carrying {carried}, {problem}"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "an address that is not public"
    return ""


def resolve(host: str, port: int) -> list[str]:
    """The addresses to connect to for ``host``; TargetRefused when it does not resolve or when
    any of its addresses is one webhooks may not reach (with private targets allowed, every
    address is fine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"the host {host!r} does not resolve") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    if not settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE:
        for text in addresses:
            problem = address_problem(ipaddress.ip_address(text.split("%", 1)[0]))
            if problem:
                raise TargetRefused(
                    f"the host {host!r} resolves to {text}, {problem}: webhooks are sent only "
                    "to public addresses"
                )
    return addresses


def literal_problem(host: str) -> str:
    """For a host written as an IP address: why it may not be reached ("" if it may, or if
    the host is a name)."""
    if settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE:
        return ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ""
    problem = address_problem(address)
    return f"{host} is {problem}: webhooks are sent only to public addresses" if problem else ""


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to ``address``, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to ``address``; the certificate is checked against the URL's host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def connection(scheme: str, host: str, port: int, *, timeout: float) -> Any:
    """A connection to the first checked address of ``host`` (TargetRefused otherwise).
    http.client follows no redirects: a redirect is the receiver's answer, a failure."""
    address = resolve(host, port)[0]
    pinned = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    return pinned(host, port, address=address, timeout=timeout)
