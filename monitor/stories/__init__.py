"""Stories: reports of the same real event by different outlets, grouped together.

A copy (exact or near duplicate) joins its origin's story. Every other article is compared with
the stories it could belong to and joins one, or opens a new story. The steps, each pure; the
store answers the lookups in between (`store.stories`):

    batch = Batch.of(originals, evidence)          features: terms, cues, evidence (features.py)
    stats = store.stories.term_stats(con, batch)   stored document frequencies
    scored = score(batch, stats)                   TF-IDF weights, distinctive query terms
    found = store.stories.candidates(con, scored)  stored stories sharing terms, in the window
    plan = assign(scored, found)                   clustering (clustering.py)

* Evidence: the terms of title and lead and event cues (features.py), the canonical actors,
  places, figures and event types the classifier found (`Evidence`, read from the store), and the
  article's own date when it has one (`event_at`).
* Candidates: each article's most distinctive terms go into an inverted index
  (`core.story_terms`); a batch looks its own distinctive terms up in one join, restricted to
  stories active in the time window (`core.story_spans`). Nothing is loaded wholesale.
* Decision: average-linkage clustering of the batch with the candidate stored stories as fixed
  seeds (clustering.py), over the probabilities of the learned pair model (model.py, pairs.py).
  See docs/dedup.md.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.models import StoredArticle, make_id
from monitor.stories.clustering import StoredStory, cluster
from monitor.stories.features import (
    CONCEPT,
    DOCUMENTS,
    Idf,
    event_cues,
    script_of_counts,
    term_counts,
)
from monitor.stories.model import PairModel, load_pair_model
from monitor.stories.pairs import NO_EVIDENCE, Evidence, Member, entity_idf

log = logging.getLogger(__name__)

# A feed date this close to the moment the link was first seen may be the day the feed was
# generated rather than the day the report came out: it tells nothing about the event.
CRAWL_STAMP = timedelta(hours=36)
INDEX_TERMS = 25
QUERY_TERMS = 25
LINK_KEYS = 3  # rarest concepts and canonical names indexed and looked up (across languages)
NAME = "e:"  # the prefix of a canonical name among index keys
MAX_CANDIDATE_STORIES = 40

__all__ = [
    "Assignment",
    "Batch",
    "Candidates",
    "Evidence",
    "Member",
    "Scored",
    "StoredStory",
    "TermStats",
    "assign",
    "event_at",
    "score",
]


def own_date(
    published_at: datetime | None, date_source: str, first_seen_at: datetime | None
) -> datetime | None:
    """A date that is evidence of the event: the article's own, and not a crawl-day stamp.

    A date borrowed from the story (`story`) or none (`unknown`) is not the article's own; a
    feed's date within `CRAWL_STAMP` of the moment the link was first seen may be the day the
    feed was made. Either way the report is judged on what it says (no date pulls it towards a
    story or pushes it away)."""
    if published_at is None or date_source in ("story", "unknown"):
        return None
    if (
        date_source == "feed"
        and first_seen_at is not None
        and abs(first_seen_at - published_at) <= CRAWL_STAMP
    ):
        return None
    return published_at


def event_at(article: StoredArticle) -> datetime | None:
    """The date an article reports its event on, when it has one of its own (`own_date`)."""
    return own_date(article.published_at, article.date_source, article.first_seen_at)


@dataclass
class Batch:
    """The originals of a batch with their features: what stories are computed from."""

    originals: list[StoredArticle]
    counts: dict[str, dict[str, float]]
    cues: dict[str, list[str]]
    df: Counter[str]
    evidence: dict[str, Evidence] = field(default_factory=dict)

    @classmethod
    def of(
        cls, originals: list[StoredArticle], evidence: Mapping[str, Evidence] | None = None
    ) -> Batch:
        """Features of each original, and the batch's own document frequencies; `evidence`
        is what the classifier found in each (`store.stories.evidence`)."""
        counts = {a.article_id: term_counts(a.title, a.text) for a in originals}
        cues = {a.article_id: event_cues(a.title, a.text) for a in originals}
        df: Counter[str] = Counter()
        for aid, terms in counts.items():
            df.update(_document_keys(terms, cues[aid]))
        found = evidence or {}
        return cls(
            originals,
            counts,
            cues,
            df,
            {a.article_id: found.get(a.article_id, NO_EVIDENCE) for a in originals},
        )

    def only(self, ids: set[str]) -> Batch:
        """The same batch restricted to these originals (features are not computed again)."""
        originals = [a for a in self.originals if a.article_id in ids]
        df: Counter[str] = Counter()
        for a in originals:
            df.update(_document_keys(self.counts[a.article_id], self.cues[a.article_id]))
        return Batch(
            originals,
            {a.article_id: self.counts[a.article_id] for a in originals},
            {a.article_id: self.cues[a.article_id] for a in originals},
            df,
            {a.article_id: self.evidence[a.article_id] for a in originals},
        )


def _document_keys(counts: Mapping[str, float], cues: list[str]) -> list[str]:
    """What a report adds to the document frequencies: its terms, its concepts, and one to the
    documents of its writing system (features.DOCUMENTS)."""
    script = script_of_counts(counts)
    return [
        *counts,
        *(c for c in cues if c.startswith(CONCEPT)),
        *([DOCUMENTS + script] if script else []),
    ]


@dataclass(frozen=True)
class TermStats:
    """Stored document frequencies of a batch's terms and canonical names, and how many
    documents each is counted over."""

    df: dict[str, int]
    documents: int
    names: dict[str, int] = field(default_factory=dict)
    named_documents: int = 0


@dataclass
class Scored:
    """A batch with TF-IDF weights and each article's distinctive terms."""

    batch: Batch
    idf: Idf
    names: dict[str, float]  # IDF of canonical actors and places
    weights: dict[str, dict[str, float]]
    queries: dict[str, list[str]]  # looked up in the stored index (df >= 2)
    index_terms: dict[str, list[str]]  # stored in the index for later batches
    # Language-free keys (concepts, canonical names), looked up and stored beside the terms.
    links: dict[str, list[str]] = field(default_factory=dict)


