"""Stories: reports of the same real event by different outlets, grouped together.

A copy (exact or near duplicate) joins its origin's story. Every other article is compared with
the stories it could belong to and joins one, or opens a new story. The steps, each pure; the
store answers the lookups in between (`store.stories`):

    batch = Batch.of(originals)                    features: terms and cues (features.py)
    stats = store.stories.term_stats(con, batch)   stored document frequencies
    scored = score(batch, stats)                   TF-IDF weights, distinctive query terms
    found = store.stories.candidates(con, scored)  stored stories sharing terms, in the window
    plan = assign(scored, found)                   clustering (clustering.py)

* Candidates: each article's most distinctive terms go into an inverted index
  (`core.story_terms`); a batch looks its own distinctive terms up in one join, restricted to
  stories active in the time window (`core.story_spans`). Nothing is loaded wholesale.
* Decision: average-linkage clustering of the batch with the candidate stored stories as fixed
  seeds (clustering.py). See docs/dedup.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from monitor.models import StoredArticle, make_id
from monitor.stories.clustering import Member, StoredStory, cluster
from monitor.stories.features import Idf, event_cues, term_counts

log = logging.getLogger(__name__)

INDEX_TERMS = 25
QUERY_TERMS = 25
MAX_CANDIDATE_STORIES = 40

__all__ = [
    "Assignment",
    "Batch",
    "Candidates",
    "Member",
    "Scored",
    "StoredStory",
    "TermStats",
    "assign",
    "event_at",
    "score",
]


def event_at(article: StoredArticle) -> datetime | None:
    """The date an article reports its event on, when it has one of its own."""
    return article.published_at if article.date_source not in ("story", "unknown") else None


@dataclass
class Batch:
    """The originals of a batch with their features: what stories are computed from."""

    originals: list[StoredArticle]
    counts: dict[str, dict[str, float]]
    cues: dict[str, list[str]]
    df: Counter[str]

    @classmethod
    def of(cls, originals: list[StoredArticle]) -> Batch:
        """Features of each original, and the batch's own document frequencies."""
        counts = {a.article_id: term_counts(a.title, a.text) for a in originals}
        cues = {a.article_id: event_cues(a.title, a.text) for a in originals}
        df: Counter[str] = Counter()
        for terms in counts.values():
            df.update(terms.keys())
        return cls(originals, counts, cues, df)


@dataclass(frozen=True)
class TermStats:
    """Stored document frequencies of a batch's terms, and how many documents there are."""

    df: dict[str, int]
    documents: int


@dataclass
class Scored:
    """A batch with TF-IDF weights and each article's distinctive terms."""

    batch: Batch
    idf: Idf
    weights: dict[str, dict[str, float]]
    queries: dict[str, list[str]]  # looked up in the stored index (df >= 2)
    index_terms: dict[str, list[str]]  # stored in the index for later batches


def score(batch: Batch, stats: TermStats) -> Scored:
    """Weigh the batch's terms against stored and batch document frequencies."""
    df = dict(batch.df)
    for term, n in stats.df.items():
        df[term] = df.get(term, 0) + n
    idf = Idf(df, stats.documents + len(batch.originals))
    weights = {aid: idf.weights(counts) for aid, counts in batch.counts.items()}
    return Scored(
        batch,
        idf,
        weights,
        {aid: idf.top_terms(w, QUERY_TERMS, min_df=2) for aid, w in weights.items()},
        {aid: idf.top_terms(w, INDEX_TERMS) for aid, w in weights.items()},
    )


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


def assign(scored: Scored, found: Candidates) -> Assignment:
    """Cluster the batch's originals with the candidate stored stories."""
    members = []
    for article in scored.batch.originals:
        aid = article.article_id
        member = Member(
            aid, dict(scored.batch.counts[aid]), scored.batch.cues[aid], event_at(article)
        )
        member.vector = scored.idf.vector(member.counts, scored.weights[aid])
        members.append(member)
    groups = cluster(members, found.stories, found.of, scored.idf, found.adopted, scored.queries)
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
            if member.article_id in scored.batch.counts:
                story_of[member.article_id] = story_id
    log.info(
        "stories: %d originals, %d new stories, %d joined existing ones, %d stories merged",
        len(members),
        len(new),
        len(members) - len(new),
        len(merged),
    )
    return Assignment(story_of, new, merged)
