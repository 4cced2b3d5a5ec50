"""Analysts' labels: `core.labels`, one per article (a new label replaces the old one).

A label is kept apart from the classification (`core.classifications` holds the classifier's
own call), so reclassifying never touches it; the public `articles` view shows the label over
the call (migration 0009_labels). The training set of `monitor train` reads the labelled
articles' texts from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from monitor.models import Label, Stance
from monitor.store import bulk
from monitor.store.articles import HEADLINE
from monitor.store.connection import Connection


def save(con: Connection, labels: Sequence[Label], now: datetime) -> None:
    """Store these labels, each replacing the article's earlier label.

    What a new label leaves out stays: without a note (`note` None) it keeps the earlier note
    (an empty note clears it); without a stance it keeps the earlier one if the verdict is the
    same (labelling again to add a note changes nothing else).
    """
    if not labels:
        return
    ids = [lab.article_id for lab in labels]
    earlier = {
        article_id: (bool(relevant), stance, note)
        for article_id, relevant, stance, note in bulk.select(
            con,
            "SELECT article_id, relevant, stance, note FROM core.labels "
            "WHERE article_id IN (SELECT article_id FROM {rows})",
            {"article_id": ids},
        )
    }
    stances, notes = [], []
    for lab in labels:
        was_relevant, stance, note = earlier.get(lab.article_id, (None, None, None))
        kept_stance = stance if lab.stance is None and was_relevant == lab.relevant else None
        stances.append(lab.stance or kept_stance)
        notes.append((note if lab.note is None else lab.note) or None)
    columns = {
        "article_id": ids,
        "relevant": [lab.relevant for lab in labels],
        "stance": bulk.strings(stances),
        "note": bulk.strings(notes),
        "labelled_at": [now] * len(labels),
    }
    with bulk.rows(con, {"article_id": ids}) as replaced:
        con.execute(
            f"DELETE FROM core.labels WHERE article_id IN (SELECT article_id FROM {replaced})"
        )
    bulk.insert(con, "core.labels", columns)


def remove(con: Connection, ids: Sequence[str]) -> int:
    """Drop the labels of these articles; return how many there were."""
    rows = bulk.select(
        con,
        "DELETE FROM core.labels WHERE article_id IN (SELECT article_id FROM {rows}) "
        "RETURNING article_id",
        {"article_id": list(ids)},
    )
    return len(rows)


def stored_ids(con: Connection, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that are stored articles."""
    if not ids:
        return set()
    rows = bulk.select(
        con,
        "SELECT article_id FROM core.articles WHERE article_id IN (SELECT article_id FROM {rows})",
        {"article_id": list(ids)},
    )
    return {r[0] for r in rows}


def relevant_ids(con: Connection, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that an analyst labelled relevant."""
    if not ids:
        return set()
    rows = bulk.select(
        con,
        "SELECT article_id FROM core.labels WHERE relevant "
        "AND article_id IN (SELECT article_id FROM {rows})",
        {"article_id": list(ids)},
    )
    return {r[0] for r in rows}


def all_labels(con: Connection) -> list[Label]:
    """Every label, by article id."""
    rows = con.execute(
        "SELECT article_id, relevant, stance, note FROM core.labels ORDER BY article_id"
    ).fetchall()
    return [Label(r[0], bool(r[1]), _stance(r[2]), r[3]) for r in rows]


def _stance(value: str | None) -> Stance | None:
    if value in ("for_withdrawal", "against_withdrawal", "neutral"):
        return value  # type: ignore[return-value]
    return None


class LabelledText(NamedTuple):
    """A labelled article with what training needs: its text and its story (its event)."""

    article_id: str
    relevant: bool
    title: str | None
    text: str
    story_id: str | None


def labelled_texts(con: Connection) -> list[LabelledText]:
    """Every labelled article's label, title, text and story, by article id."""
    rows = con.execute(
        f"SELECT l.article_id, l.relevant, {HEADLINE}, a.text, a.story_id FROM core.labels l "
        "JOIN core.articles a USING (article_id) ORDER BY l.article_id"
    ).fetchall()
    return [LabelledText(r[0], bool(r[1]), r[2], r[3], r[4]) for r in rows]
