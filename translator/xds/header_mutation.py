"""Header set/add/remove, for routes and for single backends (weighted cluster entries).

Envoy's Route and WeightedCluster.ClusterWeight spell the four fields identically, so one
function fills either.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from google.protobuf.message import Message

from translator.ir import HeaderMutation, HeaderValue


def apply_request_mutation(target: Message, mutation: HeaderMutation) -> None:
    if mutation.is_empty():
        return
    target.request_headers_to_add.extend(header_options(mutation))
    target.request_headers_to_remove.extend(mutation.remove)


def apply_response_mutation(target: Message, mutation: HeaderMutation) -> None:
    if mutation.is_empty():
        return
    target.response_headers_to_add.extend(header_options(mutation))
    target.response_headers_to_remove.extend(mutation.remove)


def header_options(mutation: HeaderMutation) -> list[Message]:
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    append = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
    return [_option(header, overwrite) for header in mutation.set] + [
        _option(header, append) for header in mutation.add
    ]


def _option(header: HeaderValue, action: int) -> Message:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=header.name, value=header.value),
        append_action=action,
    )
