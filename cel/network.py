"""The Kubernetes CEL IP and CIDR libraries: ``ip()``, ``isIP()``, ``ip.isCanonical()``,
``cidr()``, ``isCIDR()`` and the members of their values, over Python's ``ipaddress``.

Semantics follow the libraries as Kubernetes ships them (k8s.io/apiserver/pkg/cel/library,
which delegates to Go's ``net/netip``) where their prose and their behaviour differ:

- IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``), zones (``fe80::1%eth0``) and IPv4 octets
  with leading zeros are not IP addresses; ``cidr()`` additionally needs ``/bits`` in decimal
  without a sign or leading zero.
- ``cidr()`` keeps host bits: ``cidr('10.0.0.1/8').ip()`` is ``10.0.0.1`` and ``masked()``
  clears them, so ``cidr('10.0.0.1/8') != cidr('10.0.0.0/8')``.
- ``isLinkLocalMulticast()`` is 224.0.0.0/24 or IPv6 multicast of link-local scope (ffx2::/16);
  ``isGlobalUnicast()`` excludes only the unspecified and IPv4 broadcast addresses, loopback,
  multicast and link-local unicast, so private ranges count as global, as in Go.
- Containment across families is false, not an error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from cel.errors import ValueOutOfRange
from cel.values import Value, no_overload

Address = IPv4Address | IPv6Address

_IPV4_BROADCAST = IPv4Address("255.255.255.255")
_IPV4_LINK_LOCAL_MULTICAST = (0xFFFFFF00, 0xE0000000)  # 224.0.0.0/24 as (mask, network)
_IPV6_SCOPE_MASK, _IPV6_LINK_LOCAL_SCOPE = 0xFF0F, 0xFF02  # first hextet: ff, flags, scope 2
_ALL_ONES = {4: 2**32 - 1, 6: 2**128 - 1}


@dataclass(frozen=True, slots=True)
class IP:
    """Kubernetes' ``net.IP``: one IPv4 or IPv6 address, no zone, never IPv4-mapped."""

    address: Address

    def __str__(self) -> str:
        return str(self.address)


@dataclass(frozen=True, slots=True)
class CIDR:
    """Kubernetes' ``net.CIDR``: an address as written and a prefix length. Equal when both
    are; ``network`` and ``mask`` are derived, kept so that containment is one AND."""

    address: Address
    prefix_length: int
    network: int = field(compare=False, repr=False)
    mask: int = field(compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix_length}"


def _cidr(address: Address, prefix_length: int) -> CIDR:
    all_ones = _ALL_ONES[address.version]
    mask = all_ones ^ (all_ones >> prefix_length)
    return CIDR(address, prefix_length, int(address) & mask, mask)


# Client addresses recur from request to request (keep-alive, the same few clients), so
# parsing ``source.address`` is cached; failures raise and are not kept.
@functools.lru_cache(maxsize=1024)
def _parse_address(text: str) -> Address:
    """Raises ValueError saying why ``text`` is not an IP address in Kubernetes' sense."""
    # Choosing the family first avoids ipaddress trying IPv4, failing, and raising for IPv6.
    if ":" not in text:
        return IPv4Address(text)
    if "%" in text:
        raise ValueError(f"IP address {text!r} with a zone is not allowed")
    address = IPv6Address(text)
    if address.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address {text!r} is not allowed")
    return address


def _address_of(text: Value, function: str) -> Address:
    if type(text) is not str:
        raise no_overload(function, text)
    try:
        return _parse_address(text)
    except ValueError as error:
        raise ValueOutOfRange(f"{function}: {error}") from None


def _prefix_of(text: Value, function: str) -> CIDR:
    if type(text) is not str:
        raise no_overload(function, text)
    address_text, slash, bits = text.rpartition("/")
    # Go's netip: decimal bits, no sign, no leading zero, no zone on the address.
    if not slash or not (bits.isascii() and bits.isdigit()) or (len(bits) > 1 and bits[0] == "0"):
        raise ValueOutOfRange(f"{function}: {text!r} is not in CIDR notation (address/bits)")
    try:
        address = _parse_address(address_text)
    except ValueError as error:
        raise ValueOutOfRange(f"{function}: {error}") from None
    prefix_length = int(bits)
    if prefix_length > address.max_prefixlen:
        raise ValueOutOfRange(
            f"{function}: prefix length {prefix_length} is too long for IPv{address.version}"
        )
    return _cidr(address, prefix_length)


def parse_ip(text: Value) -> IP:
    return IP(_address_of(text, "ip"))


def is_ip(text: Value) -> bool:
    if type(text) is not str:
        raise no_overload("isIP", text)
    try:
        _parse_address(text)
    except ValueError:
        return False
    return True


def is_canonical(text: Value) -> bool:
    """True when ``text`` is spelled as ``string(ip(text))`` would spell it (RFC 5952)."""
    address = _address_of(text, "ip.isCanonical")
    return bool(str(address) == text)


def parse_cidr(text: Value) -> CIDR:
    return _prefix_of(text, "cidr")


def is_cidr(text: Value) -> bool:
    if type(text) is not str:
        raise no_overload("isCIDR", text)
    try:
        _prefix_of(text, "isCIDR")
    except ValueOutOfRange:
        return False
    return True


def _ip_member(name: str, target: Value) -> Address:
    if type(target) is not IP:
        raise no_overload(name, target)
    return target.address


def family(target: Value) -> int:
    return _ip_member("family", target).version


def is_unspecified(target: Value) -> bool:
    return _ip_member("isUnspecified", target).is_unspecified


def is_loopback(target: Value) -> bool:
    return _ip_member("isLoopback", target).is_loopback


def is_link_local_multicast(target: Value) -> bool:
    address = _ip_member("isLinkLocalMulticast", target)
    if address.version == 4:
        mask, network = _IPV4_LINK_LOCAL_MULTICAST
        return int(address) & mask == network
    return (int(address) >> 112) & _IPV6_SCOPE_MASK == _IPV6_LINK_LOCAL_SCOPE


def is_link_local_unicast(target: Value) -> bool:
    return _ip_member("isLinkLocalUnicast", target).is_link_local


def is_global_unicast(target: Value) -> bool:
    address = _ip_member("isGlobalUnicast", target)
    return not (
        address.is_unspecified
        or address == _IPV4_BROADCAST
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
    )


def _cidr_member(name: str, target: Value, *arguments: Value) -> CIDR:
    if type(target) is not CIDR:
        raise no_overload(name, target, *arguments)
    return target


def contains_ip(target: Value, other: Value) -> bool:
    network = _cidr_member("containsIP", target, other)
    if type(other) is str:
        address = _address_of(other, "containsIP")
    elif type(other) is IP:
        address = other.address
    else:
        raise no_overload("containsIP", target, other)
    return address.version == network.address.version and int(address) & network.mask == (
        network.network
    )


def contains_cidr(target: Value, other: Value) -> bool:
    network = _cidr_member("containsCIDR", target, other)
    if type(other) is str:
        inner = _prefix_of(other, "containsCIDR")
    elif type(other) is CIDR:
        inner = other
    else:
        raise no_overload("containsCIDR", target, other)
    return (
        inner.address.version == network.address.version
        and inner.prefix_length >= network.prefix_length
        and int(inner.address) & network.mask == network.network
    )


def cidr_ip(target: Value) -> IP:
    return IP(_cidr_member("ip", target).address)


def masked(target: Value) -> CIDR:
    network = _cidr_member("masked", target)
    return _cidr(type(network.address)(network.network), network.prefix_length)


def prefix_length(target: Value) -> int:
    return _cidr_member("prefixLength", target).prefix_length
