"""Where a source core writes its state through to (a Faust table in the worker, a dict in tests
and in replay). Values are JSON-compatible; keys are strings."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["DictStore", "StateStore"]


class StateStore(Protocol):
    def put(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class DictStore(dict[str, Any]):
    """A plain in-memory store."""

    def put(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)
