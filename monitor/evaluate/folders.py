"""Several labelled folders measured together (`monitor eval ../shared/data/eval
../shared/data/eval-ar`): one ingest of all their pages, figures for each folder (each is one
language), and how stories and storylines join reports of one event across folders.

The folders' articles are served as one site, so a story or storyline may hold articles of both;
each article is named `<folder>/<id>` (ids may repeat across folders). Folders that share an
`event_cluster` id label reports of one real event (../shared/data/eval-ar/README.md: the January
2020 resolution and the end of the combat mission in December 2021 are in both).

`CrossReport` counts the pairs of articles from two different folders: those of one labelled
event (or storyline) that were put in one story (recall), and the pairs put in one story that
belong to different events (false links between languages; precision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

from monitor.errors import ConfigError
from monitor.evaluate.labelled import LabelledArticle, read_eval_dir
from monitor.evaluate.metrics import Outcome


def folder_of(item_id: str) -> str:
    """The folder an article of a combined evaluation comes from ("" for a single folder)."""
    return item_id.rsplit("/", 1)[0] if "/" in item_id else ""


def read_folders(dirs: Sequence[Path]) -> list[LabelledArticle]:
    """The labelled articles of one folder as they are, or of several named `<folder>/<id>`."""
    if len(dirs) == 1:
        return read_eval_dir(dirs[0])
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        raise ConfigError(f"two labelled folders share a name: {', '.join(names)}")
    items: list[LabelledArticle] = []
    for name, folder in zip(names, dirs, strict=True):
        items += [replace(item, id=f"{name}/{item.id}") for item in read_eval_dir(folder)]
    return items


@dataclass(frozen=True)
class CrossReport:
    """Pairs of articles from two different folders, against the labels (module doc)."""

    what: str  # "stories" or "storylines"
    labelled_pairs: int  # cross-folder pairs of one labelled event (storyline)
    joined_pairs: int  # ... of them in one story (storyline)
    linked_pairs: int  # cross-folder pairs in one story (storyline)
    false_links: int  # ... of them of different labelled events (storylines)

    @property
    def recall(self) -> float:
        """Share of cross-folder pairs of one event put in one story."""
        return self.joined_pairs / self.labelled_pairs if self.labelled_pairs else 1.0

    @property
    def precision(self) -> float:
        """Share of cross-folder pairs in one story that report one event."""
        return 1 - self.false_links / self.linked_pairs if self.linked_pairs else 1.0

    def render(self) -> str:
        """One line of figures."""
        return (
            f"{self.what} across folders: {self.joined_pairs} of {self.labelled_pairs} pairs of "
            f"one labelled group joined (recall {self.recall:.3f}); {self.linked_pairs} pairs "
            f"linked, {self.false_links} of them wrongly (precision {self.precision:.3f})"
        )


def cross_report(
    what: str,
    outcomes: Sequence[Outcome],
    group: Callable[[Outcome], str | None],
    cluster: Callable[[Outcome], str | None],
) -> CrossReport:
    """Cross-folder pairs of `outcomes` scored by their labelled group and predicted cluster."""
    labelled = joined = linked = false = 0
    for a, b in combinations(outcomes, 2):
        if folder_of(a.item.id) == folder_of(b.item.id):
            continue
        ga, gb = group(a), group(b)
        same_group = ga is not None and ga == gb
        ca, cb = cluster(a), cluster(b)
        same_cluster = ca is not None and ca == cb
        labelled += same_group
        joined += same_group and same_cluster
        linked += same_cluster
        false += same_cluster and not same_group
    return CrossReport(what, labelled, joined, linked, false)


def story_cross(outcomes: Sequence[Outcome]) -> CrossReport:
    """Stories against events, across folders."""
    return cross_report(
        "stories", outcomes, lambda o: o.item.event_cluster or None, lambda o: o.story_id
    )


def storyline_cross(outcomes: Sequence[Outcome]) -> CrossReport:
    """Storylines against labelled storylines, across folders (on-topic articles only)."""
    on_topic = [o for o in outcomes if o.item.on_topic]
    return cross_report(
        "storylines", on_topic, lambda o: o.item.storyline, lambda o: o.storyline_id
    )
