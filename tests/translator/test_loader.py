"""The loader (Kubernetes YAML/JSON text and files to models, with problems) and ResourceSet.

Covers: multi-document YAML and JSON; directories (recursion, sorting, suffixes, dot-names
skipped); namespace defaulting; nulls read as absent; timestamps kept as written; anchors and
merge keys; List expansion; unknown kinds ignored; unsupported versions; problems that name
the file, the document and the field (also through union variants); syntax errors naming the
line; duplicate definitions (the later wins); ResourceSet grouping, sorting and lookups; and,
with Hypothesis, that no garbage input raises out of the loader.
Leaves out: each model validation rule (test_model) and watching files (the file source).
"""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.translator.test_model import DOCS, MANIFESTS
from translator.loader import LoadProblem, load_paths, load_text, parse_object
from translator.model import (
    SERVED_KINDS,
    EndpointSlice,
    Gateway,
    GatewayClass,
    HTTPRoute,
    ListenerSet,
    Namespace,
    Service,
)
from translator.resources import ResourceSet

ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs:
    - {{name: svc, port: {port}}}
"""


def route(name: str, port: int = 80) -> str:
    return ROUTE.format(name=name, port=port)


def messages(text: str, source: str = "routes.yaml") -> list[str]:
    return [str(problem) for problem in load_text(text, source).problems]


def test_realistic_manifests_load_into_a_resource_set() -> None:
    loaded = load_text(MANIFESTS, "all.yaml")
    assert loaded.problems == ()
    resources = loaded.resource_set()
    assert len(list(resources.objects())) == len(loaded.objects) == len(DOCS)
    gateway = resources.get(Gateway, "infra", "edge")
    assert gateway is not None and gateway.metadata.generation == 3
    assert resources.get(GatewayClass, "", "agw") is not None
    assert resources.get(Gateway, "infra", "nope") is None
    assert [s.metadata.name for s in resources.endpoint_slices_for("web", "shop-api")] == [
        "shop-api-abc"
    ]
    assert resources.endpoint_slices_for("web", "other") == ()


def test_a_bad_document_names_file_document_and_field_and_hides_nothing() -> None:
    loaded = load_text(
        "---\n".join([route("a"), route("b", port=70000), route("c")]), "routes.yaml"
    )
    assert [str(p) for p in loaded.problems] == [
        "routes.yaml: document 2: spec.rules[0].backendRefs[0].port: "
        "Input should be less than or equal to 65535"
    ]
    assert [item.metadata.name for item in loaded.objects] == ["a", "c"]


def test_paths_skip_union_variant_steps_and_name_missing_fields() -> None:
    text = route("a").replace(
        "  - backendRefs:\n    - {name: svc, port: 80}",
        "  - filters:\n    - type: RequestHeaderModifier\n"
        "      requestHeaderModifier: {set: [{name: 'bad name', value: v}]}\n"
        "    backendRefs: [{port: 80}]",
    )
    assert messages(text) == [
        "routes.yaml: document 1: spec.rules[0].filters[0].requestHeaderModifier.set[0].name: "
        "String should match pattern '^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$'",
        "routes.yaml: document 1: spec.rules[0].backendRefs[0].name: Field required",
    ]


def test_documents_that_are_not_objects_or_lack_identity() -> None:
    text = "- a list\n---\n42\n---\nkind: Service\n---\napiVersion: v1\n---\n" + (
        "apiVersion: v1\nkind: Service\nmetadata: {}\n---\napiVersion: x.io/v1\nkind: Thing\n"
    )
    assert messages(text) == [
        "routes.yaml: document 1: a list is not an object",
        "routes.yaml: document 2: a int is not an object",
        "routes.yaml: document 3: apiVersion: required: a non-empty string",
        "routes.yaml: document 4: kind: required: a non-empty string",
        "routes.yaml: document 5: metadata.name: Field required",
    ]


def test_unknown_kinds_are_ignored_and_empty_documents_skipped() -> None:
    text = "---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n"
    loaded = load_text(text + route("a"), "mixed.yaml")
    assert loaded.problems == ()
    assert [item.kind for item in loaded.objects] == ["HTTPRoute"]


def test_unsupported_version_is_a_problem() -> None:
    text = route("a").replace("networking.k8s.io/v1", "networking.k8s.io/v2")
    assert messages(text) == [
        "routes.yaml: document 1: apiVersion: HTTPRoute is not served as "
        "'gateway.networking.k8s.io/v2' (versions: v1, v1alpha2, v1alpha3, v1beta1)"
    ]


def test_syntax_error_is_one_problem_for_the_file_naming_the_line() -> None:
    loaded = load_text(route("a") + "---\nkind: [unclosed\nmetadata: x\n", "broken.yaml")
    assert loaded.objects == ()
    [problem] = loaded.problems
    assert (problem.source, problem.document) == ("broken.yaml", 2)
    assert str(problem).startswith("broken.yaml: document 2: invalid YAML at line 11, column")


def test_namespaces_default_for_namespaced_kinds_only() -> None:
    text = (
        route("a")
        + "---\n"
        + (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
            "metadata: {name: agw, namespace: ignored}\nspec: {controllerName: agw.dev/c}\n"
        )
    )
    loaded = load_text(text, "ns.yaml")
    assert [item.key for item in loaded.objects] == [("default", "a"), ("", "agw")]


def test_nulls_read_as_absent_and_timestamps_stay_text() -> None:
    text = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, creationTimestamp: 2026-01-02T03:04:05Z, labels: null}
spec:
  hostnames: null
  rules:
  - matches: null
    backendRefs: [{name: s, port: 1, weight: null}]
"""
    [loaded] = load_text(text, "nulls.yaml").objects
    assert isinstance(loaded, HTTPRoute)
    assert loaded.spec.rules[0].backend_refs[0].weight == 1
    assert loaded.spec.rules[0].matches[0].path.value == "/"
    assert (loaded.spec.hostnames, loaded.metadata.labels) == ((), {})
    assert loaded.metadata.creation_timestamp == "2026-01-02T03:04:05Z"


