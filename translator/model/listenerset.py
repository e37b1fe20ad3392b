"""ListenerSet (GEP-1713): listeners added to a Gateway that allows them.

Standard as gateway.networking.k8s.io/v1 in v1.6; the experimental
gateway.networking.x-k8s.io/v1alpha1 ListenerSet and XListenerSet load into the same model,
keeping the apiVersion and kind they were written with.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from translator.model.gateway import Listener, check_listeners
from translator.model.meta import Model, Resource
from translator.model.shared import GATEWAY_GROUP, Group, Kind, NamespaceName, ObjectName

EXPERIMENTAL_GROUP = "gateway.networking.x-k8s.io"

# A listener entry has exactly the fields of a Gateway listener.
ListenerEntry = Listener


class ParentGatewayReference(Model):
    group: Group = GATEWAY_GROUP
    kind: Kind = "Gateway"
    name: ObjectName
    namespace: NamespaceName | None = None


class ListenerSetSpec(Model):
    parent_ref: ParentGatewayReference
    listeners: tuple[ListenerEntry, ...] = Field(min_length=1, max_length=64)

    @field_validator("listeners")
    @classmethod
    def _listeners_distinct(cls, listeners: tuple[Listener, ...]) -> tuple[Listener, ...]:
        return check_listeners(listeners, fold_case=True)


class ListenerSet(Resource):
    GROUP: ClassVar[str] = GATEWAY_GROUP
    KIND: ClassVar[str] = "ListenerSet"
    # Every (group, kind) a route's parentRef may use to name a ListenerSet.
    GROUP_KINDS: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            (GATEWAY_GROUP, "ListenerSet"),
            (EXPERIMENTAL_GROUP, "ListenerSet"),
            (EXPERIMENTAL_GROUP, "XListenerSet"),
        }
    )

    spec: ListenerSetSpec