def score(batch: Batch, stats: TermStats) -> Scored:
    """Weigh the batch's terms against stored and batch document frequencies."""
    df = dict(batch.df)
    for term, n in stats.df.items():
        df[term] = df.get(term, 0) + n
    documents = stats.documents + len(batch.originals)
    # Documents stored before writing systems were counted are counted in each.
    scripts = {k[len(DOCUMENTS) :]: n for k, n in df.items() if k.startswith(DOCUMENTS)}
    uncounted = max(documents - sum(scripts.values()), 0)
    idf = Idf(df, documents, {k: n + uncounted for k, n in scripts.items()})
    weights = {aid: idf.weights(counts) for aid, counts in batch.counts.items()}
    names = entity_idf(stats.names, max(stats.named_documents, len(batch.originals)))
    return Scored(
        batch,
        idf,
        names,
        weights,
        {aid: idf.top_terms(w, QUERY_TERMS, min_df=2) for aid, w in weights.items()},
        {aid: idf.top_terms(w, INDEX_TERMS) for aid, w in weights.items()},
        {aid: _links(batch, aid, idf, names) for aid in batch.counts},
    )


def _links(batch: Batch, aid: str, idf: Idf, names: Mapping[str, float]) -> list[str]:
    """What finds a report's stories in another language: its rarest concepts and canonical
    names (`LINK_KEYS` of each), looked up and indexed beside its terms."""
    concepts = [c for c in batch.cues[aid] if c.startswith(CONCEPT) and idf.df.get(c, 0) >= 2]
    evidence = batch.evidence[aid]
    named = [n for n in (*evidence.actors, *evidence.places) if n in names]
    return [
        *heapq.nlargest(LINK_KEYS, concepts, key=lambda c: (idf(c), c)),
        *(NAME + n for n in heapq.nlargest(LINK_KEYS, named, key=lambda n: (names[n], n))),
    ]


@dataclass(frozen=True)
class Candidates:
    """Stored stories a batch may join (`store.stories.candidates`).

    `of` lists, per article, the stored stories sharing its distinctive terms in its window;
    `adopted` maps an article to the story of the stored copies it was found to predate.
    """

    stories: dict[str, StoredStory] = field(default_factory=dict)
    of: dict[str, list[str]] = field(default_factory=dict)
    adopted: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    """The story of each original, the stories it opens (story id, first article), and the
    stored stories its reports bridged (folded story id -> the story it joins)."""

    story_of: dict[str, str]
    new_stories: list[tuple[str, str]]
    merged: dict[str, str] = field(default_factory=dict)
    # Every merge of the clustering (mean probability, a report of each side), highest first.
    merges: tuple[tuple[float, str, str], ...] = ()


def assign(
    scored: Scored,
    found: Candidates,
    model: PairModel | None = None,
    scripts: Mapping[str, str] | None = None,
) -> Assignment:
    """Cluster the batch's originals with the candidate stored stories (by default with the
    packaged pair model). `scripts` gives reports a writing system other than their terms'
    (the evaluation's simulated languages: monitor/evaluate/grouping.py)."""
    batch = scored.batch
    members = []
    for article in batch.originals:
        aid = article.article_id
        member = Member(
            aid,
            dict(batch.counts[aid]),
            batch.cues[aid],
            event_at(article),
            batch.evidence[aid],
            script=scripts.get(aid) if scripts else None,
        )
        member.vector = scored.idf.vector(member.counts, scored.weights[aid])
        members.append(member)
    # Dated first, oldest first, then by id: the order reports arrived in decides nothing.
    members.sort(key=lambda m: (m.event_at is None, m.event_at or datetime.min, m.article_id))
    merges: list[tuple[float, str, str]] = []
    groups = cluster(
        members,
        found.stories,
        found.of,
        scored.idf,
        scored.names,
        model or load_pair_model("stories"),
        found.adopted,
        scored.queries,
        merges,
    )
    story_of: dict[str, str] = {}
    new: list[tuple[str, str]] = []
    merged: dict[str, str] = {}
    for group in groups:
        story_id = group.story_id
        for folded in group.merged:
            merged[folded] = story_id  # type: ignore[assignment]
        if story_id is None:
            first = group.members[0].article_id
            story_id = make_id("story:" + first)
            new.append((story_id, first))
        for member in group.members:
            if member.article_id in batch.counts:
                story_of[member.article_id] = story_id
    log.info(
        "stories: %d originals, %d new stories, %d joined existing ones, %d stories merged",
        len(members),
        len(new),
        len(members) - len(new),
        len(merged),
    )
    return Assignment(story_of, new, merged, tuple(merges))
