"""Turning Kubernetes-shaped YAML or JSON into models, with problems a user can act on.

``parse_object`` maps one decoded document to its model (the Kubernetes source uses it too).
``load_text`` and ``load_paths`` read multi-document YAML and JSON files; a bad document
becomes a ``LoadProblem`` naming the file, the document and the field, and never hides the
valid documents around it. Kinds agw does not read are skipped without a word.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from translator.model import SERVED_KINDS, Resource, served_model
from translator.resources import ResourceSet

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _INT, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:null"
_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
# YAML 1.1 implicit types, less timestamps: creationTimestamp stays the text written (and
# sorts lexically), as does any date-like header value.
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple((tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp"))
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _ManifestLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML loading, with the two hot paths of PyYAML (tag resolution, Python object
    construction) replaced: the stock ones spend most of the load time of a large manifest."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def read_documents(self, into: list[Any], *, anchors: bool = True) -> None:
        """Append each document in turn, so that on an error ``into`` shows how far it got.
        Without ``anchors`` (no "&" in the text) no node can be shared: skip the bookkeeping."""
        while self.check_node():
            built: dict[int, Any] | None = {} if anchors else None
            into.append(self._build(self.get_node(), built))

    def _build(self, node: yaml.Node, built: dict[int, Any] | None) -> Any:
        """Plain maps, lists, strings and small ints directly; anything else (explicit tags,
        merge keys, other scalars) through PyYAML's safe constructor."""
        kind = node.__class__
        if kind is yaml.ScalarNode:
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag == _INT and node.value.isdigit():
                return int(node.value)
            if tag == _NULL:
                return None
            return self.construct_object(node, deep=True)
        if built is not None and id(node) in built:  # an alias: the very same object
            return built[id(node)]
        if kind is yaml.MappingNode and node.tag == _MAP:
            return self._build_mapping(node, built)
        if kind is yaml.SequenceNode and node.tag == _SEQ:
            sequence: list[Any] = []
            if built is not None:
                built[id(node)] = sequence
            sequence.extend([self._build(item, built) for item in node.value])
            return sequence
        return self.construct_object(node, deep=True)

    def _build_mapping(self, node: yaml.Node, built: dict[int, Any] | None) -> Any:
        mapping: dict[Any, Any] = {}
        if built is not None:
            built[id(node)] = mapping
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                return self.construct_object(node, deep=True)
            key = self._build(key_node, built)
            if isinstance(key, (dict, list)):
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", key_node.start_mark
                )
            mapping[key] = self._build(value_node, built)
        return mapping


# Garbage in a YAML file surfaces as any of these while constructing Python values.
_YAML_FAILURES = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


@dataclass(frozen=True)
class LoadProblem:
    source: str
    # 1-based; 0 when the problem concerns the whole source.
    document: int
    # Where in the document, e.g. "spec.rules[0].backendRefs[0].port"; "" for the document.
    path: str
    message: str

    def __str__(self) -> str:
        parts = [self.source]
        if self.document:
            parts.append(f"document {self.document}")
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass(frozen=True)
class LoadResult:
    objects: tuple[Resource, ...] = ()
    problems: tuple[LoadProblem, ...] = ()

    def resource_set(self) -> ResourceSet:
        return ResourceSet.from_objects(self.objects)


def parse_object(doc: Mapping[str, Any]) -> Resource | None:
    """The model for one decoded document, or None when agw does not read its kind.

    Null fields count as absent (as the API server prunes them), and namespaced objects
    without a namespace land in "default". Raises pydantic.ValidationError when invalid.
    """
    served = served_model(doc.get("apiVersion"), doc.get("kind"))
    if served is None:
        return None
    prepared = _with_namespace(doc, served)
    try:
        return served.model_validate(prepared)
    except ValidationError:
        # Every optional field accepts null as "absent" already, so only a document whose
        # nulls sit where a value or a default is expected needs the (slower) pruned copy.
        pruned = _without_nulls(prepared)
        if pruned == prepared:
            raise
        return served.model_validate(pruned)


def _with_namespace(doc: Mapping[str, Any], served: type[Resource]) -> dict[str, Any]:
    prepared = dict(doc)
    metadata = prepared.get("metadata")
    if isinstance(metadata, dict):
        metadata = prepared["metadata"] = dict(metadata)
        if not served.NAMESPACED:
            metadata.pop("namespace", None)
        elif not metadata.get("namespace"):
            metadata["namespace"] = "default"
    return prepared