def test_anchors_aliases_and_merge_keys() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: &labels {app: x}}\n"
        "spec:\n  selector: *labels\n"
        "  ports: [&port {name: http, port: 80}, {<<: *port, name: alt, port: 81}]\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {when: 2026-01-01}\n"
    )
    [service, config_map] = load_text(text, "anchors.yaml").objects
    assert isinstance(service, Service) and service.spec.selector == {"app": "x"}
    assert [(p.name, p.port) for p in service.spec.ports] == [("http", 80), ("alt", 81)]
    assert config_map.model_dump()["data"] == {"when": "2026-01-01"}


def test_lists_expand_with_item_paths() -> None:
    items = [yaml.safe_load(route("a")), yaml.safe_load(route("b", port=0))]
    loaded = load_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}), "l.yaml"
    )
    assert [item.metadata.name for item in loaded.objects] == ["a"]
    assert [str(p) for p in loaded.problems] == [
        "l.yaml: document 1: items[1].spec.rules[0].backendRefs[0].port: "
        "Input should be greater than or equal to 1"
    ]
    typed = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClassList",
        "items": [{"metadata": {"name": "c"}, "spec": {"controllerName": "agw.dev/c"}}],
    }
    [gateway_class] = load_text(json.dumps(typed), "typed.json").objects
    assert isinstance(gateway_class, GatewayClass)


def test_load_paths_walks_directories_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "2.yaml").write_text(route("two"))
    (tmp_path / "a" / "1.yml").write_text(route("one"))
    (tmp_path / "c.json").write_text(json.dumps(yaml.safe_load(route("three"))))
    (tmp_path / ".hidden" / "x.yaml").write_text(route("hidden"))
    (tmp_path / ".editor-swap.yaml").write_text(route("swap"))
    (tmp_path / "notes.txt").write_text(route("notes"))
    (tmp_path / "bad.json").write_text('{"apiVersion": ')
    (tmp_path / "latin1.yaml").write_bytes(b"kind: \xff\n")
    explicit = tmp_path / "notes.txt"
    loaded = load_paths([tmp_path, explicit, tmp_path / "missing.yaml"])
    assert [item.metadata.name for item in loaded.objects] == ["one", "two", "three", "notes"]
    problems = [str(p).replace(str(tmp_path), "T") for p in loaded.problems]
    assert problems[0] == "T/missing.yaml: no such file or directory"
    assert problems[1].startswith("T/bad.json: invalid JSON at line 1, column 16")
    assert problems[2].startswith("T/latin1.yaml: cannot read")


