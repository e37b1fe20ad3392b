"""OpenTelemetry tracing on the request path (AgentgatewayPolicy frontend.tracing), with
agentgateway's sampling:

- a request whose W3C ``traceparent`` says sampled is recorded with the client sampling
  probability (or the CelSampler's client expression), as a child of that context;
- one whose ``traceparent`` says not sampled is not recorded, and its context passes on;
- one without a valid ``traceparent`` starts a trace with the random sampling probability (or
  the CelSampler's random expression).

Envoy's ratio sampler, when configured, narrows both: new traces by its share, and (alone, not
wrapped by ``parent_based``) sampled client traces by their trace id.

A recorded request is one SERVER span, named ``"<METHOD> <route name>"`` (the path when no
route matched: route names are few and stable, paths are many), whose attributes are the
custom tags and ``http.response.status_code``, computed when the request ends. The upstream
then gets ``traceparent: 00-<trace id>-<span id>-01``; an unrecorded request's header is
forwarded untouched, and ``tracestate`` always is. Spans go to the chain's
``SpanExporter`` (``dataplane.span_export``), which this module never imports: OTLP is loaded
only where a configuration has tracing.
"""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from cel import EvaluationError, Program
from dataplane.access_line import attribute_values, finished_request
from dataplane.cel.facts import Connection, request_variables
from dataplane.config.tracing import TracingConfig
from dataplane.request import RequestHead

if TYPE_CHECKING:
    from dataplane.chain import HttpChain
    from dataplane.http1.exchange import Exchange

TRACEPARENT = b"traceparent"
STATUS_CODE = "http.response.status_code"
# Later versions may append fields after a dash; version ff is invalid (W3C Trace Context).
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
# Envoy's trace_id_ratio_based sampler keeps a trace whose id's low 64 bits are below the
# ratio's share of 2**64, as OpenTelemetry's TraceIdRatioBased does.
_LOW_64 = (1 << 64) - 1
_TWO_64 = float(1 << 64)
# The global generator: the random module reseeds it in forked workers.
_random = random.random
_getrandbits = random.getrandbits


class TraceContext:
    """A recorded request's span ids; ``parent_id`` is 0 for a new trace. ``replaces`` says the
    request carried a ``traceparent`` that the upstream must not get besides ours."""

    __slots__ = ("parent_id", "replaces", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, parent_id: int, replaces: bool) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.replaces = replaces

    @property
    def traceparent(self) -> bytes:
        return b"00-%032x-%016x-01" % (self.trace_id, self.span_id)


class Span(NamedTuple):
    """One finished SERVER span, as plain values until a batch is encoded."""

    trace_id: int
    span_id: int
    parent_id: int
    name: str
    start_ns: int
    end_ns: int
    error: bool
    attributes: dict[str, Any]


def parse_traceparent(value: bytes) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) from a ``traceparent`` value; None when invalid."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, parent_hex, flags, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    trace_id, parent_id = int(trace_hex, 16), int(parent_hex, 16)
    if not trace_id or not parent_id:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def begin_trace(
    config: TracingConfig, head: RequestHead, protocol: str, conn: Connection | None = None
) -> TraceContext | None:
    """The request's trace context when it is recorded; None when it is not. ``conn`` gives
    sampling CEL its ``source`` and ``destination``."""
    incoming = head.header(TRACEPARENT)
    parent = parse_traceparent(incoming) if incoming is not None else None
    if parent is None:
        if not _sampled(config.random_program, config.random_sampling, head, protocol, conn):
            return None
        return TraceContext(_getrandbits(128) or 1, _new_span_id(), 0, incoming is not None)
    trace_id, parent_id, sampled = parent
    if not sampled or not _sampled(
        config.client_program, config.client_sampling, head, protocol, conn
    ):
        return None
    ratio = config.client_ratio
    if ratio is not None and (trace_id & _LOW_64) >= ratio * _TWO_64:
        return None
    return TraceContext(trace_id, _new_span_id(), parent_id, True)


def _new_span_id() -> int:
    return _getrandbits(64) or 1


def _sampled(
    program: Program | None,
    probability: float,
    head: RequestHead,
    proto: str,
    conn: Connection | None,
) -> bool:
    if program is not None:
        try:
            result = program.evaluate(request_variables(head, proto, conn))
        except EvaluationError:
            return False
        if isinstance(result, bool):
            return result
        if not isinstance(result, int | float):
            return False
        probability = float(result)
    return probability >= 1.0 or (probability > 0.0 and _random() < probability)


def propagate(trace: TraceContext, headers: list[tuple[bytes, bytes]]) -> None:
    """Put the span's ``traceparent`` on the upstream request's headers (in place)."""
    if trace.replaces:
        headers[:] = [field for field in headers if field[0] != TRACEPARENT]
    headers.append((TRACEPARENT, trace.traceparent))


def finish_span(exchange: Exchange, chain: HttpChain) -> None:
    """The recorded exchange is over: hand its span to the chain's exporter."""
    trace = exchange.trace
    config = chain.settings.tracing
    exporter = chain.spans
    if trace is None or config is None or exporter is None:
        return
    head = exchange.head
    status = exchange.status
    attributes: dict[str, Any] = {}
    for key, source in config.fixed_tags:
        if isinstance(source, str):
            attributes[key] = source
            continue
        value = head.header(source.name)
        text = value.decode("latin-1") if value is not None else source.default
        if text:
            attributes[key] = text
    if config.span_tags:
        activation = finished_request(exchange) if config.needs_cel else None
        for key, read in config.span_tags:
            if isinstance(read, Program):
                # One tag at a time keeps the tags' order and a failed expression's absence.
                attributes.update(attribute_values(((key, read),), None, activation))
            else:
                attributes[key] = read(exchange)
    attributes[STATUS_CODE] = status
    route = exchange.route
    target = route.name if route is not None and route.name else head.path.decode("latin-1")
    exporter.add(
        Span(
            trace.trace_id,
            trace.span_id,
            trace.parent_id,
            head.method.decode("latin-1") + " " + target,
            int(exchange.started_at * 1e9),
            time.time_ns(),
            status >= 500,
            attributes,
        )
    )
