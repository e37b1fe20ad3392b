"""The file source: a directory of Kubernetes YAML, watched for changes.

Every scan stats the manifest files (recursively) and re-reads only those whose size, mtime
or inode changed; what they held and hold now updates a ``ResourceIndex``, so publishing the
next ResourceSet costs what changed, not the whole directory. A file that fails to parse as
a whole keeps its last good content; a file with some invalid documents keeps, besides its
valid objects, the last good version of every object it held before (so a typo never
deletes a route). Problems are kept per file until the file is fixed or removed.

Kubernetes fills ``metadata.generation`` and ``creationTimestamp``; in a directory nobody
does, so the source does: an object's generation starts at 1 and goes up whenever its spec
changes, and its creation time is when the source first saw it (both unless the file sets
them)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from translator.loader import MANIFEST_SUFFIXES, LoadProblem, load_text
from translator.model import Resource
from translator.resource_index import ResourceIndex
from translator.resources import ResourceSet

ObjectIdentity = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True, slots=True)
class FileSignature:
    size: int
    mtime_ns: int
    inode: int


@dataclass
class FileState:
    signature: FileSignature
    objects: tuple[Resource, ...] = ()
    problems: tuple[LoadProblem, ...] = ()


@dataclass
class ObjectHistory:
    spec_digest: str
    generation: int
    created: str


@dataclass
class FileSource:
    directory: Path
    clock: Callable[[], float] = time.time
    files: dict[Path, FileState] = field(default_factory=dict)
    history: dict[ObjectIdentity, ObjectHistory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = ResourceIndex()
        # Every object each file defines, by identity; of two files defining one object the
        # later path wins, as ResourceSet.from_objects over the files in order would have it.
        self._defined: dict[ObjectIdentity, dict[Path, Resource]] = {}

    def scan(self) -> bool:
        """Bring the view up to date with the directory; True if anything changed."""
        seen = dict(self._manifests())
        changes: list[tuple[Path, tuple[Resource, ...], tuple[Resource, ...]]] = []
        for path in [p for p in self.files if p not in seen]:
            changes.append((path, self.files.pop(path).objects, ()))
        for path, signature in seen.items():
            state = self.files.get(path)
            if state is not None and state.signature == signature:
                continue
            self.files[path] = self._read(path, signature, state)
            changes.append((path, state.objects if state else (), self.files[path].objects))
        gone: list[ObjectIdentity] = []
        for path, before, after in changes:
            gone.extend(self._reindex(path, before, after))
        self._forget_deleted(gone)
        return bool(changes)

    def resource_set(self) -> ResourceSet:
        return self._index.resource_set()

    def problems(self) -> list[str]:
        return [
            str(problem) for path in sorted(self.files) for problem in self.files[path].problems
        ]

    def _reindex(
        self, path: Path, before: tuple[Resource, ...], after: tuple[Resource, ...]
    ) -> list[ObjectIdentity]:
        """Record what ``path`` holds now; the identities no file defines any more."""
        fresh = {_identity(obj): obj for obj in after}  # a later document wins in a file
        gone = []
        for identity, obj in [(_identity(o), o) for o in before if _identity(o) not in fresh]:
            defined = self._defined.get(identity, {})
            defined.pop(path, None)
            if defined:
                self._index.put(defined[max(defined)])
            else:
                self._defined.pop(identity, None)
                self._index.discard(obj)
                gone.append(identity)
        for identity, obj in fresh.items():
            defined = self._defined.setdefault(identity, {})
            defined[path] = obj
            self._index.put(defined[max(defined)])
        return gone

    def _forget_deleted(self, gone: list[ObjectIdentity]) -> None:
        """An object deleted and created again starts over, as in Kubernetes (unless it only
        moved to another file in the same scan)."""
        for identity in gone:
            if identity not in self._defined:
                self.history.pop(identity, None)

    def _manifests(self) -> Iterator[tuple[Path, FileSignature]]:
        for root, dirs, names in os.walk(self.directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith(".") or not name.endswith(MANIFEST_SUFFIXES):
                    continue
                path = Path(root, name)
                try:
                    st = path.stat()
                except OSError:
                    continue  # removed between listing and stat
                yield path, FileSignature(st.st_size, st.st_mtime_ns, st.st_ino)

    def _read(self, path: Path, signature: FileSignature, previous: FileState | None) -> FileState:
        label = str(path.relative_to(self.directory))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problem = LoadProblem(label, 0, "", f"cannot read: {error}")
            kept = previous.objects if previous else ()
            return FileState(signature, kept, (problem,))
        loaded = load_text(text, label)
        objects = [self._stamp(obj) for obj in loaded.objects]
        if loaded.problems and previous is not None:
            present = {_identity(obj) for obj in objects}
            objects.extend(obj for obj in previous.objects if _identity(obj) not in present)
        return FileState(signature, tuple(objects), loaded.problems)

    def _stamp(self, obj: Resource) -> Resource:
        """Fill generation and creationTimestamp the way the API server would."""
        identity = _identity(obj)
        digest = _spec_digest(obj)
        history = self.history.get(identity)
        if history is None:
            created = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            history = ObjectHistory(digest, 1, created)
            self.history[identity] = history
        elif history.spec_digest != digest:
            history.spec_digest = digest
            history.generation += 1
        meta = obj.metadata
        update: dict[str, object] = {}
        if "generation" not in meta.model_fields_set:
            update["generation"] = history.generation
        if not meta.creation_timestamp:
            update["creation_timestamp"] = history.created
        if not update:
            return obj
        return obj.model_copy(update={"metadata": meta.model_copy(update=update)})


def _identity(obj: Resource) -> ObjectIdentity:
    return (obj.KIND, obj.metadata.namespace, obj.metadata.name)


def _spec_digest(obj: Resource) -> str:
    spec = getattr(obj, "spec", None)
    data = spec.model_dump_json() if spec is not None else obj.model_dump_json(exclude={"metadata"})
    return hashlib.blake2b(data.encode(), digest_size=16).hexdigest()
