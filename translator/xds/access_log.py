"""The access log a frontend policy asks for: one JSON line per request on stdout, filtered
by Envoy's CEL access-log filter and shaped by a ``json_format`` whose added attributes are
``%CEL(...)%`` commands. The default attributes are the ones the agw proxy logs."""

from __future__ import annotations

from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import extension_pb2, substitution_format_string_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2 as cel_filter_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.formatter.cel.v3 import cel_pb2 as cel_formatter_pb2
from google.protobuf import struct_pb2

from translator.ir.connection import AccessLogPolicy
from translator.xds.extensions import pack

STDOUT_ACCESS_LOG = "envoy.access_loggers.stdout"
CEL_ACCESS_LOG_FILTER = "envoy.access_loggers.extension_filters.cel"
CEL_FORMATTER = "envoy.formatter.cel"

DEFAULT_ATTRIBUTES: dict[str, str] = {
    "start_time": "%START_TIME%",
    "duration_ms": "%DURATION%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "authority": "%REQ(:AUTHORITY)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "route_name": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "user_agent": "%REQ(USER-AGENT)%",
}


def build_access_log(policy: AccessLogPolicy) -> Any:
    attributes = {k: v for k, v in DEFAULT_ATTRIBUTES.items() if k not in policy.remove}
    for attribute in policy.add:
        attributes[attribute.name] = f"%CEL({attribute.expression})%"
    json_format = struct_pb2.Struct()
    json_format.update(attributes)
    log_format = substitution_format_string_pb2.SubstitutionFormatString(json_format=json_format)
    if policy.add:
        log_format.formatters.append(
            extension_pb2.TypedExtensionConfig(
                name=CEL_FORMATTER, typed_config=pack(cel_formatter_pb2.Cel())
            )
        )
    built = accesslog_pb2.AccessLog(
        name=STDOUT_ACCESS_LOG,
        typed_config=pack(stream_pb2.StdoutAccessLog(log_format=log_format)),
    )
    if policy.filter is not None:
        built.filter.extension_filter.CopyFrom(
            accesslog_pb2.ExtensionFilter(
                name=CEL_ACCESS_LOG_FILTER,
                typed_config=pack(cel_filter_pb2.ExpressionFilter(expression=policy.filter)),
            )
        )
    return built
