"""File source: loading a directory, change detection, last-good content on bad input,
generation and creationTimestamp bookkeeping, which of two files defining an object wins, and
that a scan republishes only the kinds it changed. Watching timing is covered by the
control-plane integration tests."""

from __future__ import annotations

import os
from pathlib import Path

from controlplane.sources.file import FileSource
from translator.model import HTTPRoute, Service

ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
  - backendRefs:
    - name: {backend}
      port: 8080
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  ports:
  - port: 8080
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    """Write and move mtime forward, so a rewrite within one clock tick is still seen."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def route(source: FileSource) -> HTTPRoute:
    found = source.resource_set().get(HTTPRoute, "default", "web")
    assert found is not None
    return found


def test_loads_nested_yaml_and_ignores_other_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "route.yaml", ROUTE.format(backend="web"))
    write(tmp_path / "svc.yml", SERVICE)
    write(tmp_path / "notes.txt", "not yaml")
    source = FileSource(tmp_path)
    assert source.scan() is True
    assert source.resource_set().get(Service, "default", "web") is not None
    assert route(source).spec.rules[0].backend_refs[0].name == "web"
    assert source.problems() == []
    assert source.scan() is False


def test_edit_and_delete_are_applied(tmp_path: Path) -> None:
    path = tmp_path / "route.yaml"
    write(path, ROUTE.format(backend="web"))
    source = FileSource(tmp_path)
    source.scan()
    write(path, ROUTE.format(backend="other"))
    assert source.scan() is True
    assert route(source).spec.rules[0].backend_refs[0].name == "other"
    path.unlink()
    assert source.scan() is True
    assert source.resource_set().get(HTTPRoute, "default", "web") is None


def test_syntax_error_keeps_last_good_content(tmp_path: Path) -> None:
    path = tmp_path / "route.yaml"
    write(path, ROUTE.format(backend="web"))
    write(tmp_path / "svc.yaml", SERVICE)
    source = FileSource(tmp_path)
    source.scan()
    write(path, "apiVersion: [unclosed\n")
    assert source.scan() is True
    assert route(source).spec.rules[0].backend_refs[0].name == "web"
    problems = source.problems()
    assert len(problems) == 1 and problems[0].startswith("route.yaml")
    assert source.resource_set().get(Service, "default", "web") is not None
    write(path, ROUTE.format(backend="fixed"))
    source.scan()
    assert route(source).spec.rules[0].backend_refs[0].name == "fixed"
    assert source.problems() == []


def test_invalid_document_keeps_its_last_good_object(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    write(path, ROUTE.format(backend="web") + "---\n" + SERVICE)
    source = FileSource(tmp_path)
    source.scan()
    broken = ROUTE.format(backend="web").replace("port: 8080", "port: 70000")
    write(path, broken + "---\n" + SERVICE.replace("8080", "9090"))
    source.scan()
    assert route(source).spec.rules[0].backend_refs[0].port == 8080
    service = source.resource_set().get(Service, "default", "web")
    assert service is not None and service.spec.ports[0].port == 9090
    assert "70000" in " ".join(source.problems()) or "65535" in " ".join(source.problems())


def test_generation_counts_spec_changes_and_creation_time_sticks(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "route.yaml"
    write(path, ROUTE.format(backend="web"))
    source = FileSource(tmp_path, clock=clock)
    source.scan()
    first = route(source).metadata
    assert first.generation == 1
    assert first.creation_timestamp == "2027-01-15T08:00:00Z"
    clock.now += 60
    write(
        path,
        ROUTE.format(backend="web").replace(
            "namespace: default", "namespace: default\n  labels: {a: b}"
        ),
    )
    source.scan()
    assert route(source).metadata.generation == 1  # metadata-only change
    write(path, ROUTE.format(backend="other"))
    source.scan()
    again = route(source).metadata
    assert again.generation == 2
    assert again.creation_timestamp == first.creation_timestamp


def test_explicit_generation_is_respected(tmp_path: Path) -> None:
    write(
        tmp_path / "r.yaml",
        ROUTE.format(backend="web").replace(
            "namespace: default", "namespace: default\n  generation: 9"
        ),
    )
    source = FileSource(tmp_path)
    source.scan()
    assert route(source).metadata.generation == 9


def test_recreated_object_starts_over(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "route.yaml"
    write(path, ROUTE.format(backend="web"))
    source = FileSource(tmp_path, clock=clock)
    source.scan()
    write(path, ROUTE.format(backend="b2"))
    source.scan()
    path.unlink()
    source.scan()
    clock.now += 3600
    write(path, ROUTE.format(backend="web"))
    source.scan()
    meta = route(source).metadata
    assert meta.generation == 1
    assert meta.creation_timestamp == "2027-01-15T09:00:00Z"


def test_of_two_files_defining_an_object_the_later_wins_and_the_earlier_returns(
    tmp_path: Path,
) -> None:
    write(tmp_path / "a.yaml", ROUTE.format(backend="from-a"))
    write(tmp_path / "b.yaml", ROUTE.format(backend="from-b"))
    source = FileSource(tmp_path)
    source.scan()
    assert route(source).spec.rules[0].backend_refs[0].name == "from-b"
    (tmp_path / "b.yaml").unlink()
    source.scan()
    assert route(source).spec.rules[0].backend_refs[0].name == "from-a"
    (tmp_path / "a.yaml").unlink()
    source.scan()
    assert source.resource_set().get(HTTPRoute, "default", "web") is None


def test_an_object_moved_to_another_file_keeps_its_history(tmp_path: Path) -> None:
    clock = Clock()
    write(tmp_path / "a.yaml", ROUTE.format(backend="web"))
    source = FileSource(tmp_path, clock=clock)
    source.scan()
    write(tmp_path / "a.yaml", ROUTE.format(backend="other"))
    source.scan()
    before = route(source).metadata
    clock.now += 60
    (tmp_path / "a.yaml").replace(tmp_path / "z.yaml")
    source.scan()
    after = route(source).metadata
    assert (after.generation, after.creation_timestamp) == (2, before.creation_timestamp)


def test_a_scan_publishes_new_tuples_only_for_the_kinds_it_changed(tmp_path: Path) -> None:
    write(tmp_path / "svc.yaml", SERVICE)
    write(tmp_path / "route.yaml", ROUTE.format(backend="web"))
    source = FileSource(tmp_path)
    source.scan()
    first = source.resource_set()
    assert source.scan() is False and source.resource_set() is first
    write(tmp_path / "route.yaml", ROUTE.format(backend="other"))
    source.scan()
    second = source.resource_set()
    assert second.services is first.services
    assert second.http_routes != first.http_routes
