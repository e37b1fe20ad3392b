"""The base of every input model: the pydantic configuration, object metadata and keys.

Models are frozen pydantic v2 models with camelCase JSON aliases. Gateway API models forbid
unknown fields (a typo is an error naming the field); core Kubernetes kinds ignore them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# Kubernetes object names: RFC 1123 subdomains (the API server enforces this for every kind).
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
NAMESPACE_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"


class Model(BaseModel):
    """Base of every Gateway API model: frozen, camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, alias_generator=to_camel, extra="forbid"
    )


class CoreModel(Model):
    """Base of the core Kubernetes models: only the fields a gateway needs, the rest ignored."""

    model_config = ConfigDict(extra="ignore")


class ObjectKey(NamedTuple):
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def violation(message: str) -> PydanticCustomError:
    """A CRD validation rule failed; the message is shown to the user as written."""
    return PydanticCustomError("crd_rule", message)


def first_duplicate(values: Iterable[Hashable]) -> Hashable | None:
    """The first value seen twice, or None: list-map keys and list-sets must be unique."""
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


class ObjectMeta(CoreModel):
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=OBJECT_NAME_PATTERN)
    ]
    # The loader fills "default" for namespaced kinds; cluster-scoped kinds keep "".
    namespace: Annotated[str, StringConstraints(max_length=63, pattern=NAMESPACE_PATTERN)] = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int = 1
    resource_version: str = ""
    uid: str = ""
    # RFC 3339 text as written, so that sorting by it is lexical and needs no parsing.
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None

    @field_validator("creation_timestamp", "deletion_timestamp", mode="before")
    @classmethod
    def _timestamp_as_text(cls, value: Any) -> Any:
        # Kubernetes clients hand over datetimes; keep the RFC 3339 form the API server writes.
        if isinstance(value, datetime):
            moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value


class Resource(Model):
    """A top-level Kubernetes object. ``status`` is accepted and ignored: agw computes its own."""

    GROUP: ClassVar[str]
    KIND: ClassVar[str]
    NAMESPACED: ClassVar[bool] = True

    api_version: str
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = Field(default=None, exclude=True)

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.metadata.namespace, self.metadata.name)

    def __hash__(self) -> int:
        # The generated hash would hash every field and fail on the dicts (labels, options);
        # equal objects have equal kinds and keys, so this hash agrees with equality.
        return hash((type(self), self.metadata.namespace, self.metadata.name))
