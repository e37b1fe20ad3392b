"""What the echo backend answers: a JSON description of the request, steered by test controls.

Sans-IO: a protocol hands over a finished ``EchoRequest`` and frames the ``Reply`` itself.
Controls come from the query string or from request headers; when both set a single-valued
control the header wins, and response headers from both are added (query first).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from controlplane.echo.errors import ControlInvalid

CONTROL_PREFIX = "x-echo-"
STATUS_CONTROL = "x-echo-status"
DELAY_CONTROL = "x-echo-delay-ms"
RESPONSE_HEADER_CONTROL = "x-echo-response-header"
CONTENT_TYPE_CONTROL = "x-echo-content-type"
BACKEND_HEADER = "x-echo-backend"
MAX_DELAY_SECONDS = 60.0
DEFAULT_CONTENT_TYPE = "application/json"

# Framing and hop-by-hop headers belong to the protocol layer; letting a control set them would
# corrupt HTTP/1.1 framing or break HTTP/2 header validation.
_RESERVED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[^\r\n\x00]*")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection arrived: the backend's name, the local address, the TLS session."""

    backend: str
    address: str
    tls: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class EchoRequest:
    method: str
    target: str
    host: str | None
    headers: Sequence[tuple[str, str]]
    protocol: str
    body: bytes = b""
    trailers: Sequence[tuple[str, str]] = ()

    def header(self, name: str) -> str | None:
        """The first value of a lower-case header name."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay: float = 0.0

    @property
    def has_body(self) -> bool:
        """Whether the status allows a body at all (HEAD is the framing layer's business)."""
        return self.status not in (204, 304)


@dataclass(frozen=True, slots=True)
class Controls:
    status: int = 200
    delay: float = 0.0
    content_type: str = DEFAULT_CONTENT_TYPE
    response_headers: tuple[tuple[str, str], ...] = ()


def text_of(raw: bytes) -> str:
    """Bytes from the wire as text: UTF-8 when valid, else Latin-1 so every byte survives."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def build_reply(request: EchoRequest, origin: Origin) -> Reply:
    description = describe(request, origin)
    try:
        controls = read_controls(request)
    except ControlInvalid as error:
        description["error"] = str(error)
        return Reply(400, _standard_headers(origin, DEFAULT_CONTENT_TYPE), encode(description))
    headers = _standard_headers(origin, controls.content_type) + controls.response_headers
    return Reply(controls.status, headers, encode(description), controls.delay)


def describe(request: EchoRequest, origin: Origin) -> dict[str, Any]:
    description: dict[str, Any] = {
        "backend": origin.backend,
        "address": origin.address,
        "method": request.method,
        "path": request.target,
        "host": request.host,
        "headers": group_headers(request.headers),
        "protocol": request.protocol,
        "tls": dict(origin.tls) if origin.tls is not None else None,
    }
    try:
        description["body"] = request.body.decode()
    except UnicodeDecodeError:
        description["body"] = base64.b64encode(request.body).decode("ascii")
        description["bodyEncoding"] = "base64"
    if request.trailers:
        description["trailers"] = group_headers(request.trailers)
    return description


def group_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str | list[str]]:
    """One entry per name: the value, or every value in arrival order when repeated."""
    grouped: dict[str, str | list[str]] = {}
    for name, value in headers:
        previous = grouped.get(name)
        if previous is None:
            grouped[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            grouped[name] = [previous, value]
    return grouped


def encode(description: Mapping[str, Any]) -> bytes:
    return json.dumps(description, ensure_ascii=False).encode() + b"\n"


def read_controls(request: EchoRequest) -> Controls:
    values = _control_values(request)
    if not values:
        return Controls()
    status = _last(values, STATUS_CONTROL)
    delay = _last(values, DELAY_CONTROL)
    content_type = _last(values, CONTENT_TYPE_CONTROL)
    return Controls(
        status=200 if status is None else _parse_status(status),
        delay=0.0 if delay is None else _parse_delay(delay),
        content_type=DEFAULT_CONTENT_TYPE if content_type is None else _content_type(content_type),
        response_headers=tuple(
            _parse_response_header(item) for item in values.get(RESPONSE_HEADER_CONTROL, ())
        ),
    )


def _control_values(request: EchoRequest) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    _, question, query = request.target.partition("?")
    if question and CONTROL_PREFIX in query.lower():
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower().startswith(CONTROL_PREFIX):
                values.setdefault(name.lower(), []).append(value)
    for name, value in request.headers:
        if name.startswith(CONTROL_PREFIX):
            values.setdefault(name, []).append(value)
    return values


def _last(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[-1] if found else None


def _parse_status(text: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and 200 <= int(digits) <= 599):
        raise ControlInvalid(f"{STATUS_CONTROL}: {text!r} is not a final status in 200-599")
    return int(digits)


def _parse_delay(text: str) -> float:
    try:
        milliseconds = float(text)
    except ValueError:
        milliseconds = math.nan
    if not math.isfinite(milliseconds) or milliseconds < 0:
        raise ControlInvalid(f"{DELAY_CONTROL}: {text!r} is not a number of milliseconds")
    return min(milliseconds / 1000.0, MAX_DELAY_SECONDS)


def _content_type(text: str) -> str:
    if not text or not _FIELD_VALUE.fullmatch(text):
        raise ControlInvalid(f"{CONTENT_TYPE_CONTROL}: {text!r} is not a header value")
    return text


def _parse_response_header(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    name = name.strip().lower()
    if not equals or not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
        raise ControlInvalid(f"{RESPONSE_HEADER_CONTROL}: {item!r} is not name=value")
    if name in _RESERVED_RESPONSE_HEADERS:
        raise ControlInvalid(f"{RESPONSE_HEADER_CONTROL}: {name} is set by the protocol")
    return name, value.strip()


def _standard_headers(origin: Origin, content_type: str) -> tuple[tuple[str, str], ...]:
    return (("content-type", content_type), (BACKEND_HEADER, origin.backend))
