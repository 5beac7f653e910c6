"""Unknown setting names are refused, at every level, with the nearest valid one.

pydantic-settings silently drops an env var whose nested key matches no field
(``KPI_TIME__IDLE_TIMOUT=30s`` would leave the idle timeout at its default), and pydantic
models ignore unknown keys of a settings file unless told otherwise. Both sources are checked
here against the models' fields before they are validated, so a typo is an error that names
the key, where it came from and what was probably meant.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["AUXILIARY_ENV_VARS", "SettingsError", "unknown_env_keys", "unknown_file_keys"]

# Env vars with the settings prefix that are read on their own, not as settings.
AUXILIARY_ENV_VARS = frozenset({"KPI_KAFKA_LIBS", "KPI_TEST_UCI_FULL"})


class SettingsError(ValueError):
    """The settings name a key no settings model has (see ``unknown_env_keys``)."""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds, directly, in a list or as ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key.lower(), valid, n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"valid keys: {', '.join(sorted(valid))}"


def _walk(model: type[BaseModel], data: Any, path: str) -> Iterator[str]:
    if isinstance(data, list):
        for i, item in enumerate(data):
            yield from _walk(model, item, f"{path}[{i}]")
        return
    if not isinstance(data, Mapping):
        return
    fields = model.model_fields
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(str(key))
        if field is None:
            yield f"unknown setting {where!r}: {_suggest(str(key), list(fields))}"
            continue
        nested = _model_of(field.annotation)
        if nested is not None:
            yield from _walk(nested, value, where)


def unknown_file_keys(model: type[BaseModel], data: Mapping[str, Any], source: str) -> list[str]:
    """One message per key of a settings file that no model field has."""
    return [f"{source}: {problem}" for problem in _walk(model, data, "")]


def unknown_env_keys(
    model: type[BaseModel],
    prefix: str,
    delimiter: str,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """One message per env var with ``prefix`` whose name, split at ``delimiter``, leaves the
    fields of ``model`` (names are case-insensitive, as pydantic-settings reads them)."""
    environ = os.environ if environ is None else environ
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(prefix.upper()) or upper in AUXILIARY_ENV_VARS:
            continue
        parts = upper[len(prefix) :].lower().split(delimiter)
        current: type[BaseModel] | None = model
        for depth, part in enumerate(parts):
            if current is None:
                break  # inside a value (a mapping such as kpi.sla): its own validator checks
            fields = current.model_fields
            field = fields.get(part)
            if field is None:
                head = prefix.upper() + "".join(f"{p.upper()}{delimiter}" for p in parts[:depth])
                close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.5)
                hint = (
                    f"did you mean {head}{close[0].upper()}?"
                    if close
                    else f"valid keys here: {', '.join(sorted(fields))}"
                )
                problems.append(f"unknown setting in env var {name}: {part!r}; {hint}")
                break
            current = _model_of(field.annotation)
            if typing.get_origin(field.annotation) is list and depth + 1 < len(parts):
                whole = prefix.upper() + delimiter.join(parts[: depth + 1]).upper()
                problems.append(f"env var {name}: {whole} takes the whole list, as JSON")
                break
    return problems
