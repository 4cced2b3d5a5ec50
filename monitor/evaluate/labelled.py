"""A labelled folder laid out like ../shared/data/eval: `index.tsv` and `articles/<id>.txt`.

`index.tsv` columns: `id`, `label` (on-topic / off-topic), `event_cluster` (reports of one real
event share it), `url`, `published` (the day, or `unknown`), `storyline` (a thread of events,
on-topic rows), `stance` (the article's own voice, where labelled). Each article file starts with
header lines (`url:`, `label:`, `why:`, `published:` ...) and a blank line, then the text as it
was found. The header is for people: it is split off here and never reaches the pipeline.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from monitor.errors import ConfigError

ON_TOPIC = "on-topic"
STANCES = ("for_withdrawal", "against_withdrawal", "neutral")
_HEADER_LINE = re.compile(r"^[a-z_]+\s*:")


@dataclass(frozen=True)
class LabelledArticle:
    """One labelled article: its labels, and its text with the header split off."""

    id: str
    label: str
    event_cluster: str
    url: str
    published: date | None
    storyline: str | None
    stance: str | None
    why: str
    body: str

    @property
    def on_topic(self) -> bool:
        """Labelled as about the US / coalition troop presence in Iraq."""
        return self.label == ON_TOPIC


def split_header(raw: str) -> tuple[dict[str, str], str]:
    """The `key: value` header lines of an article file, and the text after them."""
    lines = raw.replace("\r\n", "\n").split("\n")
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and _HEADER_LINE.match(lines[i].strip().lower()):
        key, _, value = lines[i].partition(":")
        header[key.strip().lower()] = value.strip()
        i += 1
    return header, "\n".join(lines[i:]).strip("\n")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None  # "unknown", or empty


def read_eval_dir(eval_dir: Path) -> list[LabelledArticle]:
    """Every labelled article of a folder, in index order."""
    index = eval_dir / "index.tsv"
    if not index.is_file():
        raise ConfigError(f"{eval_dir}: no index.tsv (expected index.tsv + articles/)")
    items: list[LabelledArticle] = []
    with index.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            item_id = (row.get("id") or "").strip()
            label = (row.get("label") or "").strip()
            if not item_id or not label:
                continue
            path = eval_dir / "articles" / f"{item_id}.txt"
            try:
                raw = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read: {exc}") from exc
            header, body = split_header(raw)
            stance = (row.get("stance") or "").strip()
            items.append(
                LabelledArticle(
                    id=item_id,
                    label=label,
                    event_cluster=(row.get("event_cluster") or "").strip(),
                    url=(row.get("url") or header.get("url", "")).strip(),
                    published=_day(row.get("published") or header.get("published", "")),
                    storyline=(row.get("storyline") or "").strip() or None,
                    stance=stance if stance in STANCES else None,
                    why=header.get("why", ""),
                    body=body,
                )
            )
    if not items:
        raise ConfigError(f"{index}: no labelled rows")
    return items
