"""Compile a serialized RouteConfiguration by the bytes that changed since the last one.

A RouteConfiguration of thousands of virtual hosts is one xDS resource: adding a route
re-sends all of it. Parsing it costs milliseconds, and finding which hosts changed by
serializing each again costs more. Here the new serialization is compared with the previous
one of the same name: the common prefix and suffix are found by comparing byte ranges
(bisection, at memcmp speed), the top-level fields entirely inside them are the same fields
as before (their compiled hosts are kept), and only the bytes in between are walked and
compiled. The route table is the previous one with the replaced hosts' domains swapped.

Anything unusual falls back to compiling every field (still skipping hosts whose bytes were
compiled before): a first serialization, a change outside the virtual hosts, a field the
walk cannot read. Both ways give the table ``compile_route_configuration`` gives, and the
same errors."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from envoy.config.route.v3.route_components_pb2 import VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration

from dataplane.config.header_mutation import HeaderOps
from dataplane.config.route import (
    CompiledHost,
    CompiledRoutes,
    compile_route_configuration,
    compile_virtual_host,
    config_header_ops,
)
from dataplane.config.route_table import RouteTable, VirtualHostTable, build_route_table
from dataplane.errors import InvalidConfig

_VIRTUAL_HOSTS_FIELD = 2
_LENGTH_DELIMITED = 2
# Patches add the hosts they compile to the ones cached; past twice the hosts in use (and
# this), the next change compiles every field and the cache starts over with those in use.
_SLACK = 64


@dataclass(frozen=True, slots=True)
class _Layout:
    """A compiled serialization: the size of each top-level field, where each starts and
    ends, and the compiled host of each virtual host field (None for the configuration's
    other fields)."""

    data: bytes
    where: str
    ops: tuple[HeaderOps, HeaderOps]
    sizes: list[int]
    hosts: list[CompiledHost | None]
    table: RouteTable
    compiled: CompiledRoutes
    starts: list[int] = field(init=False)
    ends: list[int] = field(init=False)

    def __post_init__(self) -> None:
        # Running sums, at C speed: a patch changes the offsets of every field after it.
        ends = list(accumulate(self.sizes))
        object.__setattr__(self, "ends", ends)
        object.__setattr__(self, "starts", [0, *ends[:-1]] if ends else [])


# By resource name: the layout of the latest serialization compiled without error.
_LAYOUTS: dict[str, _Layout] = {}


def compile_encoded_route_configuration(name: str, data: bytes) -> RouteTable:
    """The route table of the RouteConfiguration ``data`` serializes; raises
    ``ConfigRejected`` as ``compile_route_configuration`` does."""
    previous = _LAYOUTS.get(name)
    if previous is not None and (previous.data is data or previous.data == data):
        return previous.table
    layout = _patched(previous, data) if previous is not None else None
    if layout is None:
        layout = _compiled(data, previous)
    if layout is None:  # not walkable: compiled as a message, nothing kept
        _LAYOUTS.pop(name, None)
        return compile_route_configuration(_parse(RouteConfiguration, data, name))
    _LAYOUTS[name] = layout
    return layout.table


def _compiled(data: bytes, previous: _Layout | None) -> _Layout | None:
    """Every field compiled (hosts whose bytes ``previous`` compiled are reused)."""
    fields = _walk(data, 0, len(data))
    if fields is None:
        return None
    # The configuration's own fields, without the hosts: a small message to parse.
    config = RouteConfiguration.FromString(
        b"".join(data[s:e] for number, s, _, e in fields if number != _VIRTUAL_HOSTS_FIELD)
    )
    where = f"RouteConfiguration {config.name!r}"
    ops = config_header_ops(config, where)
    known = previous.compiled if previous is not None and previous.ops == ops else None
    compiled = CompiledRoutes()
    hosts = [
        _host(data[payload:e], ops, where, known, compiled)
        if number == _VIRTUAL_HOSTS_FIELD
        else None
        for number, _, payload, e in fields
    ]
    table = build_route_table(config.name, [host for host in hosts if host is not None])
    sizes = [end - start for _, start, _, end in fields]
    return _Layout(data, where, ops, sizes, hosts, table, compiled)


def _patched(old: _Layout, data: bytes) -> _Layout | None:
    """``old`` with the fields between the common prefix and suffix replaced, or None when
    that is not a run of virtual hosts in both."""
    prefix, suffix = common_ends(old.data, data)
    first = bisect_right(old.ends, prefix)  # fields before it lie in the common prefix
    last = bisect_left(old.starts, len(old.data) - suffix)  # from it on, in the suffix
    replaced = old.hosts[first:last]
    if None in replaced:
        return None  # a field of the configuration itself changed
    shift = len(data) - len(old.data)
    start = old.ends[first - 1] if first else 0
    end = (old.starts[last] if last < len(old.starts) else len(old.data)) + shift
    fields = _walk(data, start, end)
    if fields is None or any(number != _VIRTUAL_HOSTS_FIELD for number, _, _, _ in fields):
        return None
    compiled = old.compiled
    if len(compiled.hosts) > 2 * len(old.hosts) + _SLACK:
        return None  # a full compile keeps only the hosts in use
    added = [
        _host(data[at:stop], old.ops, old.where, compiled, compiled) for _, _, at, stop in fields
    ]
    table = _swap_hosts(old.table, replaced, added)  # type: ignore[arg-type]  # no None left
    return _Layout(
        data,
        old.where,
        old.ops,
        old.sizes[:first] + [e - s for _, s, _, e in fields] + old.sizes[last:],
        old.hosts[:first] + list(added) + old.hosts[last:],
        table,
        compiled,
    )


def _host(
    payload: bytes,
    ops: tuple[HeaderOps, HeaderOps],
    where: str,
    known: CompiledRoutes | None,
    compiled: CompiledRoutes,
) -> CompiledHost:
    key = (payload, *ops)
    found = (known.hosts.get(key) if known is not None else None) or compiled.hosts.get(key)
    if found is None:
        vhost = _parse(VirtualHost, payload, where)
        previous = known if known is not None else compiled
        table = compile_virtual_host(vhost, *ops, where, previous, compiled)
        found = (tuple(vhost.domains), table)
    compiled.hosts[key] = found
    return found


def _swap_hosts(
    table: RouteTable, removed: list[CompiledHost], added: list[CompiledHost]
) -> RouteTable:
    """``table`` without ``removed`` and with ``added``: the table ``build_route_table``
    makes of the hosts then present, with its check that a domain appears only once."""
    exact = dict(table.exact)
    suffixes = {length: dict(by) for length, by in table.suffixes}
    prefixes = {length: dict(by) for length, by in table.prefixes}
    default = table.default
    for domains, _ in removed:
        for domain in domains:
            lowered = domain.lower().encode()
            if lowered == b"*":
                default = None
            elif lowered.startswith(b"*"):
                del suffixes[len(lowered) - 1][lowered[1:]]
            elif lowered.endswith(b"*"):
                del prefixes[len(lowered) - 1][lowered[:-1]]
            else:
                del exact[lowered]
    for domains, vhost in added:
        for domain in domains:
            lowered = domain.lower().encode()
            slot, key = _slot(lowered, exact, suffixes, prefixes)
            taken = default is not None if lowered == b"*" else key in slot
            if taken:
                raise InvalidConfig(
                    f"RouteConfiguration {table.name!r}: domain {domain!r} appears in two "
                    "virtual hosts"
                )
            if lowered == b"*":
                default = vhost
            else:
                slot[key] = vhost
    count = sum(len(vhost.routes) for _, vhost in added)
    count -= sum(len(vhost.routes) for _, vhost in removed)
    return RouteTable(
        name=table.name,
        exact=exact,
        suffixes=tuple(sorted(((n, by) for n, by in suffixes.items() if by), reverse=True)),
        prefixes=tuple(sorted(((n, by) for n, by in prefixes.items() if by), reverse=True)),
        default=default,
        route_count=table.route_count + count,
    )


def _slot(
    lowered: bytes,
    exact: dict[bytes, VirtualHostTable],
    suffixes: dict[int, dict[bytes, VirtualHostTable]],
    prefixes: dict[int, dict[bytes, VirtualHostTable]],
) -> tuple[dict[bytes, VirtualHostTable], bytes]:
    """Where a (lowered) domain goes in a route table, as ``build_route_table`` puts it."""
    if lowered.startswith(b"*") and lowered != b"*":
        return suffixes.setdefault(len(lowered) - 1, {}), lowered[1:]
    if lowered.endswith(b"*") and lowered != b"*":
        return prefixes.setdefault(len(lowered) - 1, {}), lowered[:-1]
    return exact, lowered


def _walk(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]] | None:
    """The top-level fields in ``data[start:end]``: (number, start, payload start, end); None
    when they do not end exactly at ``end`` or use a wire type other than length-delimited
    (scalars are rare here: the fallback handles them)."""
    fields = []
    at = start
    while at < end:  # every pass consumes at least two bytes
        key, payload = _varint(data, at)
        if key & 7 != _LENGTH_DELIMITED or payload >= end:
            return None
        size, payload = _varint(data, payload)
        stop = payload + size
        if stop > end:
            return None
        fields.append((key >> 3, at, payload, stop))
        at = stop
    return fields if at == end else None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at`` and the offset after it (at most ten bytes are read)."""
    value = shift = 0
    for index in range(at, min(at + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    return -1, len(data)  # truncated: no wire type matches, the walk gives up


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """How many leading and how many trailing bytes ``a`` and ``b`` share (the two never
    overlap), found by comparing halving ranges: a few memcmp calls over the whole length,
    however far in the first difference lies."""
    prefix = _common_prefix(a, b)
    return prefix, _common_suffix(a, b, min(len(a), len(b)) - prefix)


def _common_prefix(a: bytes, b: bytes) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:  # a[:low] == b[:low]; halves the range each pass
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    low, high = 0, limit
    size_a, size_b = len(a), len(b)
    while low < high:  # the last ``low`` bytes agree; halves the range each pass
        middle = (low + high + 1) // 2
        if a[size_a - middle : size_a - low] == b[size_b - middle : size_b - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _parse(message_type: Any, data: bytes, where: str) -> Any:
    try:
        return message_type.FromString(data)
    except Exception as error:  # upb's DecodeError: the bytes are not that message
        raise InvalidConfig(f"{where}: cannot decode: {error}") from None