def test_duplicate_definitions_report_and_the_later_wins(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(route("web", 80))
    (tmp_path / "b.yaml").write_text(route("web", 81))
    loaded = load_paths([tmp_path])
    assert [str(p).replace(str(tmp_path), "T") for p in loaded.problems] == [
        "T/b.yaml: document 1: HTTPRoute default/web is defined again "
        "(first in T/a.yaml document 1); the later definition wins"
    ]
    [kept] = loaded.resource_set().http_routes
    assert kept.spec.rules[0].backend_refs[0].port == 81


def test_parse_object_contract() -> None:
    doc = yaml.safe_load(route("a"))
    snapshot = json.dumps(doc)
    parsed = parse_object(doc)
    assert isinstance(parsed, HTTPRoute) and parsed.metadata.namespace == "default"
    assert json.dumps(doc) == snapshot
    assert parse_object({"apiVersion": "apps/v1", "kind": "Deployment"}) is None
    assert parse_object({**doc, "apiVersion": "gateway.networking.k8s.io/v9"}) is None
    with pytest.raises(ValidationError):
        parse_object({**doc, "spec": {"rules": []}})
    experimental = {
        "apiVersion": "gateway.networking.x-k8s.io/v1alpha1",
        "kind": "XListenerSet",
        "metadata": {"name": "ls"},
        "spec": {
            "parentRef": {"name": "gw"},
            "listeners": [{"name": "a", "port": 80, "protocol": "HTTP"}],
        },
    }
    listener_set = parse_object(experimental)
    assert isinstance(listener_set, ListenerSet) and listener_set.kind == "XListenerSet"
    assert ("gateway.networking.x-k8s.io", "XListenerSet") in ListenerSet.GROUP_KINDS


def test_resource_set_groups_sorts_and_keeps_the_last_duplicate() -> None:
    def service(namespace: str, name: str, port: int = 80) -> Service:
        metadata = {"name": name, "namespace": namespace}
        spec = {"ports": [{"port": port}]}
        doc = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
        return Service.model_validate(doc)

    namespace = Namespace.model_validate(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "z"}}
    )
    unsorted = [service("b", "x"), namespace, service("a", "y"), service("a", "x", 1)]
    resources = ResourceSet.from_objects([*unsorted, service("a", "x", 2)])
    assert [s.key for s in resources.services] == [("a", "x"), ("a", "y"), ("b", "x")]
    assert resources.services[0].spec.ports[0].port == 2
    assert list(resources.objects()) == [namespace, *resources.services]
    assert resources.get(Service, "a", "x") is resources.services[0]
    assert resources.get(EndpointSlice, "a", "x") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        resources.services = ()  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot hold"):
        ResourceSet.from_objects([object()])  # type: ignore[list-item]


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        load_text(route("a"), "gc.yaml")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def assert_only_problems(text: str, source: str) -> None:
    loaded = load_text(text, source)
    assert all(isinstance(problem, LoadProblem) and str(problem) for problem in loaded.problems)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_garbage_text_never_raises(text: str) -> None:
    assert_only_problems(text, "garbage.yaml")
    assert_only_problems(text, "garbage.json")


KEYS = st.sampled_from(["name", "spec", "rules", "port", "type", "matches"]) | st.text(max_size=6)
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
METADATA = JUNK | st.just({"name": "x"})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SERVED_KINDS)), METADATA, JUNK)
def test_garbage_objects_of_served_kinds_never_raise(
    group_kind: tuple[str, str], metadata: object, spec: object
) -> None:
    group, kind = group_kind
    version = sorted(SERVED_KINDS[group_kind][1])[0]
    doc = {
        "apiVersion": f"{group}/{version}".lstrip("/"),
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    }
    assert_only_problems(yaml.safe_dump(doc), "junk.yaml")
    assert_only_problems(json.dumps(doc), "junk.json")