def load_text(text: str, source: str) -> LoadResult:
    """Every object in ``text`` (multi-document YAML, or JSON when ``source`` ends in .json)."""
    batch = _Batch()
    with _collector_paused():
        batch.add_source(text, source)
    return batch.result()


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Every object in these files and directories (recursively: *.yaml, *.yml, *.json,
    sorted; names starting with "." are skipped, as editors and ConfigMap mounts use them)."""
    batch = _Batch()
    with _collector_paused():
        for path in _manifest_files(paths, batch):
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                batch.problem(str(path), 0, "", f"cannot read: {error}")
                continue
            batch.add_source(text, str(path))
    return batch.result()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates millions of objects and frees none of them in cycles; the cyclic
    collector would rescan the growing heap again and again (a quarter of the load time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _manifest_files(paths: Iterable[str | Path], batch: _Batch) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(_manifests_under(path), key=str))
        elif path.is_file():
            files.append(path)
        else:
            batch.problem(str(path), 0, "", "no such file or directory")
    return files


def _manifests_under(root: Path) -> Iterable[Path]:
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                yield Path(directory, name)


@dataclass
class _Batch:
    """What one load call has found so far, with each object's origin for duplicate reports."""

    found: list[tuple[Resource, str, int]] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)

    def problem(self, source: str, document: int, path: str, message: str) -> None:
        self.problems.append(LoadProblem(source, document, path, message))

    def add_source(self, text: str, source: str) -> None:
        documents = self._decode(text, source)
        for number, document in enumerate(documents, start=1):
            if document is not None:
                self._add_document(document, source, number, prefix="", depth=0)

    def result(self) -> LoadResult:
        first: dict[tuple[type[Resource], str, str], tuple[str, int]] = {}
        for item, source, number in self.found:
            origin = first.setdefault((type(item), *item.key), (source, number))
            if origin != (source, number):
                self.problem(
                    source,
                    number,
                    "",
                    f"{item.kind} {item.key} is defined again (first in {origin[0]} document "
                    f"{origin[1]}); the later definition wins",
                )
        return LoadResult(tuple(item for item, _, _ in self.found), tuple(self.problems))

    def _decode(self, text: str, source: str) -> list[Any]:
        if source.endswith(".json"):
            try:
                return [json.loads(text)]
            except json.JSONDecodeError as error:
                where = f"line {error.lineno}, column {error.colno}"
                self.problem(source, 0, "", f"invalid JSON at {where}: {error.msg}")
                return []
            except RecursionError:
                self.problem(source, 0, "", "JSON nests too deeply")
                return []
        documents: list[Any] = []
        loader = _ManifestLoader(text)
        try:
            loader.read_documents(documents, anchors="&" in text)
        except _YAML_FAILURES as error:
            self.problem(source, len(documents) + 1, "", _yaml_failure(error))
            return []
        finally:
            loader.dispose()
        return documents

    def _add_document(
        self, document: Any, source: str, number: int, prefix: str, depth: int
    ) -> None:
        if not isinstance(document, dict):
            where = prefix.rstrip(".")
            self.problem(source, number, where, f"a {type(document).__name__} is not an object")
            return
        for name in ("apiVersion", "kind"):
            value = document.get(name)
            if not isinstance(value, str) or not value:
                self.problem(source, number, prefix + name, "required: a non-empty string")
                return
        kind: str = document["kind"]
        if isinstance(document.get("items"), list) and kind.endswith("List") and depth < 2:
            self._add_list(document, source, number, prefix, depth)
            return
        self._add_object(document, source, number, prefix)

    def _add_list(
        self, document: dict[str, Any], source: str, number: int, prefix: str, depth: int
    ) -> None:
        # kubectl's "List" items carry their own apiVersion and kind; a typed list such as
        # "HTTPRouteList" leaves them out, and they follow from the list.
        item_kind = document["kind"].removesuffix("List")
        for index, item in enumerate(document["items"]):
            if isinstance(item, dict) and item_kind:
                item = {"apiVersion": document["apiVersion"], "kind": item_kind, **item}
            self._add_document(item, source, number, f"{prefix}items[{index}].", depth + 1)

    def _add_object(self, document: dict[str, Any], source: str, number: int, prefix: str) -> None:
        api_version, kind = document["apiVersion"], document["kind"]
        group, _, version = api_version.rpartition("/")
        entry = SERVED_KINDS.get((group, kind))
        if entry is None:
            return
        if version not in entry[1]:
            served = ", ".join(sorted(entry[1]))
            message = f"{kind} is not served as {api_version!r} (versions: {served})"
            self.problem(source, number, prefix + "apiVersion", message)
            return
        metadata = document.get("metadata")
        if not isinstance(metadata, dict) or metadata.get("name") is None:
            self.problem(source, number, prefix + "metadata.name", "Field required")
            return
        try:
            parsed = parse_object(document)
        except ValidationError as error:
            self._add_validation_problems(error, document, source, number, prefix)
            return
        except RecursionError:
            self.problem(source, number, prefix.rstrip("."), "the document nests too deeply")
            return
        if parsed is not None:
            self.found.append((parsed, source, number))

    def _add_validation_problems(
        self,
        error: ValidationError,
        document: dict[str, Any],
        source: str,
        number: int,
        prefix: str,
    ) -> None:
        details = error.errors(include_url=False)
        # pydantic also counts a list whose items failed as too short; the item errors say it.
        seen: set[tuple[str, str]] = set()
        for detail in details:
            if detail["type"] == "too_short" and _has_deeper(detail["loc"], details):
                continue
            path = field_path(detail["loc"], document, missing=detail["type"] == "missing")
            full_path = prefix + path if path else prefix.rstrip(".")
            if (full_path, detail["msg"]) not in seen:
                seen.add((full_path, detail["msg"]))
                self.problem(source, number, full_path, detail["msg"])


def _has_deeper(location: tuple[int | str, ...], details: list[Any]) -> bool:
    size = len(location)
    return any(len(d["loc"]) > size and d["loc"][:size] == location for d in details)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def field_path(location: tuple[int | str, ...], document: Any, *, missing: bool = False) -> str:
    """A pydantic error location as the user wrote it: "spec.rules[0].filters[1].type".

    Union variants add steps to pydantic's location that are not in the document (the
    discriminator tag, or a type name); walking the document alongside drops them.
    """
    text = ""
    node = document
    for position, step in enumerate(location):
        last = position == len(location) - 1
        if (
            isinstance(node, dict)
            and isinstance(step, str)
            and (step in node or (last and missing))
        ):
            text += _key_text(step, first=not text)
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            text += f"[{step}]"
            node = node[step]
    return text


def _key_text(key: str, *, first: bool) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return key if first else f".{key}"
    return f"[{json.dumps(key)}]"


def _yaml_failure(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "invalid YAML: the document nests too deeply"
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        problem = error.problem or error.context or "invalid YAML"
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {error}"
