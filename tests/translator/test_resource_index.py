"""ResourceIndex: after any sequence of puts and discards it publishes exactly the
ResourceSet that ``ResourceSet.from_objects`` makes of the objects left, and a kind no change
touched keeps its very tuple. Leaves how the file source feeds it to the file-source tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from translator.model import HTTPRoute, Resource, Service
from translator.resource_index import ResourceIndex
from translator.resources import ResourceSet


def _route(namespace: str, name: str, generation: int = 1) -> HTTPRoute:
    return HTTPRoute.model_validate(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"namespace": namespace, "name": name, "generation": generation},
            "spec": {},
        }
    )


def _service(namespace: str, name: str) -> Service:
    metadata = {"namespace": namespace, "name": name}
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": {"ports": []}}
    return Service.model_validate(doc)


_KEYS = st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", "z", "w"]))
_STEPS = st.lists(
    st.tuples(st.sampled_from(["put", "discard"]), st.sampled_from(["route", "service"]), _KEYS),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_STEPS)
def test_publishes_what_from_objects_makes_of_the_objects_left(
    steps: list[tuple[str, str, tuple[str, str]]],
) -> None:
    index = ResourceIndex()
    current: dict[tuple[str, str, str], Resource] = {}
    for generation, (action, kind, (namespace, name)) in enumerate(steps, start=1):
        obj: Resource = (
            _route(namespace, name, generation) if kind == "route" else _service(namespace, name)
        )
        if action == "put":
            index.put(obj)
            current[(kind, namespace, name)] = obj
        else:
            index.discard(obj)
            current.pop((kind, namespace, name), None)
        published = index.resource_set()
        expected = ResourceSet.from_objects(current.values())
        assert published == expected
        assert all(a is b for a, b in zip(published.objects(), expected.objects(), strict=True))


def test_an_untouched_kind_keeps_its_tuple_and_no_change_keeps_the_set() -> None:
    index = ResourceIndex()
    index.put(_service("a", "s"))
    index.put(_route("a", "r"))
    first = index.resource_set()
    assert index.resource_set() is first
    index.put(_route("a", "r2"))
    second = index.resource_set()
    assert second.services is first.services
    assert second.http_routes is not first.http_routes
    index.put(second.http_routes[0])  # the very object it holds: nothing changes
    assert index.resource_set() is second
    index.discard(_route("a", "missing"))
    assert index.resource_set() is second
