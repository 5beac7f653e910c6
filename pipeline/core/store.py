"""Where the engine writes its state through to (a Faust table in the worker, a dict in tests).

Keys are strings and values JSON documents encoded as bytes (see pipeline.engine.formats); the
engine hands over each batch's writes at once, so a store can make them durable as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson

__all__ = ["DictStore", "StateStore", "Write"]

Write = tuple[str, bytes | None]  # (key, encoded value or None to delete)


class StateStore(Protocol):
    def write(self, writes: Iterable[Write]) -> None: ...

    def load(self) -> Iterable[tuple[str, Any]]:
        """Every stored key with its decoded value."""
        ...


class DictStore(dict[str, bytes]):
    """A plain in-memory store."""

    def write(self, writes: Iterable[Write]) -> None:
        for key, value in writes:
            if value is None:
                self.pop(key, None)
            else:
                self[key] = value

    def load(self) -> Iterator[tuple[str, Any]]:
        for key, value in list(self.items()):
            yield key, orjson.loads(value)
