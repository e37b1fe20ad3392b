"""An emulated Kubernetes API server: kmock's HTTP server and discovery scaffold, with the
storage semantics of ``tests.kube.store`` and the list/watch protocol of a real server.

- discovery (``/api``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/<version>``) lists
  exactly the resources of ``served`` (a CRD that is not installed is a 404 there);
- list answers with the store's revision as ``metadata.resourceVersion``, paginates with
  ``limit``/``continue``, and filters with equality label and field selectors;
- watch without a resourceVersion (or "0") starts with an ADDED event per object; watch from
  a resourceVersion replays what happened after it, or answers an ERROR event with a 410
  Status when the revision is older than the history; ``allowWatchBookmarks`` gets a BOOKMARK
  every ``bookmark_interval`` seconds of quiet; ``timeoutSeconds`` ends the stream;
- ``refuse(...)`` answers 401, 403 or a 5xx to a verb on a resource (the next n times, or
  always); ``require_token`` answers 401 to requests without the bearer token;
  ``issue_token`` makes TokenReviews authenticate a ServiceAccount token;
- ``drop_watches()`` ends the open streams as a restart would; ``install()`` adds a CRD;
  ``store`` can be changed directly (then ``notify()``) to stage races a client cannot.

Use ``running_apiserver()`` to serve it on a loopback address.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import attrs
import kmock
from kmock import Response  # type: ignore[attr-defined]  # public, not in __all__

from tests.kube import errors, paths
from tests.kube.resources import ResourceType, standard_resources
from tests.kube.selectors import selected
from tests.kube.store import Event, Object, ObjectStore
from tests.kube.tokenreview import review_token

WATCH_TIMEOUT_DEFAULT = 1800.0

paths.install()


def verb_of(request: kmock.Request) -> str:
    """The RBAC verb of a request: get, list, watch, create, update, patch or delete."""
    method = str(request.method.value).upper()
    if method == "GET":
        if _is_true(request.params.get("watch")):
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def resource_name_of(request: kmock.Request) -> str:
    """As RBAC names it: "httproutes.gateway.networking.k8s.io", "gateways/status"..."""
    resource = request.resource
    if resource is None or not resource.plural:
        return ""
    name = f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)
    return f"{name}/{request.subresource}" if request.subresource else name


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesScaffold):
    served: list[ResourceType] = attrs.field(factory=standard_resources)
    store: ObjectStore = attrs.field(factory=ObjectStore)
    bookmark_interval: float = 1.0
    # Bearer token -> (username, audiences), for TokenReview.
    tokens: dict[str, tuple[str, tuple[str, ...]]] = attrs.field(factory=dict)
    _wake: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    # Streams end when this moves past the value they started with (``drop_watches``).
    _epoch: int = attrs.field(default=0, init=False)
    _pages: dict[str, tuple[int, list[Object]]] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for resource in self.served:
            self._declare(resource)
        self.fallback[_is_resource_request] << self._serve_resource
        # kubernetes-asyncio asks for "/apis/", "/api/v1/"...; a real server answers both
        # spellings, kmock only the one without the slash.
        self.fallback["get /apis/"] << self._serve_apis
        self.fallback["get /api/"] << self._serve_api
        self.fallback["get", re.compile(r"/api/[^/]+/")] << self._serve_version
        self.fallback["get", re.compile(r"/apis/[^/]+/")] << self._serve_group
        self.fallback["get", re.compile(r"/apis/[^/]+/[^/]+/")] << self._serve_version

    def _declare(self, resource: ResourceType) -> None:
        for version in resource.versions:
            self.resources[resource.api_version(version) + "/" + resource.plural] = (
                kmock.ResourceInfo(
                    kind=resource.kind,
                    namespaced=resource.namespaced,
                    singular=resource.kind.lower(),
                    verbs=_verbs(resource),
                    subresources={"status"} if resource.status else set(),
                )
            )

    # --- test controls -----------------------------------------------------------------------

    def install(self, resource: ResourceType) -> None:
        """Install a CRD: from now on discovery lists it and its objects can be stored."""
        self.served.append(resource)
        self._declare(resource)

    def refuse(
        self,
        status: int,
        verb: str | None = None,
        resource: str | None = None,
        times: int | None = None,
    ) -> Any:
        """Answer ``status`` (401, 403, 5xx) to requests with this verb on this resource
        (RBAC's spelling, e.g. "list" and "gateways.gateway.networking.k8s.io"; None: any),
        the next ``times`` such requests or all of them."""

        def matches(request: kmock.Request) -> bool:
            return (verb is None or verb_of(request) == verb) and (
                resource is None or resource_name_of(request) == resource
            )

        reason = {401: "Unauthorized", 403: "Forbidden"}.get(status, "InternalError")
        message = f"{verb or 'any verb'} on {resource or 'any resource'} refused"
        view = self[matches]
        if times is not None:
            # kmock slices the whole request history: skip what matched before this call.
            seen = len(view)
            view = view[seen : seen + times]
        return view << status << errors.ApiError(status, reason, message).status()

    def require_token(self, token: str) -> Any:
        """Answer 401 to every request that does not carry ``Authorization: Bearer <token>``."""

        def unauthenticated(request: kmock.Request) -> bool:
            return _header(request, "Authorization") != f"Bearer {token}"

        body = errors.ApiError(401, "Unauthorized", "Unauthorized").status()
        return self[unauthenticated] << 401 << body

    def issue_token(self, namespace: str, service_account: str, *audiences: str) -> str:
        """A token that TokenReview authenticates as this ServiceAccount."""
        token = secrets.token_urlsafe(24)
        user = f"system:serviceaccount:{namespace}:{service_account}"
        self.tokens[token] = (user, audiences)
        return token

    def requests_with(self, verb: str, resource: str) -> list[kmock.Request]:
        """The requests served so far with this verb on this resource (see ``refuse``)."""
        return [r for r in self if verb_of(r) == verb and resource_name_of(r) == resource]

    def close_watches(self) -> None:
        """End every watch stream, now and to come (before the server stops)."""
        self._closing = True
        self.notify()

    def drop_watches(self) -> None:
        """End the open watch streams, as an API server restart does; clients reconnect."""
        self._epoch += 1
        self.notify()

    def find(self, kind: str) -> ResourceType:
        return next(resource for resource in self.served if resource.kind == kind)

    # --- discovery: the scaffold's, with each group's preferred version made explicit --------

    async def _serve_apis(self, request: kmock.Request) -> Any:
        return {"apiVersion": "v1", "kind": "APIGroupList", "groups": self._groups()}

    async def _serve_group(self, request: kmock.Request) -> Any:
        wanted = request.resource.group if request.resource is not None else None
        for group in self._groups():
            if group["name"] == wanted:
                return {"apiVersion": "v1", "kind": "APIGroup", **group}
        raise kmock.KubernetesResourceNotFoundError()

    def _groups(self) -> list[dict[str, Any]]:
        versions: dict[str, list[str]] = {}
        for resource in self.served:
            if resource.group:
                known = versions.setdefault(resource.group, [])
                known.extend(v for v in resource.versions if v not in known)
        return [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in found],
                "preferredVersion": {"groupVersion": f"{group}/{found[0]}", "version": found[0]},
            }
            for group, found in versions.items()
        ]

    # --- serving -----------------------------------------------------------------------------

    async def _serve_resource(self, request: kmock.Request) -> Any:
        # Always an explicit status: kmock 0.8 keeps the status of a Response returned by a
        # handler on the reaction itself, so a bare payload would inherit the previous one.
        try:
            resource, version = self._resource_of(request)
            answer = self._dispatch(request, resource, version)
        except errors.ApiError as error:
            return Response(status=error.code, payload=error.status())
        return answer if isinstance(answer, Response) else Response(status=200, payload=answer)

    def _resource_of(self, request: kmock.Request) -> tuple[ResourceType, str]:
        wanted = request.resource
        assert wanted is not None
        for resource in self.served:
            same = (resource.group, resource.plural) == (wanted.group, wanted.plural)
            if same and wanted.version in resource.versions:
                if request.namespace is not None and not resource.namespaced:
                    break
                return resource, str(wanted.version)
        raise errors.not_found(f"the server could not find the requested resource ({wanted})")

    def _dispatch(self, request: kmock.Request, resource: ResourceType, version: str) -> Any:
        verb = verb_of(request)
        namespace = request.namespace or ""
        status = request.subresource == "status"
        if request.subresource and not (status and resource.status):
            raise errors.not_found(f"{resource.name}/{request.subresource}")
        if resource.virtual:
            if verb != "create":
                raise errors.ApiError(405, "MethodNotAllowed", f"{verb} is not allowed")
            return Response(
                status=201, payload=review_token(self.tokens, request.data or {}, version)
            )
        if verb == "list":
            return self._list(request, resource, version)
        if verb == "watch":
            return self._watch(request, resource, version)
        name = request.name or ""
        if verb == "get":
            return _served(self.store.get(resource, namespace, name), resource, version)
        if verb == "create":
            created = self.store.create(resource, namespace, _body(request))
            self.notify()
            return Response(status=201, payload=_served(created, resource, version))
        if verb == "update":
            obj = self.store.replace(resource, namespace, name, _body(request), status=status)
        elif verb == "patch":
            content_type = _header(request, "Content-Type")
            obj = self.store.patch(
                resource, namespace, name, request.data, content_type, status=status
            )
        elif verb == "delete":
            obj = self.store.delete(resource, namespace, name)
        else:
            raise errors.ApiError(405, "MethodNotAllowed", f"{verb} is not allowed")
        self.notify()
        return _served(obj, resource, version)

    def _list(self, request: kmock.Request, resource: ResourceType, version: str) -> Object:
        token = request.params.get("continue")
        if token:
            if token not in self._pages:
                raise errors.ApiError(410, "Expired", "the continue token has expired")
            revision, items = self._pages.pop(token)
        else:
            items, revision = self.store.list_objects(resource, request.namespace)
            items = [item for item in items if selected(item, request.params)]
        limit = int(request.params.get("limit") or 0)
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if limit and len(items) > limit:
            items, rest = items[:limit], items[limit:]
            next_token = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
            self._pages[next_token] = (revision, rest)
            metadata["continue"] = next_token
        return {
            "apiVersion": resource.api_version(version),
            "kind": f"{resource.kind}List",
            "metadata": metadata,
            "items": [_served(item, resource, version) for item in items],
        }

    def _watch(
        self, request: kmock.Request, resource: ResourceType, version: str
    ) -> AsyncIterator[Any]:
        since = request.params.get("resourceVersion") or "0"
        if not since.isdigit():
            raise errors.bad_request(f"invalid resourceVersion {since!r}")
        timeout = float(request.params.get("timeoutSeconds") or WATCH_TIMEOUT_DEFAULT)
        bookmarks = _is_true(request.params.get("allowWatchBookmarks"))
        selected({}, request.params)  # a bad selector is a 400, before the stream starts
        return self._stream(request, resource, version, int(since), timeout, bookmarks)

    async def _stream(
        self,
        request: kmock.Request,
        resource: ResourceType,
        version: str,
        since: int,
        timeout: float,
        bookmarks: bool,
    ) -> AsyncIterator[Any]:
        yield b""  # send the headers now: the client waits for them before reading events
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        epoch = self._epoch
        last = since
        if since == 0:
            items, last = self.store.list_objects(resource, request.namespace)
            for item in items:
                if selected(item, request.params):
                    yield {"type": "ADDED", "object": _served(item, resource, version)}
        while not self._closing and epoch == self._epoch:
            wake = self._wake
            try:
                events = self.store.events_since(resource, request.namespace, last)
            except errors.ApiError as error:
                yield {"type": "ERROR", "object": error.status()}
                return
            for event in events:
                if selected(event.object, request.params):
                    yield _watch_event(event, resource, version)
                last = event.revision
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(wake.wait(), min(remaining, self.bookmark_interval))
            except TimeoutError:
                if bookmarks and not wake.is_set():
                    # Nothing was written since ``wake`` was taken: every event up to the
                    # current revision has been sent, so resuming from it loses nothing.
                    last = self.store.revision
                    yield _bookmark(resource, version, last)

    def notify(self) -> None:
        """Wake the watch streams; call after changing ``store`` directly."""
        self._wake.set()
        self._wake = asyncio.Event()


def _is_true(value: str | None) -> bool:
    # Go clients send "true"; kubernetes-asyncio sends Python's "True".
    return (value or "").lower() in ("true", "1")


def _header(request: kmock.Request, name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in request.headers.items() if k.lower() == wanted), "")


def _is_resource_request(request: kmock.Request) -> bool:
    return request.resource is not None and bool(request.resource.plural)


def _verbs(resource: ResourceType) -> set[str]:
    if resource.virtual:
        return {"create"}
    return {"get", "list", "watch", "create", "update", "patch", "delete"}


def _body(request: kmock.Request) -> Object:
    if not isinstance(request.data, dict):
        raise errors.bad_request("the request body is not a JSON object")
    return request.data


def _served(obj: Object, resource: ResourceType, version: str) -> Object:
    """Versions share storage; every answer speaks the version that was asked for."""
    return {**obj, "apiVersion": resource.api_version(version), "kind": resource.kind}


def _watch_event(event: Event, resource: ResourceType, version: str) -> Object:
    return {"type": event.type, "object": _served(event.object, resource, version)}


def _bookmark(resource: ResourceType, version: str, revision: int) -> Object:
    return {
        "type": "BOOKMARK",
        "object": {
            "apiVersion": resource.api_version(version),
            "kind": resource.kind,
            "metadata": {"resourceVersion": str(revision)},
        },
    }


@contextlib.asynccontextmanager
async def running_apiserver(host: str = "127.0.20.1", **options: Any) -> AsyncIterator[ApiServer]:
    """Serve an ``ApiServer(**options)`` on ``host`` (a free port); its URL is ``api.url``."""
    async with ApiServer(**options) as api, kmock.Server(api, host=host):
        try:
            yield api
        finally:
            api.close_watches()
