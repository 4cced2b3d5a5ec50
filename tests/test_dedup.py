"""Deduplication through the real pipeline: store_articles + process_pending on a DuckDB file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from monitor import dedup, prepare
from monitor.models import Article, FetchRecord, StoredArticle, TextSignature
from monitor.pipeline import process_pending, store_articles
from monitor.prepare import Preparation, prepare_articles
from monitor.settings import Settings
from monitor.store import Store

WIRE_BODY = """\
BAGHDAD — Iraq's caretaker government and the U.S.-led coalition agreed on Thursday to set up a \
joint technical committee that will review the number of foreign advisers stationed at the Ain \
al-Asad and Harir air bases, officials from both sides said.

The committee, which will meet for the first time next month, is expected to draw up a schedule \
for handing over logistics warehouses and training ranges to the Iraqi Security Forces, according \
to a statement issued by the office of the commander-in-chief of the armed forces.

A coalition spokesman said the advisers would continue to support Iraqi units fighting remnants of \
Islamic State in the deserts of Anbar and in the Hamrin mountains while the talks went ahead, and \
that no date had been fixed for any reduction in the roughly 2,500 American troops in the country.

Several Shi'ite political blocs welcomed the announcement but said they would keep pressing for a \
binding timetable. A lawmaker from the Fatah alliance told reporters that parliament's 2020 \
resolution calling for the departure of foreign forces remained the benchmark for any agreement.

Kurdish officials in Erbil struck a more cautious tone, warning that a hasty departure could leave \
a security vacuum along the disputed territories between the Kurdistan Region and federal Iraq, \
where Islamic State cells still carry out night-time raids on villages and checkpoints.

Diplomats in Baghdad said the technical committee was designed to give both governments room to \
manoeuvre ahead of provincial elections, with each side able to present the process as a step \
toward its own goals without committing to a final number of troops.

