"""Stories: reports of the same real event by different outlets, grouped together.

A copy (exact or near duplicate) joins its origin's story. Every other article is compared
with the stories it could belong to and joins one, or opens a new story:

* Representation: TF-IDF over the title and the lead (first `LEAD_WORDS` words), with names
  (capitalised words) counted double and pairs of adjacent names as extra terms, so actors,
  places and the specific event words ("vote", "rockets", "commission") carry the weight.
  Raw term counts are stored per article (`core.story_features`); IDF comes from document
  frequencies appended per batch to `core.term_df`, so vectors sharpen as the archive grows.
* Candidates: each article's most distinctive terms go into an inverted index
  (`core.story_terms`); a batch looks its own distinctive terms up in one join, restricted to
  stories active in the time window (`core.story_spans`). Nothing is loaded wholesale.
* Decision: average-linkage clustering of the batch with the candidate stored stories as fixed
  seeds. Two groups merge while their mean member-to-member cosine similarity reaches
  `JOIN_THRESHOLD`, their dates lie within `WINDOW_DAYS` (when known), and no event cue
  contradicts: a different count of the same thing ("three rockets" against "ten rockets")
  forbids a merge, disjoint weekdays damp it. Those cues keep two events with the same places
  and actors apart. See docs/dedup.md.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from monitor.bulkio import execute, insert_rows
from monitor.models import DedupDecision, StoredArticle, make_id
from monitor.store import Connection, utcnow

log = logging.getLogger(__name__)

# Parameters (see docs/dedup.md).
LEAD_WORDS = 200
BIGRAMS = "names"  # "all", "names" (pairs of capitalised words) or "none"
CUE_WORDS = 90
WINDOW_DAYS = 4
JOIN_THRESHOLD = 0.2
WEEKDAY_PENALTY = 0.8
INDEX_TERMS = 25
QUERY_TERMS = 25
MIN_SHARED_TERMS = 2
MAX_CANDIDATE_STORIES = 40
MAX_POSTING = 200
# Terms no other document has cannot match anything; they only dilute the vector's norm.
UNIQUE_WEIGHT = 0.3

_WORD = re.compile(r"[^\W\d_][\w'’.\-]*|\d[\d,.]*", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "said",
        "says",
        "say",
        "saying",
        "will",
        "would",
        "could",
        "should",
        "may",
        "might",
        "must",
        "not",
        "no",
        "nor",
        "but",
        "if",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "us",
        "who",
        "whom",
        "which",
        "what",
        "when",
        "where",
        "while",
        "after",
        "before",
        "about",
        "over",
        "into",
        "also",
        "more",
        "most",
        "other",
        "some",
        "such",
        "can",
        "do",
        "does",
        "did",
        "up",
        "out",
        "new",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "according",
        "last",
        "week",
        "weeks",
        "year",
        "years",
        "month",
        "months",
        "day",
        "days",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "told",
        "statement",
        "just",
        "only",
        "any",
        "all",
        "both",
        "each",
        "many",
        "much",
        "very",
        "so",
        "because",
        "during",
        "since",
        "until",
        "against",
        "between",
        "through",
        "under",
        "again",
        "further",
        "once",
        "here",
        "how",
        "why",
        "own",
        "same",
        "too",
        "now",
        "today",
        "yesterday",
        "tomorrow",
        "time",
        "news",
        "report",
        "reported",
        "reports",
        "reporting",
        "read",
        "more",
        "photo",
        "image",
        "via",
        "per",
        "cent",
        "percent",
        "mr",
        "mrs",
        "ms",
        "dr",
    ]
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_ORDINALS = {
    w: i + 1
    for i, w in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
        ]
    )
}
_COUNT_RE = re.compile(
    r"\b(\d{1,3}(?:,\d{3})*|" + "|".join(list(_NUMBER_WORDS) + list(_ORDINALS)) + r")"
    r"\s+(?:(?:us|american|iraqi|more|new|other|additional|separate)\s+)?([a-z]{3,})\b"
)
_COUNT_NOUN_STOP = frozenset(
    ["percent", "cent", "years", "months", "days", "weeks", "times", "hours", "minutes", "decades"]
)
_PLURAL_NOUNS = frozenset(["people", "personnel", "police", "staff", "children", "women", "men"])
MAX_COUNT = 999  # larger figures are rounded differently from one report to the next


@functools.lru_cache(maxsize=200_000)
def _norm(word: str) -> str:
    word = word.casefold().replace("’", "'").strip("'.-,")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace(".", "")
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


def _prepare(text: str) -> str:
    return re.sub(r"\bU\.S\.(?=\W)", "US", text).replace("’", "'")


def term_counts(title: str | None, text: str) -> dict[str, float]:
    """Weighted terms of title + lead: words, names counted double, adjacent pairs."""
    # ~12 characters a word is far more than the lead needs; the rest is never read.
    full = _prepare(((title or "") + " .\n" if title else "") + text[: LEAD_WORDS * 12])
    counts: dict[str, float] = {}
    prev: str | None = None
    prev_name = False
    for i, match in enumerate(_WORD.finditer(full)):
        if i >= LEAD_WORDS:
            break
        raw = match.group(0)
        word = _norm(raw)
        if len(word) < 3 or word in _STOP or word[0].isdigit():
            prev = None
            continue
        name = raw[0].isupper()
        counts[word] = counts.get(word, 0.0) + (2.0 if name and i > 0 else 1.0)
        if prev is not None and (BIGRAMS == "all" or (BIGRAMS == "names" and name and prev_name)):
            pair = prev + " " + word
            counts[pair] = counts.get(pair, 0.0) + 1.0
        prev, prev_name = word, name
    return counts


def event_cues(title: str | None, text: str) -> list[str]:
    """Event cues in the lead: weekdays ('wd:monday') and counts of things ('n:rocket=3')."""
    head = (title or "") + " . " + text[: CUE_WORDS * 12]
    lead = " ".join(_prepare(head).split()[:CUE_WORDS]).casefold()
    cues = {f"wd:{m.group(1)}" for m in _WEEKDAY_RE.finditer(lead)}
    for m in _COUNT_RE.finditer(lead):
        number, raw_noun = m.group(1), m.group(2)
        noun = _norm(raw_noun)
        if noun in _COUNT_NOUN_STOP or noun in _STOP:
            continue
        if number in _ORDINALS:
            value = _ORDINALS[number]  # "sixth round", "first meeting"
        else:
            if not (raw_noun.endswith("s") or raw_noun in _PLURAL_NOUNS):
                continue  # "two striking", "5,000 from": not a count of things
            value = _NUMBER_WORDS.get(number, 0) or int(number.replace(",", "") or 0)
            if not 1 < value <= MAX_COUNT:
                continue
        cues.add(f"n:{noun}={value}")
    return sorted(cues)


def encode_counts(counts: dict[str, float]) -> str:
    """Term counts as one compact string ("term<TAB>count" lines) for storage."""
    return "\n".join(f"{t}\t{c:g}" for t, c in counts.items())


def decode_counts(encoded: str) -> dict[str, float]:
    """The inverse of encode_counts."""
    out: dict[str, float] = {}
    for line in encoded.split("\n"):
        term, _, count = line.rpartition("\t")
        if term:
            out[term] = float(count)
    return out


def _weekdays(cues: Iterable[str]) -> set[str]:
    return {c for c in cues if c.startswith("wd:")}


def _counts(cues: Iterable[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in cues:
        if c.startswith("n:"):
            noun, _, value = c[2:].partition("=")
            out.setdefault(noun, set()).add(value)
    return out


def cues_conflict(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two cue sets count the same thing differently ('three rockets' / 'ten rockets')."""
    counts_b = _counts(b)
    return any(
        noun in counts_b and not values & counts_b[noun] for noun, values in _counts(a).items()
    )


