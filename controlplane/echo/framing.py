"""RFC 6455 WebSocket framing, sans-IO: the opening handshake's accept key, frames in and out.

The decoder takes bytes as they arrive (any split) and returns whole frames with the payload
unmasked. It enforces what a server must: client frames are masked, reserved bits are clear,
opcodes are known, control frames are final and at most 125 bytes. Extensions are not
negotiated, so any RSV bit is an error.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from controlplane.echo.errors import FrameInvalid

_HANDSHAKE_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_CONTROL_PAYLOAD = 125
DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= Opcode.CLOSE


@dataclass(frozen=True, slots=True)
class Frame:
    opcode: Opcode
    payload: bytes
    fin: bool = True


def accept_key(client_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value that proves the server read ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(client_key.strip().encode("ascii") + _HANDSHAKE_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_client_key(client_key: str) -> bool:
    try:
        return len(base64.b64decode(client_key.strip(), validate=True)) == 16
    except ValueError:
        return False


def encode_frame(frame: Frame, mask: bytes | None = None) -> bytes:
    """One frame on the wire; servers send unmasked, clients pass a 4-byte ``mask``."""
    first = (0x80 if frame.fin else 0) | frame.opcode
    mask_bit = 0x80 if mask is not None else 0
    length = len(frame.payload)
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + frame.payload
    return header + mask + apply_mask(frame.payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeating 4-byte key; one big-integer operation instead of a byte loop."""
    length = len(payload)
    if length == 0:
        return b""
    key = (mask * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return masked.to_bytes(length, "big")


class FrameDecoder:
    """Frames from a byte stream. ``expect_masked`` is True for a server reading a client."""

    def __init__(self, *, expect_masked: bool = True, max_payload: int = DEFAULT_MAX_PAYLOAD):
        self._expect_masked = expect_masked
        self._max_payload = max_payload
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        # Every frame takes at least two bytes, which bounds the loop by the buffer's length.
        for _ in range(len(self._buffer) // 2 + 1):
            frame = self._next_frame()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def _next_frame(self) -> Frame | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        opcode = self._opcode(first)
        masked = bool(second & 0x80)
        if masked != self._expect_masked:
            expected = "masked" if self._expect_masked else "unmasked"
            raise FrameInvalid(f"frames from this peer must be {expected}")
        length, offset = self._length(second & 0x7F)
        if length is None:
            return None
        if opcode.is_control and (length > _MAX_CONTROL_PAYLOAD or not first & 0x80):
            raise FrameInvalid(f"control frame {opcode.name} is fragmented or too long")
        mask_end = offset + (4 if masked else 0)
        if len(buffer) < mask_end + length:
            return None
        payload = bytes(buffer[mask_end : mask_end + length])
        if masked:
            payload = apply_mask(payload, bytes(buffer[offset:mask_end]))
        del buffer[: mask_end + length]
        return Frame(opcode, payload, fin=bool(first & 0x80))

    def _opcode(self, first: int) -> Opcode:
        if first & 0x70:
            raise FrameInvalid("reserved bits set without a negotiated extension")
        try:
            return Opcode(first & 0x0F)
        except ValueError:
            raise FrameInvalid(f"unknown opcode {first & 0x0F:#x}") from None

    def _length(self, short: int) -> tuple[int | None, int]:
        """The payload length and where the mask key starts; None while the header is partial."""
        if short < 126:
            length, offset = short, 2
        elif short == 126:
            if len(self._buffer) < 4:
                return None, 0
            (length,), offset = struct.unpack_from("!H", self._buffer, 2), 4
        else:
            if len(self._buffer) < 10:
                return None, 0
            (length,), offset = struct.unpack_from("!Q", self._buffer, 2), 10
            if length >> 63:
                raise FrameInvalid("64-bit length with the most significant bit set")
        if length > self._max_payload:
            raise FrameInvalid(f"payload of {length} bytes exceeds {self._max_payload}")
        return length, offset
