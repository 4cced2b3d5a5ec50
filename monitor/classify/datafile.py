"""The classifier's data files (the taxonomy, the relevance model): the packaged one, or the
user's file, parsed once and parsed again when the file changes."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Protocol, TypeVar

from monitor.errors import ConfigError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Loader(Protocol[T_co]):
    def __call__(self, path: Path | None = None) -> T_co: ...


def loaders(
    what: str, packaged_name: str, parse: Callable[[str, str], T]
) -> tuple[Callable[[], T], Loader[T]]:
    """(the packaged file's contents, `load(path)`) for one kind of file.

    `load(None)` is the packaged file; a path is cached by its modification time and size, so
    an edited or retrained file is read again. `what` names the file in error messages.
    """

    @lru_cache(maxsize=1)
    def packaged() -> T:
        text = resources.files("monitor.classify").joinpath(packaged_name).read_text("utf-8")
        return parse(text, "packaged")

    @lru_cache(maxsize=8)
    def parsed(path: str, mtime_ns: int, size: int) -> T:
        del mtime_ns, size  # part of the cache key only
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{what} {path}: cannot read: {exc}") from exc
        return parse(text, path)

    def load(path: Path | None = None) -> T:
        if path is None:
            return packaged()
        try:
            stat = Path(path).stat()
        except OSError as exc:
            raise ConfigError(f"{what} file not found: {path}") from exc
        return parsed(str(path), stat.st_mtime_ns, stat.st_size)

    return packaged, load
