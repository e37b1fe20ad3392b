"""Core Kubernetes kinds, reduced to what a gateway reads: Namespace, Service, EndpointSlice,
Secret, ConfigMap. Unknown fields are ignored (these schemas are not ours to police)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, field_validator

from translator.model.meta import CoreModel, Resource, violation

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

ServicePortNumber = Annotated[int, Field(ge=1, le=65535)]


class CoreResource(Resource):
    model_config = ConfigDict(extra="ignore")


class Namespace(CoreResource):
    GROUP: ClassVar[str] = ""
    KIND: ClassVar[str] = "Namespace"
    NAMESPACED: ClassVar[bool] = False


class ServicePort(CoreModel):
    name: str = ""
    port: ServicePortNumber
    # A number, or the name of a container port.
    target_port: int | str | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None


class ServiceSpec(CoreModel):
    type: str = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    ports: tuple[ServicePort, ...] = ()
    selector: dict[str, str] = Field(default_factory=dict)
    external_name: str | None = None


class Service(CoreResource):
    GROUP: ClassVar[str] = ""
    KIND: ClassVar[str] = "Service"

    spec: ServiceSpec = ServiceSpec()


class EndpointConditions(CoreModel):
    # None means unknown; Kubernetes consumers read an unknown "ready" as ready.
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class EndpointTargetRef(CoreModel):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    uid: str = ""


class Endpoint(CoreModel):
    addresses: tuple[str, ...] = Field(min_length=1)
    conditions: EndpointConditions = EndpointConditions()
    hostname: str | None = None
    node_name: str | None = None
    zone: str | None = None
    target_ref: EndpointTargetRef | None = None


class EndpointPort(CoreModel):
    name: str | None = None
    port: ServicePortNumber | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None


class EndpointSlice(CoreResource):
    GROUP: ClassVar[str] = "discovery.k8s.io"
    KIND: ClassVar[str] = "EndpointSlice"

    address_type: str
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()

    @property
    def service_name(self) -> str | None:
        return self.metadata.labels.get(SERVICE_NAME_LABEL)


class Secret(CoreResource):
    GROUP: ClassVar[str] = ""
    KIND: ClassVar[str] = "Secret"

    type: str = "Opaque"
    # Base64 text, as in the API; ``value`` decodes.
    data: dict[str, str] = Field(default_factory=dict)
    string_data: dict[str, str] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _data_is_base64(cls, data: dict[str, str]) -> dict[str, str]:
        for key, text in data.items():
            try:
                base64.b64decode(text, validate=True)
            except binascii.Error:
                raise violation(f"data[{key!r}] is not valid base64") from None
        return data

    def value(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; stringData wins, as the API server merges it last."""
        if key in self.string_data:
            return self.string_data[key].encode()
        if key in self.data:
            return base64.b64decode(self.data[key])
        return None


class ConfigMap(CoreResource):
    GROUP: ClassVar[str] = ""
    KIND: ClassVar[str] = "ConfigMap"

    data: dict[str, str] = Field(default_factory=dict)