The foreign ministry said further meetings would be held in Washington and Baghdad over the \
coming months, and that the outcome would be presented to the council of ministers for approval.
"""

TITLE = "Iraq and coalition set up committee to review foreign advisers at air bases"
WHEN = datetime(2024, 2, 8, 9, 30)


def _settings(db: Path) -> Settings:
    return Settings.model_validate({"storage": {"db": str(db)}})


def _ingest(db: Path, articles: list[Article], run: str = "r1") -> dict[str, tuple]:
    """Store and process articles; return url -> (article_id, duplicate_of, reason, story_id)."""
    store = Store(db)
    store.migrate()
    records = [FetchRecord(a.url, a.source, WHEN, "new") for a in articles]
    store_articles(store, run, prepare_articles(articles, Preparation()), records)
    process_pending(store, _settings(db))
    rows = store.query(
        "SELECT url, article_id, duplicate_of, duplicate_reason, story_id, similarity "
        "FROM core.articles"
    )
    return {r[0]: r[1:] for r in rows}


def _article(url: str, text: str = WIRE_BODY, **kw: object) -> Article:
    defaults: dict[str, object] = {"title": TITLE, "published_at": WHEN, "date_source": "metadata"}
    defaults.update(kw)
    return Article(url=url, source="test", text=text, **defaults)  # type: ignore[arg-type]


ORIGINAL_URL = "https://wire.example.org/world/iraq-coalition-committee-advisers"


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "monitor.duckdb"


def test_syndicated_copy_with_other_boilerplate_points_at_original(db: Path) -> None:
    boilerplate_top = "Advertisement\nSign up for our Middle East briefing, delivered daily.\n\n"
    boilerplate_bottom = (
        "\n(Reporting by our Baghdad bureau; editing by the world desk)\n"
        "Related: Ten things to know about the coalition. Follow us on social media. "
        "Copyright 2024 Daily Courier. All rights reserved."
    )
    rows = _ingest(
        db,
        [
            _article(ORIGINAL_URL, outlet="Wire"),
            _article(
                "https://dailycourier.example.com/news/2024/02/08/iraq-committee",
                boilerplate_top + WIRE_BODY + boilerplate_bottom,
                published_at=datetime(2024, 2, 8, 11, 0),
                outlet="Daily Courier",
            ),
        ],
    )
    original_id = rows[ORIGINAL_URL][0]
    copy = rows["https://dailycourier.example.com/news/2024/02/08/iraq-committee"]
    assert copy[1] == original_id
    assert copy[2] == "near"
    assert copy[3] == rows[ORIGINAL_URL][3]  # the copy joins the original's story


def test_headline_edit_is_a_near_copy(db: Path) -> None:
    edited = WIRE_BODY.replace("agreed on Thursday", "agreed late on Thursday", 1).replace(
        "officials from both sides said", "officials from both governments said", 1
    )
    rows = _ingest(
        db,
        [
            _article(ORIGINAL_URL),
            _article(
                ORIGINAL_URL + "-updated",
                edited,
                title="UPDATE 1-Iraq, U.S.-led coalition form panel on advisers' future",
                published_at=datetime(2024, 2, 8, 10, 15),
            ),
        ],
    )
    edit = rows[ORIGINAL_URL + "-updated"]
    assert edit[1] == rows[ORIGINAL_URL][0]
    assert edit[2] == "near"
    assert 0.5 <= edit[4] < 1.0


def test_utm_and_amp_variants_are_the_same_url(db: Path) -> None:
    utm = ORIGINAL_URL + "?utm_source=rss&utm_medium=feed&utm_campaign=world&fbclid=XYZ"
    amp = "https://amp.wire.example.org/world/iraq-coalition-committee-advisers/amp/"
    # The variants carry slightly different page text (AMP drops a paragraph), so only the
    # URL says they are one page.
    amp_text = WIRE_BODY.rsplit("\n\n", 2)[0]
    rows = _ingest(
        db, [_article(ORIGINAL_URL), _article(utm, WIRE_BODY + "\nShare"), _article(amp, amp_text)]
    )
    original_id = rows[ORIGINAL_URL][0]
    assert rows[utm][1:3] == (original_id, "url")
    assert rows[amp][1:3] == (original_id, "url")


def test_truncated_copy_points_at_full_original(db: Path) -> None:
    paragraphs = WIRE_BODY.split("\n\n")
    short = "\n\n".join(paragraphs[:3]) + "\n\nRead the full story on our partner's site."
    rows = _ingest(
        db,
        [
            _article(ORIGINAL_URL),
            _article(
                "https://aggregator.example.net/item/93311",
                short,
                title=None,
                published_at=datetime(2024, 2, 8, 12, 0),
            ),
        ],
    )
    truncated = rows["https://aggregator.example.net/item/93311"]
    assert truncated[1] == rows[ORIGINAL_URL][0]
    assert truncated[2] == "near"


def test_exact_text_copy_is_a_hash_duplicate_and_fetch_marked_duplicate(db: Path) -> None:
    other = "https://mirror.example.info/iraq-committee.html"
    rows = _ingest(db, [_article(ORIGINAL_URL), _article(other, WIRE_BODY.upper())])
    assert rows[other][1:3] == (rows[ORIGINAL_URL][0], "hash")
    outcomes = dict(Store(db).query("SELECT url, outcome FROM core.fetches"))
    assert outcomes == {ORIGINAL_URL: "new", other: "duplicate"}


def test_different_text_same_topic_is_not_a_duplicate(db: Path) -> None:
    other_text = (
        "Rockets struck near the Ain al-Asad air base in western Iraq on Thursday evening, "
        "security sources said, in the latest attack on a facility hosting American troops. "
        "Two rockets landed inside the perimeter and caused no casualties, a coalition official "
        "said, adding that an investigation was under way. No group claimed responsibility, "
        "but Iran-aligned factions have repeatedly threatened to target U.S. forces until they "
        "leave the country. The attack came hours after Iraqi and coalition officials announced "
        "a committee to review the number of advisers at the base."
    )
    rows = _ingest(db, [_article(ORIGINAL_URL), _article("https://b.example/rockets", other_text)])
    assert rows["https://b.example/rockets"][1] is None


def test_copy_published_earlier_than_its_stored_original_becomes_origin(db: Path) -> None:
    late = _article(ORIGINAL_URL, published_at=datetime(2024, 2, 8, 15, 0), outlet="Late Wire")
    _ingest(db, [late], run="r1")
    early_url = "https://first.example.com/iraq-committee"
    rows = _ingest(
        db,
        [_article(early_url, "Advertisement\n" + WIRE_BODY, outlet="First News")],
        run="r2",
    )
    early_id = rows[early_url][0]
    assert rows[early_url][1] is None
    assert rows[ORIGINAL_URL][1] == early_id  # the stored "original" now points at the origin
    assert rows[ORIGINAL_URL][3] == rows[early_url][3]
    origin = Store(db).query("SELECT origin_article_id, origin_outlet, also_in FROM story_outlets")
    assert origin == [(early_id, "First News", ["Late Wire"])]


def test_second_batch_hashes_only_new_articles_and_uses_stored_signatures(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _ingest(db, [_article(ORIGINAL_URL)], run="r1")
    stored = Store(db).query("SELECT signature FROM core.minhash")
    bands = Store(db).query("SELECT count(*) FROM core.lsh_bands")[0][0]
    assert len(stored) == 1 and bands == 2 * dedup.BANDS
    assert len(dedup.signature_values(stored[0][0])) == dedup.NUM_PERM

    hashed: list[str] = []
    real = dedup.sign

    def counting(texts: list[str]) -> list[TextSignature]:
        hashed.extend(texts)
        return real(texts)

    # Signatures are made once, when the article is prepared, and read back for processing.
    monkeypatch.setattr(dedup, "sign", counting)
    monkeypatch.setattr(prepare, "sign", counting)
    copy_url = "https://syndicator.example.com/iraq-committee"
    rows = _ingest(db, [_article(copy_url, "Advertisement\n\n" + WIRE_BODY)], run="r2")
    assert hashed == ["Advertisement\n\n" + WIRE_BODY]  # the stored original was not re-hashed
    assert rows[copy_url][1] == first[ORIGINAL_URL][0]
    assert (
        Store(db).query(
            "SELECT signature FROM core.minhash WHERE article_id = ?", [first[ORIGINAL_URL][0]]
        )
        == stored
    )


def test_near_copy_outside_time_window_is_not_linked(db: Path) -> None:
    rows = _ingest(
        db,
        [
            _article(ORIGINAL_URL),
            _article(
                "https://later.example.com/anniversary",
                "Advertisement\n" + WIRE_BODY,
                published_at=datetime(2024, 6, 1),
            ),
        ],
    )
    assert rows["https://later.example.com/anniversary"][1] is None


def _pending(url: str, text: str, when: datetime | None = WHEN) -> StoredArticle:
    return StoredArticle(
        article_id=url,
        url=url,
        canonical_url=url,
        source="t",
        outlet=None,
        title=None,
        text=text,
        published_at=when,
        date_source="metadata",
        content_hash=dedup.content_hash(text),
        first_seen_at=WHEN,
    )


def test_decisions_are_made_over_records_without_a_database() -> None:
    """dedup decides over what the store hands it: a stored origin found by LSH, a batch copy."""
    stored = dedup.Origin("stored-1", WHEN, WIRE_BODY)
    batch = [
        _pending("https://a.example/copy", "Advertisement\n" + WIRE_BODY),
        _pending(
            "https://b.example/other", WIRE_BODY.replace("committee", "panel") * 0 + TITLE * 9
        ),
        _pending("https://c.example/again", TITLE * 9),
    ]
    probes = dedup.probes(batch)
    known = dedup.Known(
        lsh_hits={"https://a.example/copy": [("stored-1", 40)]}, origins={"stored-1": stored}
    )
    result = dedup.find_duplicates(batch, probes, known)
    by_id = {d.article_id: d for d in result.decisions}
    assert by_id["https://a.example/copy"].duplicate_of == "stored-1"
    assert by_id["https://a.example/copy"].reason == "near"
    assert by_id["https://b.example/other"].duplicate_of is None
    assert by_id["https://c.example/again"].duplicate_of == "https://b.example/other"
    assert by_id["https://c.example/again"].reason == "hash"
    assert result.repoints == []


def test_an_earlier_copy_in_the_batch_repoints_the_stored_original() -> None:
    stored = dedup.Origin("stored-1", datetime(2024, 2, 9), WIRE_BODY)
    early = _pending("https://first.example/x", WIRE_BODY, datetime(2024, 2, 8))
    known = dedup.Known(by_hash={early.content_hash: "stored-1"}, origins={"stored-1": stored})
    result = dedup.find_duplicates([early], dedup.probes([early]), known)
    assert result.decisions[0].duplicate_of is None
    assert result.repoints == [dedup.Repoint("stored-1", early.article_id, "hash", 1.0)]


def _outcomes(db: Path) -> dict[str, str]:
    return dict(Store(db).query("SELECT url, outcome FROM fetches"))


@pytest.mark.parametrize("order", [("x", "y"), ("y", "x")])
def test_copies_published_together_the_first_seen_is_the_original(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    """Feed order breaks the tie, not the URL's hash; only the original's fetch says new."""
    db = tmp_path / "m.duckdb"
    urls = {"x": "https://x.example/copy", "y": "https://y.example/copy"}
    rows = _ingest(db, [_article(urls[k]) for k in order])
    first, second = (urls[k] for k in order)
    assert rows[first][1] is None and rows[second][1] == rows[first][0]
    assert _outcomes(db) == {first: "new", second: "duplicate"}


def test_the_earlier_published_copy_is_the_original_wherever_it_is_listed(db: Path) -> None:
    late = _article("https://late.example/a", published_at=datetime(2024, 2, 8, 18, 0))
    early = _article("https://early.example/a", published_at=datetime(2024, 2, 8, 7, 0))
    rows = _ingest(db, [late, early])
    assert rows[early.url][1] is None and rows[late.url][1] == rows[early.url][0]
    assert _outcomes(db) == {early.url: "new", late.url: "duplicate"}


def test_a_stored_original_that_turns_out_a_copy_gives_up_new(db: Path) -> None:
    late = _article("https://late.example/a", published_at=datetime(2024, 2, 8, 18, 0))
    _ingest(db, [late], run="r1")
    assert _outcomes(db) == {late.url: "new"}
    early = _article("https://early.example/a", published_at=datetime(2024, 2, 8, 7, 0))
    rows = _ingest(db, [early], run="r2")
    assert rows[late.url][1] == rows[early.url][0]
    assert _outcomes(db) == {early.url: "new", late.url: "duplicate"}
