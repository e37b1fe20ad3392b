"""Literal tokens of the CEL grammar turned into values: numbers, strings and bytes with escapes."""

from __future__ import annotations

import re

from cel.errors import CompileError
from cel.values import INT_MAX, INT_MIN, UINT_MAX, UInt, Value

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "`": "`",
    "?": "?",
}
_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\"'\\`?])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})"
    r"|U([0-9a-fA-F]{8})|([0-3][0-7]{2})|(.))",
    re.DOTALL,
)


def parse_literal(kind: str, text: str) -> Value:
    if kind == "INT_LIT":
        return _parse_int(text)
    if kind == "UINT_LIT":
        value = _parse_integer(text[:-1])
        if not 0 <= value <= UINT_MAX:
            raise CompileError(f"uint literal out of range: {text}")
        return UInt(value)
    if kind == "FLOAT_LIT":
        return float(text)
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        return _parse_string(text)
    if kind == "BYTES_LIT":
        return _parse_bytes(text[1:])
    if kind == "BOOL_LIT":
        return text == "true"
    if kind == "NULL_LIT":
        return None
    raise CompileError(f"unknown literal {text!r}")


def _parse_integer(text: str) -> int:
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    value = int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if negative else value


def _parse_int(text: str) -> int:
    value = _parse_integer(text)
    if not INT_MIN <= value <= INT_MAX:
        raise CompileError(f"int literal out of range: {text}")
    return value


def _split_quotes(text: str) -> tuple[bool, str]:
    raw = text[0] in "rR"
    if raw:
        text = text[1:]
    quote = 3 if text[:3] in ('"""', "'''") else 1
    return raw, text[quote:-quote]


def _parse_string(text: str) -> str:
    raw, body = _split_quotes(text)
    if raw:
        return body
    return _ESCAPE.sub(_string_escape, body)


def _string_escape(match: re.Match[str]) -> str:
    simple, hex2, hex4, hex8, octal, other = match.groups()
    if simple:
        return _SIMPLE_ESCAPES[simple]
    if other is not None:
        raise CompileError(f"invalid escape sequence \\{other}")
    code = int(hex2 or hex4 or hex8, 16) if octal is None else int(octal, 8)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise CompileError(f"invalid code point {code:#x} in string literal")
    return chr(code)


def _parse_bytes(text: str) -> bytes:
    raw, body = _split_quotes(text)
    if raw:
        return body.encode()
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        out += body[position : match.start()].encode()
        position = match.end()
        hex2, octal = match.group(2), match.group(5)
        if hex2 is not None or octal is not None:
            # In bytes literals \xHH and octal escapes are single raw bytes, not code points.
            out.append(int(hex2, 16) if hex2 is not None else int(octal, 8))
        else:
            out += _string_escape(match).encode()
    out += body[position:].encode()
    return bytes(out)
