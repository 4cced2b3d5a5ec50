"""The classifier's word lists: data files in `words/`, one word or phrase per line.

Lists a reader may want to extend (speech verbs, words that are not part of a name, what a
figure counts ...) are data, not code. A `#` starts a comment; blank lines are skipped; the order
of the lines is kept, since several lists become regular-expression alternations. Each list is
read on first use and kept for the process: importing `monitor.classify` reads none of them.
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def words(name: str) -> tuple[str, ...]:
    """The entries of `words/<name>.txt`, in file order."""
    return tuple(_lines(name))


@functools.cache
def sections(name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The `[section]`-headed lists of `words/<name>.txt`, each as (section, entries), in order."""
    out: list[tuple[str, list[str]]] = []
    for entry in _lines(name):
        if _is_section(entry):
            out.append((entry[1:-1].strip(), []))
        elif out:
            out[-1][1].append(entry)
        else:
            raise ValueError(f"words/{name}.txt: {entry!r} comes before any [section]")
    return tuple((section, tuple(entries)) for section, entries in out)


def _lines(name: str) -> list[str]:
    path = resources.files("monitor.classify").joinpath("words").joinpath(f"{name}.txt")
    text = path.read_text(encoding="utf-8")
    return [entry for line in text.splitlines() if (entry := line.partition("#")[0].strip())]


def _is_section(entry: str) -> bool:
    return entry.startswith("[") and entry.endswith("]")
