"""Gateway API durations (GEP-2257): up to four ``<1-5 digits><h|m|s|ms>`` parts, e.g. "1h2m3s".

The models keep durations as the text the user wrote; the translator converts with
``parse_duration`` when it needs seconds.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

DURATION_PATTERN = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]

_WHOLE = re.compile(DURATION_PATTERN)
# "ms" before "m": the tokenizer is leftmost-first, and "5ms" must not read as 5 minutes.
_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_SECONDS_PER_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """Seconds in a Gateway API duration. Raises ValueError for text outside GEP-2257."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a Gateway API duration (e.g. '1h2m3s', '500ms')")
    return sum(int(count) * _SECONDS_PER_UNIT[unit] for count, unit in _PART.findall(text))
