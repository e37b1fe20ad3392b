"""The function table: every function name an expression may call, with its arities.

Member functions receive their receiver as the first argument, so ``"ab".contains("a")`` calls
``contains_string("ab", "a")``. Macros (``has``, ``all``, ``map``, ``default``, ``with``...)
take unevaluated arguments and live in ``calls``; regex functions get their pattern compiled
there too. ``ip()`` and ``cidr()`` check constant arguments when compiling, as ``matches``
checks a constant pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cel import conversions, extensions, network, strings, temporal
from cel.values import Value


@dataclass(frozen=True, slots=True)
class Function:
    implementation: Callable[..., Value]
    # Accepted argument counts, receiver included; None accepts one or more.
    arities: frozenset[int] | None
    # Pure functions with constant arguments are evaluated once, at compile time.
    pure: bool = True
    # Constant arguments the function rejects fail compilation instead of every evaluation:
    # a mistyped CIDR in an authorization rule must show in the policy's status, not turn
    # into an error on every request.
    checks_constants: bool = False

    def accepts(self, count: int) -> bool:
        return count >= 1 if self.arities is None else count in self.arities


def _f(
    implementation: Callable[..., Value],
    *arities: int,
    pure: bool = True,
    checks_constants: bool = False,
) -> Function:
    return Function(implementation, frozenset(arities) if arities else None, pure, checks_constants)


GLOBAL: dict[str, Function] = {
    "size": _f(strings.size, 1),
    "int": _f(conversions.to_int, 1),
    "uint": _f(conversions.to_uint, 1),
    "double": _f(conversions.to_double, 1),
    "string": _f(conversions.to_string, 1),
    "bytes": _f(conversions.to_bytes, 1),
    "bool": _f(conversions.to_bool, 1),
    "dyn": _f(conversions.dyn, 1),
    "timestamp": _f(temporal.parse_timestamp, 1),
    "duration": _f(temporal.parse_duration, 1),
    "json": _f(extensions.parse_json, 1),
    "toJson": _f(extensions.to_json, 1),
    "base64.encode": _f(extensions.base64_encode, 1),
    "base64.decode": _f(extensions.base64_decode, 1),
    "max": _f(strings.extreme("max", 1)),
    "min": _f(strings.extreme("min", -1)),
    "random": _f(extensions.random_double, 0, pure=False),
    "uuid": _f(extensions.random_uuid, 0, pure=False),
    "fail": _f(extensions.fail, 0, 1, pure=False),
    "ip": _f(network.parse_ip, 1, checks_constants=True),
    "isIP": _f(network.is_ip, 1),
    "ip.isCanonical": _f(network.is_canonical, 1),
    "cidr": _f(network.parse_cidr, 1, checks_constants=True),
    "isCIDR": _f(network.is_cidr, 1),
}

MEMBER: dict[str, Function] = {
    "size": _f(strings.size, 1),
    "contains": _f(strings.contains_string, 2),
    "startsWith": _f(strings.starts_with, 2),
    "endsWith": _f(strings.ends_with, 2),
    "lowerAscii": _f(strings.lower_ascii, 1),
    "upperAscii": _f(strings.upper_ascii, 1),
    "trim": _f(strings.trim, 1),
    "charAt": _f(strings.char_at, 2),
    "indexOf": _f(strings.index_of, 2, 3),
    "lastIndexOf": _f(strings.last_index_of, 2, 3),
    "replace": _f(strings.replace, 3, 4),
    "split": _f(strings.split, 2, 3),
    "substring": _f(strings.substring, 2, 3),
    "stripPrefix": _f(strings.strip_prefix, 2),
    "stripSuffix": _f(strings.strip_suffix, 2),
    "join": _f(strings.join, 1, 2),
    "merge": _f(extensions.merge, 2),
    "family": _f(network.family, 1),
    "isUnspecified": _f(network.is_unspecified, 1),
    "isLoopback": _f(network.is_loopback, 1),
    "isLinkLocalMulticast": _f(network.is_link_local_multicast, 1),
    "isLinkLocalUnicast": _f(network.is_link_local_unicast, 1),
    "isGlobalUnicast": _f(network.is_global_unicast, 1),
    "containsIP": _f(network.contains_ip, 2),
    "containsCIDR": _f(network.contains_cidr, 2),
    "ip": _f(network.cidr_ip, 1),
    "masked": _f(network.masked, 1),
    "prefixLength": _f(network.prefix_length, 1),
    **{
        name: _f(temporal.accessor(name, field), 1, 2) for name, field in temporal.ACCESSORS.items()
    },
}

#: agentgateway functions agw does not implement, with the reason given at compile time.
UNSUPPORTED: dict[str, str] = {
    "flatten": "is only meaningful in agentgateway's log and trace fields",
    "flattenRecursive": "is only meaningful in agentgateway's log and trace fields",
    "unredacted": "is not supported: agw does not redact jwt.rawToken or apiKey.key",
    "type": "is not supported: agw does not expose CEL type values",
}
