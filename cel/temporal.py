"""Timestamps and durations: parsing, formatting and the ``get*`` accessors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cel.errors import ValueOutOfRange
from cel.values import Value, no_overload

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def parse_timestamp(value: Value) -> datetime:
    if type(value) is datetime:
        return value
    if type(value) is int:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueOutOfRange("timestamp out of range") from None
    if type(value) is not str:
        raise no_overload("timestamp", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueOutOfRange(f"invalid timestamp {value!r}") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueOutOfRange(f"timestamp {value!r} is not RFC 3339")
    return parsed.astimezone(UTC)


def parse_duration(value: Value) -> timedelta:
    """Go's duration syntax, as CEL uses it: ``1h30m``, ``-1.5s``, ``300ms``."""
    if type(value) is timedelta:
        return value
    if type(value) is not str:
        raise no_overload("duration", value)
    text = value
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return timedelta(0)
    seconds = 0.0
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None or match.end() == position:
            raise ValueOutOfRange(f"invalid duration {value!r}")
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not body:
        raise ValueOutOfRange(f"invalid duration {value!r}")
    try:
        return timedelta(seconds=sign * seconds)
    except OverflowError:
        raise ValueOutOfRange(f"duration {value!r} out of range") from None


def format_timestamp(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def format_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def _zone(name: Value) -> tzinfo:
    if type(name) is not str:
        raise no_overload("timezone", name)
    offset = _OFFSET.fullmatch(name)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        hours, minutes = int(offset.group(2)), int(offset.group(3))
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueOutOfRange(f"unknown time zone {name!r}") from None


def _local(moment: Value, zone: Value | None, accessor: str) -> datetime:
    if type(moment) is not datetime:
        raise no_overload(accessor, moment)
    return moment if zone is None else moment.astimezone(_zone(zone))


def _timestamp_accessor(accessor: str, field: str) -> Callable[[Value, Value | None], int]:
    read_field = _FIELDS[field]

    def read(moment: Value, zone: Value | None = None) -> int:
        return read_field(_local(moment, zone, accessor))

    return read


_FIELDS: dict[str, Callable[[datetime], int]] = {
    "year": lambda moment: moment.year,
    "month": lambda moment: moment.month - 1,
    "day_of_year": lambda moment: moment.timetuple().tm_yday - 1,
    "day_of_month": lambda moment: moment.day - 1,
    "date": lambda moment: moment.day,
    "day_of_week": lambda moment: (moment.weekday() + 1) % 7,
    "hours": lambda moment: moment.hour,
    "minutes": lambda moment: moment.minute,
    "seconds": lambda moment: moment.second,
    "milliseconds": lambda moment: moment.microsecond // 1000,
}
_DURATION_FIELDS: dict[str, Callable[[timedelta], int]] = {
    "getHours": lambda delta: int(delta.total_seconds() // 3600),
    "getMinutes": lambda delta: int(delta.total_seconds() // 60),
    "getSeconds": lambda delta: int(delta.total_seconds()),
    "getMilliseconds": lambda delta: delta.microseconds // 1000,
}


def accessor(name: str, field: str) -> Callable[..., Value]:
    """A ``get*`` function for timestamps (optionally in a zone) and, where defined, durations."""
    on_timestamp = _timestamp_accessor(name, field)
    on_duration = _DURATION_FIELDS.get(name)

    def read(target: Value, zone: Value | None = None) -> Value:
        if type(target) is timedelta and on_duration is not None and zone is None:
            return on_duration(target)
        return on_timestamp(target, zone)

    return read


ACCESSORS = {
    "getFullYear": "year",
    "getMonth": "month",
    "getDayOfYear": "day_of_year",
    "getDayOfMonth": "day_of_month",
    "getDate": "date",
    "getDayOfWeek": "day_of_week",
    "getHours": "hours",
    "getMinutes": "minutes",
    "getSeconds": "seconds",
    "getMilliseconds": "milliseconds",
}
