"""The shape of an access-log line beyond the default: Envoy's CEL access-log filter
(``envoy.access_loggers.extension_filters.cel``) and a StdoutAccessLog ``json_format`` whose
values are the command operators agw emits (one per default attribute) or ``%CEL(expr)%``.

Expressions are compiled here, once per configuration; ``dataplane.access_line`` evaluates
them per request. The tracing custom tags (``dataplane.config.tracing``) use the same values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2 as cel_filter_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.formatter.cel.v3 import cel_pb2 as cel_formatter_pb2

from cel import CompileError, Program, compile_expression
from dataplane.config.support import check_fields
from dataplane.errors import InvalidConfig, UnsupportedField, UnsupportedValue

CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
CEL_FORMATTER = "envoy.formatter.cel"
# Envoy command operator -> the default attribute of the proxy's access-log line.
COMMANDS = {
    "%START_TIME%": "start_time",
    "%DURATION%": "duration_ms",
    "%REQ(:METHOD)%": "method",
    "%REQ(:PATH)%": "path",
    "%REQ(:AUTHORITY)%": "authority",
    "%PROTOCOL%": "protocol",
    "%RESPONSE_CODE%": "response_code",
    "%ROUTE_NAME%": "route_name",
    "%UPSTREAM_CLUSTER%": "upstream_cluster",
    "%REQ(X-REQUEST-ID)%": "request_id",
    "%DOWNSTREAM_REMOTE_ADDRESS%": "downstream_remote_address",
    "%REQ(USER-AGENT)%": "user_agent",
}
_CEL_PREFIX, _CEL_SUFFIX = "%CEL(", ")%"


@dataclass(frozen=True, slots=True)
class AccessLogShape:
    """Only requests ``filter`` accepts are logged; ``fields`` (key -> a default attribute's
    name or a CEL program) replace the default line when set."""

    filter: Program | None = None
    fields: tuple[tuple[str, str | Program], ...] | None = None


def compile_access_log_shape(entry: Any) -> AccessLogShape | None:
    """None for an entry that logs the default line."""
    program = _filter(entry) if entry.HasField("filter") else None
    fields = None
    if entry.typed_config.Is(stream_pb2.StdoutAccessLog.DESCRIPTOR):
        stdout = stream_pb2.StdoutAccessLog()
        entry.typed_config.Unpack(stdout)
        if stdout.HasField("log_format"):
            fields = _json_format(stdout.log_format)
    if program is None and fields is None:
        return None
    return AccessLogShape(program, fields)


def _filter(entry: Any) -> Program:
    which = entry.filter.WhichOneof("filter_specifier")
    if which != "extension_filter" or entry.filter.extension_filter.name != CEL_FILTER:
        raise UnsupportedValue("AccessLogFilter", which, "the CEL extension filter only")
    expression = cel_filter_pb2.ExpressionFilter()
    if not entry.filter.extension_filter.typed_config.Unpack(expression):
        raise UnsupportedValue("ExtensionFilter.typed_config", "", "ExpressionFilter only")
    check_fields(expression)
    return compile_cel(expression.expression, "ExpressionFilter.expression")


def _json_format(log_format: Any) -> tuple[tuple[str, str | Program], ...]:
    check_fields(log_format)
    for formatter in log_format.formatters:
        if formatter.name != CEL_FORMATTER or not formatter.typed_config.Unpack(
            cel_formatter_pb2.Cel()
        ):
            raise UnsupportedValue("SubstitutionFormatString.formatters", formatter.name)
    if not log_format.HasField("json_format"):
        raise UnsupportedField("SubstitutionFormatString (json_format only)")
    fields = [
        (key, compile_command(value.string_value, f"json_format.{key}"))
        for key, value in log_format.json_format.fields.items()
    ]
    return tuple(sorted(fields, key=lambda item: item[0]))


def compile_command(command: str, where: str) -> str | Program:
    """One of ``COMMANDS`` as the default attribute's name, or ``%CEL(expr)%`` compiled; the
    access log's json_format values and the tracing custom tags' ``value`` alike."""
    if command in COMMANDS:
        return COMMANDS[command]
    if command.startswith(_CEL_PREFIX) and command.endswith(_CEL_SUFFIX):
        return compile_cel(command[len(_CEL_PREFIX) : -len(_CEL_SUFFIX)], where)
    raise UnsupportedValue(where, command)


def compile_cel(source: str, where: str) -> Program:
    try:
        return compile_expression(source)
    except CompileError as exc:
        raise InvalidConfig(f"{where}: {exc}") from exc
