"""Route configurations assembled from the virtual hosts built before (translator.incremental).

A virtual host is built once and kept serialized, with the IR host it was built from. Stage 1
keeps an unchanged host the very same object, so a configuration's new hosts differ from its
last ones only between their common ends (``same_ends``, at C speed); only the hosts there are
looked up, and a host rebuilt with the same routes (stage 1 started over from a fresh context)
is still found by its name, domains and routes. A RouteConfiguration is then its name and its
hosts' bytes, concatenated: its deterministic serialization, which the xDS cache sends as it
is (translator.xds.encoded parses it only for a reader that wants the message). The clusters
each host's routes use, and whether one needs the invalid-backend cluster, are kept with the
host and counted per configuration, so neither the consistency check nor stage 2 walks every
route of every host again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, KeysView
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

from google.protobuf.message import Message

from translator.ir import ForwardAction, RouteConfig, VirtualHost
from translator.memo import Generations, IdentityMemo, same_ends
from translator.xds.forward import needs_invalid_backend_cluster
from translator.xds.route import (
    ClusterReferences,
    ProtoMemo,
    build_virtual_host,
    cluster_references,
)

# Wire-format keys (field number << 3 | length-delimited) of RouteConfiguration's fields.
_NAME_FIELD = (1 << 3) | 2
_VIRTUAL_HOSTS_FIELD = (2 << 3) | 2


@dataclass(frozen=True, slots=True, eq=False)
class BuiltHost:
    # The IR host it was built from: holding it keeps the ids of its routes from reuse.
    host: VirtualHost
    # The RouteConfiguration field: key, length and the host's deterministic serialization.
    field: bytes
    references: ClusterReferences
    needs_invalid_backend: bool


_FIELD = attrgetter("field")
_REFERENCES = attrgetter("references")


@dataclass(frozen=True, slots=True)
class RouteReferences:
    """The clusters a route configuration's routes use: their names at once, every (route,
    cluster) pair when asked (the consistency check wants those only to report one)."""

    counts: Counter[str]
    hosts: list[BuiltHost]

    @property
    def clusters(self) -> KeysView[str]:
        return self.counts.keys()

    def pairs(self) -> Iterator[tuple[str, str]]:
        return chain.from_iterable(map(_REFERENCES, self.hosts))


@dataclass(frozen=True, slots=True)
class EncodedConfig:
    data: bytes
    references: RouteReferences
    # How many hosts need the invalid-backend cluster.
    invalid_backend_hosts: int


@dataclass(frozen=True, slots=True)
class _BuiltConfig:
    place: tuple[int, str]  # the serving listener's port and scheme
    # The hosts of its latest build (holding them keeps their ids from reuse), and what was
    # built of each, in the same order.
    hosts: tuple[VirtualHost, ...]
    built: list[BuiltHost]
    encoded: EncodedConfig | None = field(default=None)


_NOTHING_BUILT = _BuiltConfig((0, ""), (), [])


class BuiltRoutes:
    """Route and virtual host protos of earlier translations."""

    def __init__(self) -> None:
        self.routes: IdentityMemo[Message] = IdentityMemo()
        # (port, scheme, name, domains, ids of the routes) -> the host built of them.
        self.hosts: Generations[tuple[Any, ...], BuiltHost] = Generations()
        self.configs: Generations[str, _BuiltConfig] = Generations()

    def turn(self) -> None:
        self.routes.turn()
        self.hosts.turn()
        self.configs.turn()

    def clear(self) -> None:
        self.routes.clear()
        self.hosts.clear()
        self.configs.clear()

    def encode(
        self, config: RouteConfig, *, listener_port: int, listener_scheme: str
    ) -> EncodedConfig:
        """``config`` serialized, as ``build_route_configuration`` builds it."""
        place = (listener_port, listener_scheme)
        hosts = config.virtual_hosts
        previous = self.configs.get(config.name)
        if previous is None or previous.place != place or previous.encoded is None:
            previous = _NOTHING_BUILT
        elif previous.hosts is hosts:
            return previous.encoded
        prefix, suffix = same_ends(previous.hosts, hosts)
        gone_hosts = previous.hosts[prefix : len(previous.hosts) - suffix]
        gone = previous.built[prefix : len(previous.built) - suffix]
        # A host may move within the changed stretch (one was inserted before it).
        movable = dict(zip(map(id, gone_hosts), gone, strict=True))
        memo = ProtoMemo(self.routes)
        came = [
            movable.get(id(host)) or self._host(host, place, memo)
            for host in hosts[prefix : len(hosts) - suffix]
        ]
        built = previous.built[:prefix] + came + previous.built[len(previous.built) - suffix :]
        name = config.name.encode()
        encoded = EncodedConfig(
            b"".join([_field_header(_NAME_FIELD, len(name)), name, *map(_FIELD, built)]),
            RouteReferences(_recounted(previous, gone, came), built),
            _invalid_hosts(previous, gone, came),
        )
        self.configs.put(config.name, _BuiltConfig(place, hosts, built, encoded))
        return encoded

    def _host(self, host: VirtualHost, place: tuple[int, str], memo: ProtoMemo) -> BuiltHost:
        key = (*place, host.name, host.domains, tuple(map(id, host.routes)))
        found = self.hosts.get(key)
        if found is None:
            port, scheme = place
            message = build_virtual_host(
                host, listener_port=port, listener_scheme=scheme, memo=memo
            )
            serialized = message.SerializeToString(deterministic=True)
            found = BuiltHost(
                host,
                _field_header(_VIRTUAL_HOSTS_FIELD, len(serialized)) + serialized,
                tuple(cluster_references(message)),
                any(
                    isinstance(route.action, ForwardAction)
                    and needs_invalid_backend_cluster(route.action)
                    for route in host.routes
                ),
            )
            self.hosts.put(key, found)
        return found


def _recounted(
    previous: _BuiltConfig, gone: Iterable[BuiltHost], came: Iterable[BuiltHost]
) -> Counter[str]:
    counts = Counter(previous.encoded.references.counts) if previous.encoded else Counter()
    counts.subtract(cluster for host in gone for _, cluster in host.references)
    counts.update(cluster for host in came for _, cluster in host.references)
    return +counts  # only the clusters still used


def _invalid_hosts(
    previous: _BuiltConfig, gone: Iterable[BuiltHost], came: Iterable[BuiltHost]
) -> int:
    count = previous.encoded.invalid_backend_hosts if previous.encoded else 0
    count -= sum(host.needs_invalid_backend for host in gone)
    return count + sum(host.needs_invalid_backend for host in came)


def _field_header(key: int, size: int) -> bytes:
    """A length-delimited field's key and length (the key fits one byte for these fields)."""
    varint = bytearray((key,))
    while size > 0x7F:
        varint.append((size & 0x7F) | 0x80)
        size >>= 7
    varint.append(size)
    return bytes(varint)
