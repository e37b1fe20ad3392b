"""Incremental translation (translator.incremental): a memo changes how much work a run does,
never what it produces.

For every stage-1 golden case with HTTP or gRPC routes, a sequence of updates (the same set
again, routes removed, added back in another order, replaced by equal copies, and a context
object replaced) is translated with one memo and compared with a translation from scratch:
statuses, IR and serialized xDS must be equal. Reuse itself is shown by identity:
an unchanged route keeps its IR and xDS objects, a route change builds only the virtual hosts
it touches, a changed context starts over. Leaves the pipeline's use of the memo to the
control-plane tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest
from google.protobuf.message import Message

from tests.translator.golden import case_id, cases
from tests.translator.test_golden_gatewayapi import load_case
from translator.incremental import TranslationMemo
from translator.ir import VirtualHost
from translator.options import TranslateOptions
from translator.resources import ResourceSet
from translator.serialize import to_data
from translator.translate import TranslationResult, translate
from translator.xds.encoded import EncodedMessages


def _with_routes(
    resources: ResourceSet, http: tuple[object, ...], grpc: tuple[object, ...]
) -> ResourceSet:
    return dataclasses.replace(resources, http_routes=http, grpc_routes=grpc)  # type: ignore[arg-type]


def _copy(obj: object) -> object:
    return obj.model_copy(deep=True)  # type: ignore[attr-defined]


def _fingerprint(result: TranslationResult) -> tuple[object, ...]:
    xds = {
        gateway: {
            type_url: {name: _serialized(by_name, name) for name in by_name}
            for type_url, by_name in resources.by_type_url().items()
        }
        for gateway, resources in result.xds.items()
    }
    return (dict(result.statuses), to_data(result.ir), xds)


def _serialized(messages: Mapping[str, Message], name: str) -> bytes:
    """The bytes the xDS cache would send: kept ones as they are (they must be the
    deterministic serialization a translation from scratch gives)."""
    if isinstance(messages, EncodedMessages):
        return messages.encoded(name)
    return messages[name].SerializeToString(deterministic=True)


def _updates(resources: ResourceSet) -> list[ResourceSet]:
    """The same set twice, then each route kind thinned, restored, copied, routes leaving one
    by one and coming back in another order, and a context change."""
    http, grpc = resources.http_routes, resources.grpc_routes
    steps = [resources, resources, _with_routes(resources, http[1:], grpc[1:]), resources]
    steps.extend(_with_routes(resources, http[i:], grpc[i:]) for i in range(1, len(http) + 1))
    steps.append(_with_routes(resources, http[1::2], grpc[1::2]))
    steps.append(resources)
    steps.append(_with_routes(resources, tuple(_copy(r) for r in http[:1]) + http[1:], grpc))
    steps.append(_with_routes(resources, http[::-1][::-1], tuple(_copy(r) for r in grpc)))
    if resources.services:
        copied = (_copy(resources.services[0]), *resources.services[1:])
        steps.append(dataclasses.replace(resources, services=copied))  # type: ignore[arg-type]
    steps.append(_with_routes(resources, (), ()))
    steps.append(resources)
    return steps


def _route_cases() -> list[Path]:
    found = []
    for path in cases("gatewayapi"):
        text = path.read_text()
        if "kind: HTTPRoute" in text or "kind: GRPCRoute" in text:
            found.append(path)
    return found


@pytest.mark.parametrize("path", _route_cases(), ids=case_id)
def test_memo_changes_nothing(path: Path) -> None:
    resources, options, _ = load_case(path)
    memo = TranslationMemo()
    for step, update in enumerate(_updates(resources)):
        incremental = _fingerprint(translate(update, options, memo))
        assert incremental == _fingerprint(translate(update, options)), f"update {step}"


def _routes_of(result: TranslationResult) -> list[object]:
    return [
        route
        for gateway in result.ir.values()
        for config in gateway.route_configs
        for host in config.virtual_hosts
        for route in host.routes
    ]


def test_unchanged_routes_are_reused_and_a_context_change_starts_over() -> None:
    path = next(p for p in _route_cases() if p.name.startswith("httproute-header-query-method"))
    resources, options, _ = load_case(path)
    memo = TranslationMemo()
    first = _routes_of(translate(resources, options, memo))
    again = _routes_of(translate(resources, options, memo))
    assert first and all(a is b for a, b in zip(first, again, strict=True))

    changed = dataclasses.replace(
        resources, namespaces=tuple(_copy(n) for n in resources.namespaces)
    )  # type: ignore[arg-type]
    if not resources.namespaces:
        changed = dataclasses.replace(
            resources, services=tuple(_copy(s) for s in resources.services)
        )  # type: ignore[arg-type]
    fresh = _routes_of(translate(changed, options, memo))
    assert fresh == first
    assert not any(a is b for a, b in zip(first, fresh, strict=True))


def test_other_options_start_over() -> None:
    path = next(p for p in _route_cases() if p.name.startswith("httproute-header-query-method"))
    resources, options, _ = load_case(path)
    memo = TranslationMemo()
    first = _routes_of(translate(resources, options, memo))
    other = dataclasses.replace(options, controller_name=options.controller_name)
    assert _routes_of(translate(resources, other, memo))[0] is first[0]
    renamed = TranslateOptions(controller_name="example.com/other")
    translate(resources, renamed, memo)
    assert all(
        a is not b
        for a, b in zip(first, _routes_of(translate(resources, options, memo)), strict=False)
    )


def test_a_route_change_builds_only_the_virtual_hosts_it_touches() -> None:
    path = next(p for p in _route_cases() if p.name.startswith("httproute-extauth."))
    resources, options, _ = load_case(path)
    memo = TranslationMemo()
    first = {h.name: h for h in _hosts_of(translate(resources, options, memo))}
    changed = resources.http_routes[0]
    copied = _with_routes(resources, (_copy(changed), *resources.http_routes[1:]), ())
    again = {h.name: h for h in _hosts_of(translate(copied, options, memo))}
    assert again.keys() == first.keys()
    touched = {name for name, host in again.items() if host is not first[name]}
    served = {
        host.name
        for host in first.values()
        if any(route.origin.endswith(f"/{changed.metadata.name}") for route in host.routes)
    }
    assert touched == served and touched != set(first)


def _hosts_of(result: TranslationResult) -> list[VirtualHost]:
    return [
        host
        for gateway in result.ir.values()
        for config in gateway.route_configs
        for host in config.virtual_hosts
    ]
