"""Messages of one type kept serialized, parsed only when read.

Stage 2 assembles a large RouteConfiguration from virtual hosts it serialized before
(translator.xds.built_routes). Parsing those bytes back into a message would cost as much
again (5 ms at 3,000 hosts), and the xDS cache only needs the bytes: ``EncodedMessages`` is a
read-only mapping of name to message that parses a message when it is first read, and hands
the bytes over as they are (``encoded``). The bytes are the message's deterministic
serialization."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from google.protobuf.message import Message


class EncodedMessages(Mapping[str, Message]):
    def __init__(self, message_type: type[Message], encoded: Mapping[str, bytes]) -> None:
        self.message_type = message_type
        self._encoded = dict(encoded)
        self._parsed: dict[str, Message] = {}

    def encoded(self, name: str) -> bytes:
        return self._encoded[name]

    def __getitem__(self, name: str) -> Message:
        found = self._parsed.get(name)
        if found is None:
            # Two readers may both parse it: equal messages, either one may stay.
            found = self._parsed[name] = self.message_type.FromString(self._encoded[name])
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._encoded  # Mapping's own would parse the message

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)
