"""Incremental translation: what the runs before made of an unchanged context, reused.

A route's stage-1 result (its attachments, rules and status) depends on the route itself, on
the objects that are not HTTP or gRPC routes (GatewayClasses, Gateways, ListenerSets, Services,
EndpointSlices, grants, policies, ...: its *context*) and on the options. Users mostly edit
routes, so most updates leave the context alone: then stage 1 keeps what it made of the
context, with the routes attached to it, and takes the update as routes that went and came
(translator.gatewayapi.attached); stage 2 reuses the protos of the virtual hosts and routes
it built before. A change to the context, or to the options, starts over.

Objects are compared by identity: sources hand over the very same object while it is
unchanged, and a new one when it changes (what the memo keeps holds each keyed object alive,
so an ``id()`` is never reused under it). Entries that a run did not use are dropped when the
next run begins, so the memo never grows beyond two runs' worth.

Not thread-safe: one translation at a time uses a memo (the pipeline runs them in sequence).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from translator.memo import IdentityMemo
from translator.options import TranslateOptions
from translator.resources import ResourceSet
from translator.xds.built_routes import BuiltRoutes

# The ResourceSet fields whose objects are memoised one by one rather than being context.
ROUTE_FIELDS = frozenset({"http_routes", "grpc_routes"})


class TranslationMemo:
    """Everything one translator reuses from the runs before; see the module docstring.

    ``begin`` compares the new context with the last one and forgets everything if it
    changed; the stages then read and fill the memos; ``end`` lets go of unused entries."""

    def __init__(self) -> None:
        # Stage 1: the translated context with its attached routes
        # (translator.gatewayapi.translate.TranslatedContext), while the context stays.
        self.stage1: Any = None
        # Stage 1, when the translated context is not kept: what each route did
        # (translator.gatewayapi.routes.RouteEntry), to replay it on a fresh context.
        self.routes: IdentityMemo[Any] = IdentityMemo()
        # Stage 2: route and virtual host protos.
        self.xds_routes = BuiltRoutes()
        self._context: tuple[tuple[Any, ...], ...] | None = None
        self._options: TranslateOptions | None = None

    def begin(self, resources: ResourceSet, options: TranslateOptions) -> None:
        context = tuple(
            getattr(resources, f.name) for f in fields(resources) if f.name not in ROUTE_FIELDS
        )
        if self._context is None or options != self._options or not _same(context, self._context):
            self._clear()
        self._context = context
        self._options = options

    def end(self) -> None:
        for memo in self._memos():
            memo.turn()

    def _clear(self) -> None:
        self.stage1 = None
        for memo in self._memos():
            memo.clear()

    def _memos(self) -> tuple[IdentityMemo[Any] | BuiltRoutes, ...]:
        return (self.routes, self.xds_routes)


def _same(new: tuple[tuple[Any, ...], ...], old: tuple[tuple[Any, ...], ...]) -> bool:
    """The same objects, in the same order, field by field."""
    for new_objects, old_objects in zip(new, old, strict=True):
        if new_objects is old_objects:
            continue
        if len(new_objects) != len(old_objects):
            return False
        if any(a is not b for a, b in zip(new_objects, old_objects, strict=True)):
            return False
    return True
