"""Where the tool may send requests: the one check of an outbound URL's address.

Outbound URLs are typed by staff (an instance's base URL, a media URL Evolution fetches, the
account's notification webhook), so an admin could aim them at the host's cloud metadata service
and read the answer or hand it a secret. Link-local and metadata addresses are always refused.
Loopback and private networks stay allowed, since Evolution often runs on the same host or LAN,
unless the operator sets `OUTBOUND_ALLOW_PRIVATE=false`.

A host name is resolved and every address it resolves to is judged; a name that does not resolve
passes here (the request will fail anyway) and is judged again when a request is made, since DNS
may change between the save and the request.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from core.base._errors import ValidationError
from core.base._settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata and other host-only services, never a WhatsApp server.
_ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.0.0/16",  # link-local: AWS, GCP, Azure, OpenStack metadata (169.254.169.254)
        "fe80::/10",  # IPv6 link-local
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "168.63.129.16/32",  # Azure's host wire server
        "0.0.0.0/8",  # "this host": reaches loopback on Linux, unnoticed
        "::/128",
        "224.0.0.0/4",  # multicast
        "ff00::/8",
        "255.255.255.255/32",
    )
)


def refusal(url: str) -> str | None:
    """Why a request to `url` must not be made (an English sentence), or None when it may."""
    host = urlsplit(url).hostname
    if not host:
        return "the URL names no host"
    for address in _addresses(host):
        reason = _address_refusal(address)
        if reason:
            if host.strip("[]") == str(address):
                return f"{address} is {reason}"
            return f"{host} resolves to {address}, {reason}"
    return None


def check_outbound_url(url: str, field: str) -> None:
    """Raise ValidationError naming `field` when requests must not go to `url`."""
    reason = refusal(url)
    if reason:
        raise ValidationError("{name} is not allowed: {reason}", field, name=field, reason=reason)


def _addresses(host: str) -> list[IPAddress]:
    try:
        return [_unmapped(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # unresolvable now: nothing to judge (the request itself is judged again)
    found: list[IPAddress] = []
    for info in infos:
        try:
            address = _unmapped(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except ValueError:
            continue
        if address not in found:
            found.append(address)
    return found


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _address_refusal(address: IPAddress) -> str | None:
    if any(address in network for network in _ALWAYS_REFUSED if network.version == address.version):
        return "a link-local, metadata or broadcast address"
    if get_settings().outbound_allow_private:
        return None
    if address.is_loopback or address.is_private or address in _SHARED:
        return "a loopback or private address (OUTBOUND_ALLOW_PRIVATE=false)"
    return None


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in all but name