def weekdays_differ(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether both name weekdays in their leads and none in common (a soft sign of two events)."""
    wa, wb = _weekdays(a), _weekdays(b)
    return bool(wa and wb and not wa & wb)


@dataclass
class _Member:
    article_id: str
    counts: dict[str, float]
    cues: list[str]
    event_at: datetime | None
    vector: dict[str, float] | None = None


@dataclass
class _Story:
    story_id: str
    members: list[_Member] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None


class _Idf:
    def __init__(self, df: dict[str, int], n_docs: int) -> None:
        self.df = df
        self.n = n_docs
        self._cache: dict[str, float] = {}

    def __call__(self, term: str) -> float:
        value = self._cache.get(term)
        if value is None:
            value = self._cache[term] = math.log((self.n + 1) / (self.df.get(term, 0) + 0.5))
        return value

    def weights(self, counts: dict[str, float]) -> dict[str, float]:
        """TF-IDF weight of each term (not normalised, not damped)."""
        return {t: (1 + math.log(c)) * self(t) for t, c in counts.items() if c > 0}

    def vector(
        self, counts: dict[str, float], weights: dict[str, float] | None = None
    ) -> dict[str, float]:
        """Unit-length TF-IDF vector; terms no other document has are damped."""
        df = self.df
        w = weights if weights is not None else self.weights(counts)
        vec = {t: v * (1.0 if df.get(t, 0) > 1 else UNIQUE_WEIGHT) for t, v in w.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def top_terms(self, weights: dict[str, float], k: int, min_df: int = 1) -> list[str]:
        """The k terms of highest TF-IDF weight among those in at least min_df documents."""
        df = self.df
        terms = (t for t in weights if df.get(t, 0) >= min_df) if min_df > 1 else iter(weights)
        return heapq.nlargest(k, terms, key=lambda t: (weights[t], t))


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


def _event_at(article: StoredArticle) -> datetime | None:
    return article.published_at if article.date_source not in ("story", "unknown") else None


def assign_stories(
    con: Connection, pending: list[StoredArticle], decisions: list[DedupDecision]
) -> dict[str, str]:
    """Return story_id per pending article, creating and updating story rows as needed."""
    if not pending:
        return {}
    by_id = {d.article_id: d for d in decisions}
    originals = [a for a in pending if by_id[a.article_id].duplicate_of is None]
    feats = {a.article_id: term_counts(a.title, a.text) for a in originals}
    cues = {a.article_id: event_cues(a.title, a.text) for a in originals}

    # Document frequencies: stored ones plus this batch's originals.
    batch_df: Counter[str] = Counter()
    for counts in feats.values():
        batch_df.update(counts.keys())
    df: dict[str, int] = dict(batch_df)
    if batch_df:
        for term, n in execute(
            con,
            "SELECT term, sum(df) FROM core.term_df "
            "WHERE term IN (SELECT unnest($1::VARCHAR[])) GROUP BY term",
            [list(batch_df)],
        ).fetchall():
            df[term] = df.get(term, 0) + int(n)
    stored_n = execute(con, "SELECT count(*) FROM core.story_features").fetchone()
    idf = _Idf(df, (int(stored_n[0]) if stored_n else 0) + len(originals))

    # Stories this article re-pointed from (it was found to predate their origin).
    adopted: dict[str, str] = {}
    ids = [a.article_id for a in originals]
    for new_origin, story_id in execute(
        con,
        "SELECT duplicate_of, any_value(story_id) FROM core.articles "
        "WHERE duplicate_of IN (SELECT unnest($1::VARCHAR[])) AND story_id IS NOT NULL "
        "GROUP BY duplicate_of",
        [ids],
    ).fetchall():
        adopted[new_origin] = story_id

    weights = {aid: idf.weights(counts) for aid, counts in feats.items()}
    query_terms = {aid: idf.top_terms(w, QUERY_TERMS, min_df=2) for aid, w in weights.items()}
    stories, cand_of = _load_candidates(con, originals, query_terms)
    members = []
    for article in originals:
        aid = article.article_id
        member = _Member(aid, dict(feats[aid]), cues[aid], _event_at(article))
        member.vector = idf.vector(member.counts, weights[aid])
        members.append(member)
    groups = _cluster(members, stories, cand_of, idf, adopted, query_terms)
    assigned: dict[str, str] = {}
    new_rows: list[tuple[object, ...]] = []
    now = utcnow()
    for group in groups:
        story_id = group.story_id
        if story_id is None:
            first = group.members[0].article_id
            story_id = make_id("story:" + first)
            new_rows.append((story_id, first, now, now))
        for member in group.members:
            if member.article_id in feats:
                assigned[member.article_id] = story_id
    insert_rows(
        con,
        "core.stories",
        ["story_id", "representative_article_id", "created_at", "updated_at"],
        new_rows,
        on_conflict="ON CONFLICT DO NOTHING",
    )

    # Copies join their origin's story.
    targets = sorted(
        {d.duplicate_of for d in decisions if d.duplicate_of and d.duplicate_of not in assigned}
    )
    if targets:
        for article_id, story_id in execute(
            con,
            "SELECT article_id, story_id FROM core.articles "
            "WHERE article_id IN (SELECT unnest($1::VARCHAR[])) AND story_id IS NOT NULL",
            [targets],
        ).fetchall():
            assigned[article_id] = story_id
    result: dict[str, str] = {}
    for article in pending:
        target = by_id[article.article_id].duplicate_of or article.article_id
        if target in assigned:
            result[article.article_id] = assigned[target]

    index_terms = {aid: idf.top_terms(w, INDEX_TERMS) for aid, w in weights.items()}
    _save(con, originals, feats, cues, index_terms, result, batch_df)
    _refresh_stories(con, result)
    log.info(
        "stories: %d articles, %d new stories, %d joined existing ones",
        len(pending),
        len(new_rows),
        len(originals) - len(new_rows),
    )
    return result


class _Group:
    """A cluster during batch clustering: pending articles, perhaps with a stored story."""

    def __init__(self, key: int, members: list[_Member], story: _Story | None = None) -> None:
        self.key = key
        self.members = list(members)
        self.story_id = story.story_id if story else None
        self.first_at = story.first_at if story else None
        self.last_at = story.last_at if story else None
        self.version = 0
        for m in members:
            self._add_date(m.event_at)
        self.cue_set = {c for m in members for c in m.cues}

    def _add_date(self, when: datetime | None) -> None:
        if when is None:
            return
        self.first_at = when if self.first_at is None else min(self.first_at, when)
        self.last_at = when if self.last_at is None else max(self.last_at, when)

    def absorb(self, other: _Group) -> None:
        if other.story_id is not None:
            self.story_id = other.story_id
        self.members.extend(other.members)
        self._add_date(other.first_at)
        self._add_date(other.last_at)
        self.cue_set |= other.cue_set
        self.version += 1

    def gap_days(self, other: _Group) -> float:
        if None in (self.first_at, self.last_at, other.first_at, other.last_at):
            return 0.0
        assert self.first_at and self.last_at and other.first_at and other.last_at
        if other.first_at > self.last_at:
            return (other.first_at - self.last_at).total_seconds() / 86400
        if self.first_at > other.last_at:
            return (self.first_at - other.last_at).total_seconds() / 86400
        return 0.0


def _linkage(a: _Group, b: _Group, idf: _Idf, cache: dict[tuple[str, str], float]) -> float:
    """Average cosine similarity between two groups, or 0 when time or cues rule a merge out."""
    if a.story_id is not None and b.story_id is not None:
        return 0.0  # two stored stories are never merged here
    if a.gap_days(b) > WINDOW_DAYS or cues_conflict(a.cue_set, b.cue_set):
        return 0.0
    total = 0.0
    for x in a.members:
        for y in b.members:
            key = (
                (x.article_id, y.article_id)
                if x.article_id < y.article_id
                else (y.article_id, x.article_id)
            )
            sim = cache.get(key)
            if sim is None:
                for m in (x, y):
                    if m.vector is None:
                        m.vector = idf.vector(m.counts)
                assert x.vector is not None and y.vector is not None
                sim = cache[key] = _cosine(x.vector, y.vector)
            total += sim
    score = total / (len(a.members) * len(b.members))
    if weekdays_differ(a.cue_set, b.cue_set):
        score *= WEEKDAY_PENALTY
    return score


def _cluster(
    members: list[_Member],
    stories: dict[str, _Story],
    cand_of: dict[str, list[str]],
    idf: _Idf,
    adopted: dict[str, str],
    query_terms: dict[str, list[str]],
) -> list[_Group]:
    """Average-linkage clustering of the batch, stored candidate stories as fixed seeds."""
    groups: dict[int, _Group] = {}
    owner: dict[str, int] = {}  # article id / story id -> group key
    for i, member in enumerate(members):
        groups[i] = _Group(i, [member])
        owner[member.article_id] = i
    for sid, story in stories.items():
        key = len(groups)
        groups[key] = _Group(key, story.members, story)
        owner[sid] = key
    # Articles found to predate a stored story's origin take that story.
    for member in members:
        taken = adopted.get(member.article_id)
        if taken is None:
            continue
        if taken not in owner:
            key = len(groups)
            groups[key] = _Group(key, [], _Story(taken))
            owner[taken] = key
        target, mine = groups[owner[taken]], groups[owner[member.article_id]]
        target.absorb(mine)
        del groups[mine.key]
        owner[member.article_id] = target.key

    neighbours: dict[int, set[int]] = {k: set() for k in groups}
    postings: dict[str, list[int]] = {}
    for i, member in enumerate(members):
        for term in query_terms[member.article_id]:
            postings.setdefault(term, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in postings.values():
        if len(ids) > MAX_POSTING:
            continue  # a term this common says nothing about the event
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                shared[(ids[x], ids[y])] += 1
    for (x, y), n in shared.items():
        if n >= MIN_SHARED_TERMS:
            gx, gy = owner[members[x].article_id], owner[members[y].article_id]
            if gx != gy:
                neighbours[gx].add(gy)
                neighbours[gy].add(gx)
    for aid, sids in cand_of.items():
        ka = owner.get(aid)
        for sid in sids:
            ks = owner.get(sid)
            if ka is not None and ks is not None and ka != ks:
                neighbours[ka].add(ks)
                neighbours[ks].add(ka)

    cache: dict[tuple[str, str], float] = {}
    heap: list[tuple[float, int, int, int, int]] = []
    for a, ns in neighbours.items():
        for b in ns:
            if a < b and a in groups and b in groups:
                score = _linkage(groups[a], groups[b], idf, cache)
                if score >= JOIN_THRESHOLD:
                    heapq.heappush(heap, (-score, a, b, groups[a].version, groups[b].version))
    while heap:
        neg, a, b, va, vb = heapq.heappop(heap)
        ga, gb = groups.get(a), groups.get(b)
        if ga is None or gb is None or ga.version != va or gb.version != vb:
            continue
        log.debug("merge %s + %s at %.3f", ga.members[0].article_id, gb.members[0].article_id, -neg)
        ga.absorb(gb)
        del groups[b]
        merged = (neighbours.pop(b, set()) | neighbours[a]) - {a, b}
        neighbours[a] = merged
        for n in merged:
            neighbours[n].discard(b)
            neighbours[n].add(a)
            gn = groups.get(n)
            if gn is None:
                continue
            score = _linkage(ga, gn, idf, cache)
            if score >= JOIN_THRESHOLD:
                x, y = (a, n) if a < n else (n, a)
                heapq.heappush(heap, (-score, x, y, groups[x].version, groups[y].version))
    order = {m.article_id: i for i, m in enumerate(members)}
    out = [g for g in groups.values() if any(m.article_id in order for m in g.members)]
    for g in out:
        g.members.sort(key=lambda m: order.get(m.article_id, -1))
    return out


def _load_candidates(
    con: Connection,
    originals: list[StoredArticle],
    query_terms: dict[str, list[str]],
) -> tuple[dict[str, _Story], dict[str, list[str]]]:
    """Stored stories that share distinctive terms with a pending article and are in its window."""
    qid: list[str] = []
    qterm: list[str] = []
    qat: list[datetime | None] = []
    for article in originals:
        when = _event_at(article)
        for term in query_terms[article.article_id]:
            qid.append(article.article_id)
            qterm.append(term)
            qat.append(when)
    out: dict[str, _Story] = {}
    cand_of: dict[str, list[str]] = {}
    if not qid:
        return out, cand_of
    execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _sq AS SELECT unnest($1::VARCHAR[]) AS qid, "
        "unnest($2::VARCHAR[]) AS term, unnest($3::TIMESTAMP[]) AS at",
        [qid, qterm, qat],
    )
    rows = execute(
        con,
        f"""
        WITH hits AS (
            SELECT q.qid, f.story_id, count(DISTINCT q.term) AS shared, any_value(q.at) AS at
            FROM _sq q
            JOIN core.story_terms t ON t.term = q.term
            JOIN core.story_features f ON f.article_id = t.article_id
            GROUP BY q.qid, f.story_id
            HAVING count(DISTINCT q.term) >= {MIN_SHARED_TERMS}
        ), windowed AS (
            SELECT h.qid, h.story_id, h.shared,
                   row_number() OVER (PARTITION BY h.qid ORDER BY h.shared DESC) AS rk
            FROM hits h LEFT JOIN core.story_spans s USING (story_id)
            WHERE h.at IS NULL OR s.first_at IS NULL
               OR h.at BETWEEN s.first_at - INTERVAL {WINDOW_DAYS} DAY
                           AND s.last_at + INTERVAL {WINDOW_DAYS} DAY
        )
        SELECT qid, story_id FROM windowed WHERE rk <= {MAX_CANDIDATE_STORIES}
        """,
    ).fetchall()
    execute(con, "DROP TABLE _sq")
    for q, sid in rows:
        cand_of.setdefault(q, []).append(sid)
    story_ids = sorted({sid for _, sid in rows})
    if not story_ids:
        return out, cand_of
    for sid, article_id, event_at, vector, member_cues, first_at, last_at in execute(
        con,
        "SELECT f.story_id, f.article_id, f.event_at, f.vector, f.cues, "
        "s.first_at, s.last_at FROM core.story_features f "
        "LEFT JOIN core.story_spans s USING (story_id) "
        "WHERE f.story_id IN (SELECT unnest($1::VARCHAR[]))",
        [story_ids],
    ).fetchall():
        story = out.get(sid)
        if story is None:
            story = out[sid] = _Story(sid, first_at=first_at, last_at=last_at)
        story.members.append(
            _Member(article_id, decode_counts(vector), list(member_cues), event_at)
        )
    return out, cand_of


def _save(
    con: Connection,
    originals: list[StoredArticle],
    feats: dict[str, dict[str, float]],
    cues: dict[str, list[str]],
    index_terms: dict[str, list[str]],
    story_of: dict[str, str],
    batch_df: Counter[str],
) -> None:
    """Persist features, the inverted index of distinctive terms, and document frequencies."""
    rows = []
    term_rows: list[tuple[str, str]] = []
    for article in originals:
        aid = article.article_id
        if aid not in story_of:
            continue
        counts = feats[aid]
        rows.append(
            (
                aid,
                story_of[aid],
                _event_at(article),
                encode_counts(counts),
                cues[aid],
            )
        )
        term_rows.extend((t, aid) for t in index_terms[aid])
    ids = [r[0] for r in rows]
    redo = [
        r[0]
        for r in execute(
            con,
            "SELECT article_id FROM core.story_features "
            "WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [ids],
        ).fetchall()
    ]
    if redo:  # articles processed again (rare): replace their rows
        for table in ("story_features", "story_terms"):
            execute(
                con,
                f"DELETE FROM core.{table} WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
                [redo],
            )
    insert_rows(
        con,
        "core.story_features",
        ["article_id", "story_id", "event_at", "vector", "cues"],
        rows,
    )
    insert_rows(con, "core.story_terms", ["term", "article_id"], term_rows)
    # Append-only: one row per term and batch, summed when read (no index to maintain).
    insert_rows(con, "core.term_df", ["term", "df"], list(batch_df.items()))


def _refresh_stories(con: Connection, story_of: dict[str, str]) -> None:
    """Write story ids, then recompute spans and representatives of the touched stories."""
    if not story_of:
        return
    execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _st AS SELECT unnest($1::VARCHAR[]) AS article_id, "
        "unnest($2::VARCHAR[]) AS story_id",
        [list(story_of), list(story_of.values())],
    )
    execute(
        con,
        "UPDATE core.articles a SET story_id = s.story_id FROM _st s "
        "WHERE a.article_id = s.article_id",
    )
    touched = sorted(set(story_of.values()))
    execute(
        con,
        """
        INSERT INTO core.story_spans
        SELECT story_id, min(published_at), max(published_at) FROM core.articles
        WHERE story_id IN (SELECT unnest($1::VARCHAR[])) AND date_source NOT IN ('story', 'unknown')
        GROUP BY story_id
        ON CONFLICT (story_id) DO UPDATE SET first_at = excluded.first_at,
            last_at = excluded.last_at
        """,
        [touched],
    )
    execute(
        con,
        """
        UPDATE core.stories s SET representative_article_id = r.article_id, updated_at = $2
        FROM (
            SELECT story_id, arg_min(article_id, (
                title IS NULL, duplicate_of IS NOT NULL, published_at IS NULL,
                coalesce(published_at, first_seen_at), article_id)) AS article_id
            FROM core.articles WHERE story_id IN (SELECT unnest($1::VARCHAR[]))
            GROUP BY story_id
        ) r
        WHERE s.story_id = r.story_id
        """,
        [touched, utcnow()],
    )
    execute(con, "DROP TABLE _st")
