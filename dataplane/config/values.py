"""Reading scalar proto values: durations, data sources, fractional percents."""

from __future__ import annotations

from typing import Any

# envoy.type.v3.FractionalPercent.DenominatorType: HUNDRED, TEN_THOUSAND, MILLION.
DENOMINATORS = {0: 100, 1: 10_000, 2: 1_000_000}


def seconds(duration: Any) -> float:
    return float(duration.seconds) + float(duration.nanos) / 1e9


def data_source_bytes(source: Any) -> bytes:
    """An inline ``DataSource`` (the support table rejects ``filename`` and friends)."""
    if source.HasField("inline_bytes"):
        return bytes(source.inline_bytes)
    return str(source.inline_string).encode()
