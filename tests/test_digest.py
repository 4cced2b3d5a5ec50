"""Digest: content, formats, escaping and the `--since last` window, on real DuckDB files.

Two fixture databases:
- `pipeline_db`: the repository's seeds plus synthetic seed files (markup in titles, an exact
  copy of a seed, an off-topic article), ingested by the real pipeline. Expectations are
  computed from the database with SQL, so they hold whatever the classifier decides.
- `crafted_db`: articles, classifications, dedup decisions and stories written through the
  store's functions with chosen values, so story structure, stances, entities, quotes and
  figures are known exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.dedup import content_hash
from monitor.digest import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    DayCount,
    build_digest,
    md_escape,
    parse_since,
    record_digest,
    render_digest,
    safe_href,
    save_digest,
    timeline_chart,
    write_digest,
)
from monitor.digest.model import json_schema_text
from monitor.digest.schema import main as schema_main
from monitor.errors import ConfigError
from monitor.models import Article, Classification, DedupDecision, Entity, Figure, Quote, make_id
from monitor.pipeline import run_ingest
from monitor.settings import load_settings
from monitor.store import Store
from monitor.store import articles as stored
from monitor.store import reader as reader_store
from monitor.store import stories as story_store

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "monitor" / "digest" / "digest.schema.json"

# Payloads whose execution would leave a mark in the DOM (checked in the Chromium test too).
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=alert(2)>"
PWN_SCRIPT = "<script>document.body.setAttribute('data-pwned','1')</script>"
PWN_IMG = "<img src=x onerror=\"document.title='PWNED'\">"

_BODY = (
    "Iraqi lawmakers met again on Tuesday to debate the presence of US troops in Iraq, "
    "two years after parliament voted to expel foreign forces. The prime minister told "
    "them that the coalition troops in Iraq would leave under a timetable agreed in talks. "
    "Several blocs said the troops should go at once, while Kurdish members warned that "
    "the military coalition still helps Iraq against the remnants of Islamic State."
)
# A different report for the second markup seed: with the same body it would be a near-duplicate
# of the first (MinHash dedup) and its title folded under the other's story.
_BODY_2 = (
    "Officials from Baghdad and Washington opened a new round of talks on Thursday about the "
    "drawdown of the US-led coalition, according to the foreign ministry. Negotiators discussed "
    "a schedule for handing over bases and warehouses, and the spokesman said advisers would stay "
    "in Erbil for training while the technical committees finish their review of troop numbers."
)
SYNTHETIC_SEEDS = {
    "900_markup.txt": f"Iraq troops vote {SCRIPT_PAYLOAD} and {IMG_PAYLOAD} reaction\n\n"
    f"{_BODY}\n\nA note in the text: {SCRIPT_PAYLOAD} {IMG_PAYLOAD}\n",
    "901_pwn.txt": f"Drawdown talks {PWN_SCRIPT} {PWN_IMG} in Baghdad\n\n"
    f"{_BODY_2} Officials said US troops in Iraq will number fewer next year. {PWN_IMG}\n",
    "902_offtopic.txt": "Local football club wins the regional cup after extra time\n\n"
    + "The home side scored twice in the second half and the crowd celebrated late into "
    "the night, while the coach praised the young defenders for their discipline and the "
    "goalkeeper for two saves in the final minutes of a tense match at the old stadium.\n",
}


def build_pipeline_db(tmp_path: Path, more: Mapping[str, str] | None = None) -> Store:
    """Ingest the repo's seeds plus synthetic ones (and `more`, name -> text) with the real
    pipeline; return the store."""
    extra = tmp_path / "extra-seeds"
    extra.mkdir()
    seeds = {**SYNTHETIC_SEEDS, **(more or {})}
    for name, text in seeds.items():
        (extra / name).write_text(text, encoding="utf-8")
    # An exact copy of a seed under another name: the pipeline marks it a duplicate.
    seed_004 = next((REPO / "seeds").glob("004_*.txt"))
    (extra / "903_copy_of_004.txt").write_bytes(seed_004.read_bytes())
    settings = load_settings(db=tmp_path / "m.duckdb", seeds=[REPO / "seeds", extra])
    summary = run_ingest(settings, fetch=False)
    repo_seeds = list((REPO / "seeds").glob("*.txt"))  # outlets.toml is not a seed
    assert summary.articles_new == len(repo_seeds) + len(seeds) + 1
    return Store(settings.storage.db)


@pytest.fixture
def pipeline_db(tmp_path: Path) -> Store:
    return build_pipeline_db(tmp_path)


# ----------------------------------------------------------------------------- crafted DB

T0 = datetime(2026, 1, 1, 8, 0, 0)
STORY_1, STORY_2, STORY_3, STORY_4 = "s1", "s2", "s3", "s4"

# Crafted articles by short name; an article's id is derived from its URL, as for every article.
URLS = {
    "a1": "https://reuters.example/a1",
    "a2": "https://apnews.example/a2",
    "a3": "https://aljazeera.example/a3",
    "a4": "https://www.kurdistan24.example/a4",
    "a5": "https://bbc.example/a5",
    "b1": "https://espn.example/b1",
    "c1": "https://rt.example/c1",
    "c2": "javascript:alert(1)",
    "d1": "https://bbc.example/d1",
}
ID = {name: make_id(url) for name, url in URLS.items()}

SUDANI_QUOTE = (
    "The mission of the international coalition in Iraq has ended and a timetable "
    "for the departure of its forces is now being drawn up."
)
# What the classifier found in some of the articles: actors, quotes, figures.
EXTRAS: dict[str, dict[str, tuple[Any, ...]]] = {
    "a1": {
        "entities": (
            Entity("Mohammed Shia al-Sudani", "person", 3),
            Entity("Baghdad", "place", 9),
            Entity("Pentagon", "organization", 2),
        ),
        "quotes": (Quote(SUDANI_QUOTE, "Mohammed Shia al-Sudani"),),
        "figures": (Figure(2500.0, "troops", "About 2,500 US troops remain in Iraq."),),
    },
    "a2": {"quotes": (Quote(SUDANI_QUOTE, "Mohammed Shia al-Sudani"),)},
    "a3": {
        "entities": (
            Entity("Mohammed Shia al-Sudani", "person", 1),
            Entity("Kataib Hezbollah", "group", 4),
        ),
        "quotes": (
            Quote("too short", None),
            Quote(
                "We have no plans to withdraw our forces from Iraq at this time, he said.",
                "Pentagon spokesman",
            ),
        ),
        "figures": (
            Figure(2500.0, "troops", "The 2,500 American troops in Iraq ..."),
            Figure(86.0, "lawmakers", "86 lawmakers signed the request."),
            Figure(1.0, "rockets", "A rocket fell near the embassy."),
        ),
    },
}


def _add_articles(store: Store, rows: list[dict[str, Any]], seen: datetime) -> None:
    """Store the rows as an ingest run would: the articles first seen at `seen`, their
    classification (with EXTRAS), their dedup decision and their story."""
    articles = []
    classifications = []
    for r in rows:
        text = r.get("text", "Some text about the story.")
        articles.append(
            Article(
                url=URLS[r["name"]],
                source="test",
                text=text,
                title=r.get("title"),
                outlet=r.get("outlet"),
                published_at=r.get("published"),
                date_source="metadata" if r.get("published") else "unknown",
                content_hash=content_hash(text),
            )
        )
        if r.get("relevant") is not None:
            extras = EXTRAS.get(r["name"], {})
            classifications.append(
                Classification(
                    article_id=ID[r["name"]],
                    relevant=r["relevant"],
                    relevance_score=0.9 if r["relevant"] else 0.1,
                    stance=r["stance"],
                    stance_score=0.8,
                    topics=tuple(r.get("topics", ())),
                    entities=extras.get("entities", ()),
                    quotes=extras.get("quotes", ()),
                    figures=extras.get("figures", ()),
                    version="test",
                )
            )
    decisions = [
        DedupDecision(ID[r["name"]], ID[r["dup"]], "near")
        if r.get("dup")
        else DedupDecision(ID[r["name"]], None)
        for r in rows
    ]
    story_of = {ID[r["name"]]: r["story"] for r in rows}
    with store.write() as con:
        stored.insert(con, "test", articles, seen)
        stored.write_classifications(con, classifications, seen)
        stored.write_decisions(con, decisions, story_of, seen)
        story_store.place(con, story_of, seen)


def build_crafted_db(tmp_path: Path) -> Store:
    """A small database with known stories; all first seen at T0."""
    store = Store(tmp_path / "crafted.duckdb")
    store.migrate()
    _add_articles(
        store,
        [
            # Story 1: origin a1 (Reuters), copied by AP (a2); Al Jazeera's own report a3
            # copied by Kurdistan24 (a4).
            dict(
                name="a1",
                outlet="Reuters",
                title="Iraq and US open talks on coalition exit",
                published=datetime(2024, 1, 10, 9),
                story=STORY_1,
                relevant=True,
                stance="against_withdrawal",
                topics=["talks"],
                text="Baghdad and Washington opened talks on Monday.",
            ),
            dict(
                name="a2",
                outlet="AP",
                title="Iraq and US open talks on coalition exit",
                published=datetime(2024, 1, 10, 12),
                story=STORY_1,
                dup="a1",
                relevant=True,
                stance="against_withdrawal",
                topics=["talks"],
            ),
            dict(
                name="a3",
                outlet="Al Jazeera",
                title="Talks on US troop exit begin",
                published=datetime(2024, 1, 11, 7),
                story=STORY_1,
                relevant=True,
                stance="for_withdrawal",
                topics=["talks", "drawdown"],
            ),
            dict(
                name="a4",
                outlet=None,
                title="Talks on US troop exit begin",
                published=datetime(2024, 1, 11, 9),
                story=STORY_1,
                dup="a3",
                relevant=True,
                stance="for_withdrawal",
                topics=["talks", "drawdown"],
            ),
            # Story 2: off topic.
            dict(
                name="b1",
                outlet="ESPN",
                title="Cup final",
                published=datetime(2024, 1, 12),
                story=STORY_2,
                relevant=False,
                stance="neutral",
            ),
            # Story 3: older, relevant; one report has a javascript: URL and a formula title.
            dict(
                name="c1",
                outlet="RT",
                title="Parliament votes to expel US troops",
                published=datetime(2020, 1, 5),
                story=STORY_3,
                relevant=True,
                stance="for_withdrawal",
                # The page's date printed above its text, as extracted pages often carry it.
                text="date 2020-01-05 Iraqi lawmakers voted on Sunday to expel US troops.",
            ),
            dict(
                name="c2",
                outlet="Evil",
                title='=HYPERLINK("http://evil.example","click")',
                published=datetime(2020, 1, 6),
                story=STORY_3,
                relevant=None,
                stance=None,
            ),
        ],
        seen=T0,
    )
    return store


@pytest.fixture
def crafted_db(tmp_path: Path) -> Store:
    return build_crafted_db(tmp_path)


def _story(digest_json: dict[str, Any], story_id: str) -> dict[str, Any]:
    return next(s for s in digest_json["stories"] if s["story_id"] == story_id)


def _json(store: Store, **kwargs: Any) -> dict[str, Any]:
    digest = build_digest(store, **kwargs)
    return json.loads(render_digest(digest, "json"))


# ----------------------------------------------------------------------------- pipeline DB


def _relevant_story_articles(store: Store) -> set[str]:
    rows = store.query(
        "SELECT article_id FROM articles WHERE story_id IN "
        "(SELECT story_id FROM articles GROUP BY story_id "
        "HAVING bool_or(coalesce(relevant, false)))"
    )
    return {r[0] for r in rows}


def test_json_lists_every_article_of_relevant_stories_and_matches_schema(
    pipeline_db: Store,
) -> None:
    data = _json(pipeline_db, since=None)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert data["schema_version"] == SCHEMA_VERSION
    listed = [a["article_id"] for s in data["stories"] for a in s["articles"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == _relevant_story_articles(pipeline_db)
    assert all(s["relevant"] for s in data["stories"])
    offtopic = pipeline_db.query("SELECT article_id FROM articles WHERE url = 'seed:902_offtopic'")
    assert offtopic[0][0] not in listed


def test_include_all_lists_every_stored_article(pipeline_db: Store) -> None:
    data = _json(pipeline_db, since=None, include_all=True)
    listed = {a["article_id"] for s in data["stories"] for a in s["articles"]}
    assert listed == {r[0] for r in pipeline_db.query("SELECT article_id FROM articles")}
    assert data["overview"]["new_articles"] == len(listed)
    counts = Counter(a["stance"] for s in data["stories"] for a in s["articles"])
    assert data["overview"]["stance_totals"] == {
        k: counts.get(k, 0)
        for k in ("for_withdrawal", "against_withdrawal", "neutral", "unclassified")
    }


def test_exact_copy_is_folded_under_its_original(pipeline_db: Store) -> None:
    # Which of the two identical texts counts as the original is the dedup stage's call.
    pairs = pipeline_db.query(
        "SELECT article_id, duplicate_of FROM articles "
        "WHERE url = 'seed:903_copy_of_004' OR url LIKE 'seed:004_%' "
        "ORDER BY duplicate_of NULLS LAST"
    )
    copy_id, original_id = pairs[0]
    assert original_id == pairs[1][0], "the pipeline should mark one copy a duplicate of the other"
    data = _json(pipeline_db, since=None, include_all=True)
    story = next(
        s for s in data["stories"] if any(a["article_id"] == copy_id for a in s["articles"])
    )
    by_id = {a["article_id"]: a for a in story["articles"]}
    assert by_id[copy_id]["role"] == "duplicate"
    assert by_id[copy_id]["folded_under"] == original_id
    # The original is a report of its own (the story's origin is the earliest-dated report, 000,
    # since 004's only date is a photo caption's, and it takes none from its story).
    assert by_id[original_id]["role"] in ("origin", "report")
    assert by_id[original_id]["folded_under"] is None
    md = render_digest(build_digest(pipeline_db, since=None, include_all=True), "md")
    assert "also ran in:" in md


def test_stories_are_newest_first(pipeline_db: Store) -> None:
    data = _json(pipeline_db, since=None, include_all=True)
    keys = [s["last_published_at"] or s["last_seen_at"] for s in data["stories"]]
    assert keys == sorted(keys, reverse=True)


def test_csv_has_one_row_per_article(pipeline_db: Store) -> None:
    digest = build_digest(pipeline_db, since=None, include_all=True)
    rows = list(csv.DictReader(io.StringIO(render_digest(digest, "csv"))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    data = json.loads(render_digest(digest, "json"))
    expected = [(s["story_id"], a["article_id"]) for s in data["stories"] for a in s["articles"]]
    assert [(r["story_id"], r["article_id"]) for r in rows] == expected
    # CSV keeps the text exactly: it is data, escaping is the reader's business.
    assert [r for r in rows if SCRIPT_PAYLOAD in r["title"] and IMG_PAYLOAD in r["title"]]


def test_markdown_escapes_markup_and_lists_every_story(pipeline_db: Store) -> None:
    digest = build_digest(pipeline_db, since=None, include_all=True)
    md = render_digest(digest, "md")
    assert "<script" not in md and "<img" not in md
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    for story in digest.stories:
        assert md_escape(story.title) in md
    assert md.count("\n### ") == len(digest.stories) + 3  # + 3 overview sub-headings


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def _parse(html_text: str) -> _Tags:
    parser = _Tags()
    parser.feed(html_text)
    return parser


def test_html_shows_markup_in_titles_as_text(pipeline_db: Store) -> None:
    html_text = render_digest(build_digest(pipeline_db, since=None, include_all=True), "html")
    page = _parse(html_text)
    names = {t for t, _ in page.tags}
    assert not names & {"script", "img", "iframe", "object", "embed"}
    assert not [(t, a) for t, attrs in page.tags for a in attrs if a.startswith("on")]
    text = "".join(page.text)
    for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD, PWN_SCRIPT, PWN_IMG):
        assert payload in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text


def test_html_is_one_self_contained_page(pipeline_db: Store) -> None:
    html_text = render_digest(build_digest(pipeline_db, since=None, include_all=True), "html")
    page = _parse(html_text)
    for tag, attrs in page.tags:
        assert tag not in {"link", "script", "img", "iframe", "source", "video", "audio"}
        for name in ("src", "srcset", "data", "poster", "background"):
            assert name not in attrs, (tag, attrs)
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith(("#", "http://", "https://")), href
    assert "url(" not in page.style and "@import" not in page.style
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)
    assert any(t == "svg" for t, _ in page.tags), "the timeline is drawn as inline SVG"


def test_since_last_twice_gives_empty_second_digest(pipeline_db: Store, tmp_path: Path) -> None:
    first = write_digest(pipeline_db, since="last", fmt="json", out=tmp_path / "d1.json")
    assert first.digest.stories and first.path is not None and first.path.exists()
    second = write_digest(pipeline_db, since="last", fmt="json", out=tmp_path / "d2.json")
    assert second.digest.stories == ()
    data = json.loads((tmp_path / "d2.json").read_text(encoding="utf-8"))
    assert data["stories"] == [] and data["overview"]["new_articles"] == 0
    assert data["since"] == json.loads(first.text)["generated_at"]
    recorded = pipeline_db.query(
        "SELECT digest_id, format, path FROM core.digests ORDER BY generated_at"
    )
    assert [r[0] for r in recorded] == [first.digest_id, second.digest_id]
    assert recorded[0][2] == str(tmp_path / "d1.json")
    for fmt in ("md", "html"):
        assert "Nothing new" in render_digest(second.digest, fmt)  # type: ignore[arg-type]


def test_write_digest_without_out_returns_text_and_still_records(pipeline_db: Store) -> None:
    result = write_digest(pipeline_db, since=None, fmt="md", out=None)
    assert result.path is None and result.text.startswith("# Iraq troop monitor digest")
    assert pipeline_db.query("SELECT format, path FROM core.digests") == [("md", None)]


# ----------------------------------------------------------------------------- crafted DB


def test_story_summary_has_outlets_origin_first_and_folded_reports(crafted_db: Store) -> None:
    s1 = _story(_json(crafted_db, since=None, now=T0), STORY_1)
    assert s1["origin_article_id"] == ID["a1"]
    assert s1["outlets"] == ["Reuters", "AP", "Al Jazeera", "kurdistan24.example"]
    assert s1["first_published_at"] == "2024-01-10T09:00:00Z"
    assert s1["last_published_at"] == "2024-01-11T09:00:00Z"
    assert [(a["article_id"], a["role"], a["folded_under"]) for a in s1["articles"]] == [
        (ID["a1"], "origin", None),
        (ID["a2"], "duplicate", ID["a1"]),
        (ID["a3"], "report", None),
        (ID["a4"], "duplicate", ID["a3"]),
    ]
    digest = build_digest(crafted_db, since=None, now=T0)
    story = next(s for s in digest.stories if s.story_id == STORY_1)
    assert [r.article_id for r in story.reports] == [ID["a1"], ID["a3"]]
    assert [r.outlet for r in story.reports[1].also_ran] == ["kurdistan24.example"]


def test_story_summary_has_stance_mix_actors_quotes_and_figures(crafted_db: Store) -> None:
    s1 = _story(_json(crafted_db, since=None, now=T0), STORY_1)
    assert s1["stance_mix"] == {
        "for_withdrawal": 2,
        "against_withdrawal": 2,
        "neutral": 0,
        "unclassified": 0,
    }
    assert s1["event_types"] == [
        {"type": "talks", "articles": 4},
        {"type": "drawdown", "articles": 2},
    ]
    actors = [(a["name"], a["articles"], a["mentions"]) for a in s1["key_actors"]]
    assert actors[0] == ("Mohammed Shia al-Sudani", 2, 4)
    assert "Baghdad" not in [a[0] for a in actors]  # a place is not an actor
    assert {a[0] for a in actors} == {"Mohammed Shia al-Sudani", "Pentagon", "Kataib Hezbollah"}
    assert [q["speaker"] for q in s1["quotes"]] == ["Mohammed Shia al-Sudani", "Pentagon spokesman"]
    assert s1["figures"][0] == {
        "value": 2500.0,
        "what": "troops",
        "sentence": "About 2,500 US troops remain in Iraq.",
        "articles": 2,
    }
    html_text = render_digest(build_digest(crafted_db, since=None, now=T0), "html")
    assert "Pentagon spokesman" in html_text and "2,500" in html_text
    # One of a thing is said in the singular; the JSON keeps the kind as it is.
    assert {"value": 1.0, "what": "rockets"}.items() <= s1["figures"][-1].items()
    md_text = render_digest(build_digest(crafted_db, since=None, now=T0), "md")
    assert "2,500 troops; 86 lawmakers; 1 rocket" in md_text
    assert "<b>1</b> rocket<" in html_text and "1 rockets" not in html_text


def test_story_lead_leaves_out_the_date_printed_above_the_text(crafted_db: Store) -> None:
    # The digest, the reader's story page (both the digest's lead) and the Atom feed's summary.
    lead = _story(_json(crafted_db, since=None), STORY_3)["lead"]
    assert lead == "Iraqi lawmakers voted on Sunday to expel US troops."
    with crafted_db.read() as con:
        summary, _ = reader_store.leads(con, [STORY_3])[STORY_3]
    assert summary == lead
    # A lead without a printed date keeps its first words.
    assert _story(_json(crafted_db, since=None), STORY_1)["lead"].startswith("Baghdad and")


def test_relevant_only_by_default_and_everything_with_include_all(crafted_db: Store) -> None:
    default = _json(crafted_db, since=None, now=T0)
    assert [s["story_id"] for s in default["stories"]] == [STORY_1, STORY_3]
    everything = _json(crafted_db, since=None, now=T0, include_all=True)
    assert [s["story_id"] for s in everything["stories"]] == [STORY_2, STORY_1, STORY_3]


def test_since_last_reports_new_and_grown_stories(crafted_db: Store) -> None:
    first = build_digest(crafted_db, since="last", now=T0 + timedelta(hours=1))
    assert first.since is None and len(first.stories) == 2
    record_digest(crafted_db, first, fmt="json", path=None)
    later = T0 + timedelta(hours=2)
    _add_articles(
        crafted_db,
        [
            dict(
                name="a5",
                outlet="BBC",
                title="Talks continue",
                published=datetime(2024, 1, 12),
                story=STORY_1,
                relevant=True,
                stance="neutral",
            ),
            dict(
                name="d1",
                outlet="BBC",
                title="New base attack",
                published=datetime(2024, 1, 13),
                story=STORY_4,
                relevant=True,
                stance="neutral",
            ),
        ],
        seen=later,
    )
    second = build_digest(crafted_db, since="last", now=T0 + timedelta(hours=3))
    data = json.loads(render_digest(second, "json"))
    assert data["since"] == "2026-01-01T09:00:00Z"
    assert [s["story_id"] for s in data["stories"]] == [STORY_4, STORY_1]
    changes = data["overview"]["changes"]
    assert changes["previous_digest"]["digest_id"] == first.digest_id
    assert [s["story_id"] for s in changes["new_stories"]] == [STORY_4]
    assert changes["grown_stories"] == [
        {
            "story_id": STORY_1,
            "title": "Iraq and US open talks on coalition exit",
            "new_articles": 1,
        }
    ]
    s1 = _story(data, STORY_1)
    assert s1["status"] == "grew" and s1["article_count"] == 5 and s1["new_article_count"] == 1
    assert [a["article_id"] for a in s1["articles"] if a["is_new"]] == [ID["a5"]]
    assert data["overview"]["new_articles"] == 2 and data["overview"]["articles"] == 6
    assert data["overview"]["stance_by_outlet"] == [
        {
            "outlet": "BBC",
            "for_withdrawal": 0,
            "against_withdrawal": 0,
            "neutral": 2,
            "unclassified": 0,
            "total": 2,
        }
    ]
    md = render_digest(second, "md")
    assert "Stories that grew (1)" in md and "**(new)**" in md
    record_digest(crafted_db, second, fmt="json", path=None)
    third = build_digest(crafted_db, since="last", now=T0 + timedelta(hours=4))
    assert third.stories == () and third.overview.new_articles == 0


def test_since_date_compares_first_seen(crafted_db: Store) -> None:
    assert _json(crafted_db, since=T0 - timedelta(seconds=1), now=T0)["overview"]["stories"] == 2
    assert _json(crafted_db, since=T0, now=T0)["stories"] == []


def test_overview_timeline_counts_new_articles_per_day_by_stance(crafted_db: Store) -> None:
    data = _json(crafted_db, since=None, now=T0)
    rows = crafted_db.query(
        "SELECT strftime(coalesce(published_at, first_seen_at), '%Y-%m-%d') AS day, "
        "coalesce(stance, 'unclassified'), count(*) FROM articles "
        "WHERE story_id IN ('s1', 's3') GROUP BY ALL"
    )
    expected: dict[str, dict[str, int]] = {}
    for day, stance, n in rows:
        expected.setdefault(
            day, {"for_withdrawal": 0, "against_withdrawal": 0, "neutral": 0, "unclassified": 0}
        )[stance] = n
    assert {
        d["date"]: {k: d[k] for k in expected[d["date"]]} for d in data["overview"]["timeline"]
    } == expected
    assert [d["date"] for d in data["overview"]["timeline"]] == sorted(expected)


def test_unsafe_urls_are_never_links_and_csv_formulas_are_defused(crafted_db: Store) -> None:
    digest = build_digest(crafted_db, since=None, now=T0)
    html_text = render_digest(digest, "html")
    hrefs = [a.get("href") for t, a in _parse(html_text).tags if t == "a"]
    assert not [h for h in hrefs if h and "javascript" in h.lower()]
    assert "javascript:alert(1)" in html_text  # shown as text, so the reader sees it
    md = render_digest(digest, "md")
    assert "](javascript" not in md
    rows = list(csv.DictReader(io.StringIO(render_digest(digest, "csv"))))
    formula = next(r for r in rows if r["article_id"] == ID["c2"])
    assert formula["title"].startswith("'=HYPERLINK")


def test_record_digest_twice_in_two_formats_keeps_one_row(
    crafted_db: Store, tmp_path: Path
) -> None:
    digest = build_digest(crafted_db, since=None, now=T0)
    record_digest(crafted_db, digest, fmt="md", path=None)
    record_digest(crafted_db, digest, fmt="html", path=tmp_path / "d.html")
    assert crafted_db.query(
        "SELECT digest_id, format, path, stories, articles FROM core.digests"
    ) == [(digest.digest_id, "md,html", str(tmp_path / "d.html"), 2, 6)]


def test_empty_database_gives_empty_digest_in_every_format(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.duckdb")
    store.migrate()
    digest = build_digest(store, since="last")
    assert digest.is_empty and digest.since is None
    for fmt in ("md", "html", "json", "csv"):
        assert render_digest(digest, fmt)  # type: ignore[arg-type]
    assert render_digest(digest, "csv").strip() == ",".join(CSV_COLUMNS)


# ----------------------------------------------------------------------------- helpers


def test_parse_since_accepts_last_dates_and_rejects_junk() -> None:
    assert parse_since("last") == "last"
    assert parse_since(None) is None
    assert parse_since("2024-03-01") == datetime(2024, 3, 1)
    assert parse_since("2024-03-01T12:00:00+02:00") == datetime(2024, 3, 1, 10)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("yesterday-ish")


def test_md_escape_neutralises_links_emphasis_and_html() -> None:
    escaped = md_escape("[click](http://x) *bold* <b>x</b> &lt;")
    assert "<" not in escaped and "](" not in escaped and "\\*bold\\*" in escaped
    assert "&amp;lt;" in escaped


def test_safe_href_only_allows_http() -> None:
    assert safe_href("https://example.org/a b") == "https://example.org/a%20b"
    assert (
        safe_href('https://example.org/x"onmouseover=1') == "https://example.org/x%22onmouseover=1"
    )
    for bad in ("javascript:alert(1)", "data:text/html,x", "seed:001", "  JavaScript:x"):
        assert safe_href(bad) is None


def test_timeline_chart_bins_long_spans_and_keeps_every_article() -> None:
    days = [
        DayCount(
            datetime(2020, 1, 5).date(),
            {"for_withdrawal": 2, "against_withdrawal": 0, "neutral": 1, "unclassified": 0},
        ),
        DayCount(
            datetime(2024, 3, 18).date(),
            {"for_withdrawal": 0, "against_withdrawal": 1, "neutral": 0, "unclassified": 1},
        ),
    ]
    chart = timeline_chart(days)
    assert chart.unit == "month"
    assert sum(b.total for b in chart.bars) == 5
    assert len(chart.bars) == (2024 - 2020) * 12 + 3
    tallest = max(chart.bars, key=lambda b: b.total)
    assert round(sum(s.height for s in tallest.segments)) == chart.plot_height
    short = timeline_chart(days[:1])
    assert short.unit == "day" and len(short.bars) == 1


def test_packaged_json_schema_is_the_one_generated_from_the_models() -> None:
    # Regenerate with `python -m monitor.digest.schema --write` after changing a JSON model.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == json_schema_text()
    assert schema_main(["--check"]) == 0


def test_docs_carry_the_packaged_json_schema() -> None:
    docs = (REPO / "docs" / "digest.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- schema:start -->\s*```json\n(.*?)```\s*<!-- schema:end -->", docs, re.S
    )
    assert block, "docs/digest.md must embed the schema between schema markers"
    assert json.loads(block.group(1)) == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_one_digest_saved_in_two_formats_keeps_since_last_right(
    crafted_db: Store, tmp_path: Path
) -> None:
    digest = build_digest(crafted_db, since="last", now=T0)
    html_result = save_digest(crafted_db, digest, fmt="html", out=tmp_path / "d.html")
    md_result = save_digest(crafted_db, digest, fmt="md", out=None)
    assert html_result.digest_id == md_result.digest_id
    assert (tmp_path / "d.html").read_text(encoding="utf-8") == html_result.text
    assert crafted_db.query("SELECT format FROM core.digests") == [("html,md",)]
    assert build_digest(crafted_db, since="last", now=T0).stories == ()


def test_unknown_format_is_refused(crafted_db: Store) -> None:
    with pytest.raises(ConfigError, match="--format"):
        write_digest(crafted_db, since=None, fmt="pdf", out=None)  # type: ignore[arg-type]


def test_markdown_turned_into_email_html_keeps_markup_as_text(pipeline_db: Store) -> None:
    markdown = pytest.importorskip("markdown", reason="Apprise's Markdown-to-HTML library")
    md = render_digest(build_digest(pipeline_db, since=None, include_all=True), "md")
    page = _parse(markdown.markdown(md, extensions=["tables"]))
    assert not {t for t, _ in page.tags} & {"script", "img", "iframe"}
    assert SCRIPT_PAYLOAD in "".join(page.text) and IMG_PAYLOAD in "".join(page.text)
