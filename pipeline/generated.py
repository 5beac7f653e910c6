"""Generated files (JSON Schemas, Grafana dashboards): written from their source, and checked for
drift so that a change to the source without `make generate` fails the test run."""

from __future__ import annotations

from pathlib import Path

__all__ = ["drifted", "write_all"]


def write_all(files: dict[str, str], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(files: dict[str, str], directory: Path) -> list[str]:
    """Names of the files that are missing or differ from what their source renders."""
    return [
        name
        for name, text in files.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
