"""ReferenceGrant: which kinds in which namespaces may refer to objects in this namespace."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from translator.model.meta import Model, Resource
from translator.model.shared import GATEWAY_GROUP, Group, Kind, NamespaceName, ObjectName


class ReferenceGrantFrom(Model):
    group: Group
    kind: Kind
    namespace: NamespaceName


class ReferenceGrantTo(Model):
    group: Group
    kind: Kind
    # None grants every object of this group and kind in the grant's namespace.
    name: ObjectName | None = None


class ReferenceGrantSpec(Model):
    from_: tuple[ReferenceGrantFrom, ...] = Field(alias="from", min_length=1, max_length=16)
    to: tuple[ReferenceGrantTo, ...] = Field(min_length=1, max_length=16)


class ReferenceGrant(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "ReferenceGrant"

    spec: ReferenceGrantSpec
