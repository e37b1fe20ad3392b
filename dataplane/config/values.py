"""Reading scalar proto values: durations, data sources, fractional percents."""

from __future__ import annotations

from typing import Any

from dataplane.errors import UnsupportedField

# envoy.type.v3.FractionalPercent.DenominatorType: HUNDRED, TEN_THOUSAND, MILLION.
DENOMINATORS = {0: 100, 1: 10_000, 2: 1_000_000}


def seconds(duration: Any) -> float:
    return float(duration.seconds) + float(duration.nanos) / 1e9


def data_source_bytes(source: Any) -> bytes:
    """An inline ``DataSource``; ``filename`` is read only where the support table says."""
    if source.HasField("filename"):
        raise UnsupportedField("DataSource.filename (here)")
    if source.HasField("inline_bytes"):
        return bytes(source.inline_bytes)
    return str(source.inline_string).encode()
