"""Story-clustering metrics on a labelled folder (`monitor eval DIR`, clustering part).

The folder is laid out like `../shared/data/eval`: `index.tsv` (id, label, event_cluster, url)
and `articles/NNN.txt`, each starting with `url:`, `label:` and `why:` lines, then the text as
found. The articles go through the real pipeline (store, deduplicate, assign stories) in a fresh
DuckDB file, and the stories are scored pairwise against `event_cluster`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit

from monitor.errors import MonitorError
from monitor.models import Article
from monitor.prepare import Preparation, prepare_articles
from monitor.seeds import _DATE_PREFIX, _DATELINE, clean_text
from monitor.settings import Settings
from monitor.store import Store

log = logging.getLogger(__name__)

_HEADER = re.compile(r"^(url|label|why)\s*:\s*(.*)$", re.I)
_DATELINE_LINES = 5


@dataclass(frozen=True)
class EvalArticle:
    """One labelled article of the evaluation folder."""

    item_id: str
    event_cluster: str
    article: Article


@dataclass(frozen=True)
class ClusteringReport:
    """Pairwise story-clustering scores against the labelled event clusters."""

    articles: int
    events: int
    stories: int
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    near_duplicate_links: int
    cross_event_near_links: int
    story_of: dict[str, str] = field(default_factory=dict)
    event_of: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        """A plain-text report: the scores, then every story that mixes or splits events."""
        lines = [
            f"Story clustering: {self.articles} articles, {self.events} events, "
            f"{self.stories} stories",
            f"  pairwise precision {self.precision:.3f}  recall {self.recall:.3f}  "
            f"F1 {self.f1:.3f}  ({self.correct_pairs}/{self.predicted_pairs} predicted pairs "
            f"right, {self.correct_pairs}/{self.true_pairs} true pairs found)",
            f"  near-duplicate links: {self.near_duplicate_links} "
            f"({self.cross_event_near_links} between different events)",
        ]
        members: dict[str, list[str]] = {}
        for item, story in sorted(self.story_of.items()):
            members.setdefault(story, []).append(item)
        stories_of_event: dict[str, set[str]] = {}
        for item, event in self.event_of.items():
            stories_of_event.setdefault(event, set()).add(self.story_of.get(item, item))
        for items in members.values():
            events = {self.event_of.get(i, "?") for i in items}
            split = any(len(stories_of_event.get(e, ())) > 1 for e in events)
            if len(events) > 1 or split:
                label = "mixes events" if len(events) > 1 else "part of a split event"
                listing = ", ".join(f"{i} ({self.event_of.get(i, '?')})" for i in items)
                lines.append(f"  story {label}: {listing}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The figures as a plain dict (for JSON output)."""
        return {
            "articles": self.articles,
            "events": self.events,
            "stories": self.stories,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
            "near_duplicate_links": self.near_duplicate_links,
            "cross_event_near_links": self.cross_event_near_links,
        }


def read_eval_article(path: Path, item_id: str, event_cluster: str, url: str) -> EvalArticle:
    """Parse one `articles/NNN.txt`: header lines, then text cleaned as seeds are."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    start = 0
    while start < len(lines) and _HEADER.match(lines[start]):
        match = _HEADER.match(lines[start])
        if match and match.group(1).lower() == "url" and match.group(2).strip():
            url = match.group(2).strip()
        start += 1
    body = "\n".join(lines[start:])
    cleaned = clean_text(body)
    # Only an explicit date line counts: a date in running text is as often a photo caption or
    # background ("the term began on 9 January 2022") as the day of publication.
    head = [ln for ln in body.splitlines() if ln.strip()][:_DATELINE_LINES]
    explicit = bool(_DATE_PREFIX.match(body.lstrip())) or any(_DATELINE.match(ln) for ln in head)
    published = cleaned.published_at if explicit else None
    outlet = (urlsplit(url).hostname or "").removeprefix("www.") or None
    article = Article(
        url=url,
        source="eval",
        text=cleaned.text,
        title=cleaned.title,
        canonical_url=url,
        outlet=outlet,
        published_at=published,
        date_source="text" if published else "unknown",
        language="en",
    )
    return EvalArticle(item_id, event_cluster, article)


def read_eval_dir(eval_dir: Path) -> list[EvalArticle]:
    """Every labelled article of an evaluation folder, in index order."""
    index = eval_dir / "index.tsv"
    if not index.is_file():
        raise MonitorError(f"{eval_dir}: no index.tsv")
    rows = index.read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    try:
        col_id, col_cluster = header.index("id"), header.index("event_cluster")
    except ValueError as exc:
        raise MonitorError(f"{index}: needs columns id and event_cluster") from exc
    col_url = header.index("url") if "url" in header else None
    items = []
    for row in rows[1:]:
        if not row.strip():
            continue
        cells = row.split("\t")
        item_id = cells[col_id]
        path = eval_dir / "articles" / f"{item_id}.txt"
        if not path.is_file():
            raise MonitorError(f"{eval_dir}: index names {item_id} but {path} is missing")
        url = cells[col_url] if col_url is not None else f"eval:{item_id}"
        items.append(read_eval_article(path, item_id, cells[col_cluster], url))
    return items


def pairwise_scores(truth: dict[str, str], predicted: dict[str, str]) -> tuple[int, int, int]:
    """(true pairs, predicted pairs, pairs both agree on) over all pairs of items."""
    true_pairs = predicted_pairs = correct = 0
    for a, b in combinations(sorted(truth), 2):
        same_true = truth[a] == truth[b]
        same_pred = predicted.get(a, "?" + a) == predicted.get(b, "?" + b)
        true_pairs += same_true
        predicted_pairs += same_pred
        correct += same_true and same_pred
    return true_pairs, predicted_pairs, correct


def evaluate_clustering(eval_dir: Path, *, workdir: Path) -> ClusteringReport:
    """Run the eval articles through the real pipeline and score the stories it forms."""
    from monitor.pipeline import process_pending, store_articles  # pipeline imports us

    items = read_eval_dir(eval_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "cluster-eval.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    store = Store(db)
    store.migrate()
    settings = Settings.model_validate({"storage": {"db": str(db)}})
    store_articles(store, "eval", prepare_articles([i.article for i in items], Preparation()), [])
    process_pending(store, settings)

    by_article = {i.article.article_id: i for i in items}
    rows = store.query(
        "SELECT article_id, story_id, duplicate_of, duplicate_reason FROM core.articles"
    )
    predicted: dict[str, str] = {}
    near_links = cross = 0
    for article_id, story_id, duplicate_of, reason in rows:
        item = by_article.get(article_id)
        if item is None:
            continue
        predicted[item.item_id] = story_id or f"none:{article_id}"
        if duplicate_of and reason == "near":
            near_links += 1
            origin = by_article.get(duplicate_of)
            if origin is not None and origin.event_cluster != item.event_cluster:
                cross += 1
    truth = {i.item_id: i.event_cluster for i in items}
    true_pairs, predicted_pairs, correct = pairwise_scores(truth, predicted)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    report = ClusteringReport(
        articles=len(items),
        events=len(set(truth.values())),
        stories=len(set(predicted.values())),
        precision=precision,
        recall=recall,
        f1=f1,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        near_duplicate_links=near_links,
        cross_event_near_links=cross,
        story_of=predicted,
        event_of=truth,
    )
    log.info("clustering: %s", report.as_dict())
    return report
