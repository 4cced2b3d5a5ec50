"""The language is read from the text: a page's declaration is a hint, never the answer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from monitor.evaluate import ingest_labelled, read_eval_dir
from monitor.evaluate.labelled import LabelledArticle
from monitor.language import detect_language
from monitor.settings import Settings

# Written for these tests (not from any page): Persian, the same typed with Arabic letters (ي ك),
# Urdu, and short Arabic.
PERSIAN = (
    "مجلس عراق روز یکشنبه طرحی را تصویب کرد که دولت را به اخراج نیروهای آمریکایی از این کشور "
    "ملزم می‌کند. این تصمیم پس از ترور فرمانده سپاه قدس در فرودگاه بغداد گرفته شد و سخنگوی "
    "وزارت امور خارجه گفت حضور نظامیان بیگانه عامل اصلی ناامنی در منطقه است."
)
PERSIAN_ARABIC_LETTERS = (
    "مجلس عراق روز يكشنبه طرحي را تصويب كرد كه دولت را به اخراج نيروهاي آمريكايي از اين كشور "
    "ملزم مي كند و گروه هاي مقاومت مسئوليت حمله به پايگاه را بر عهده گرفتند."
)
URDU = (
    "عراقی پارلیمنٹ نے اتوار کے روز ایک قرارداد منظور کی جس میں حکومت سے مطالبہ کیا گیا ہے کہ "
    "وہ امریکی فوجیوں کو ملک سے نکالے۔"
)
ARABIC = "صوت البرلمان العراقي على قرار يلزم الحكومة بإنهاء وجود القوات الأجنبية في البلاد."
ENGLISH = "Iraq's parliament voted on Sunday to expel US troops from the country."
NAVIGATION = "Home | News | Politics | World | Sports | Contact us | Privacy Policy | Subscribe"


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        (PERSIAN, None, "fa"),
        (PERSIAN, "ar", "fa"),
        (PERSIAN_ARABIC_LETTERS, None, "fa"),
        (URDU, "ar", "ur"),
        (ARABIC, "en", "ar"),
        (ENGLISH, "ar", "en"),
        (f"{NAVIGATION}\n{ARABIC}\n{ARABIC}\n{NAVIGATION}", "en", "ar"),
        (f"{ENGLISH}\n{ENGLISH}\n{ARABIC}", "ar", "en"),
    ],
)
def test_the_text_decides_the_language_whatever_the_page_declares(
    text: str, declared: str | None, expected: str
) -> None:
    assert detect_language(text, None, declared) == expected


def test_a_text_without_letters_keeps_the_declared_language_or_none() -> None:
    assert detect_language("2020 — 12:40 | 5,000", None, "ar-IQ") == "ar"
    assert detect_language("2020 — 12:40 | 5,000", None, None) is None
    # Control characters and lone surrogates, which CLD2 refuses, are skipped, not fatal.
    assert detect_language("\x00\x01" + ENGLISH + "\ud800", None, None) == "en"


def _stored_languages(db: Path) -> dict[str, str | None]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT url, language FROM articles").fetchall()
    finally:
        con.close()
    return {url.rsplit("/", 1)[-1].removesuffix(".html"): lang for url, lang in rows}


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return Settings.model_validate({"storage": {"db": str(tmp_path / "unused.duckdb")}})


@pytest.mark.parametrize(("folder", "declared", "expected"), [("eval-ar", "en", "ar")])
def test_every_arabic_page_declaring_english_is_stored_as_arabic(
    shared_data: Path, plain: Settings, tmp_path: Path, folder: str, declared: str, expected: str
) -> None:
    items = read_eval_dir(shared_data / folder)
    outcomes = ingest_labelled(items, plain, tmp_path, dating="undated", lang=declared)
    stored = _stored_languages(tmp_path / "undated.duckdb")
    assert len(stored) == sum(o.article_id is not None for o in outcomes) == len(items)
    wrong = {k: v for k, v in stored.items() if v != expected}
    assert not wrong


def test_english_pages_declaring_arabic_and_persian_declaring_nothing(
    shared_data: Path, plain: Settings, tmp_path: Path
) -> None:
    english = read_eval_dir(shared_data / "eval")[:40]
    ingest_labelled(english, plain, tmp_path / "en", dating="undated", lang="ar")
    stored = _stored_languages(tmp_path / "en" / "undated.duckdb")
    assert len(stored) == 40 and set(stored.values()) == {"en"}

    persian = [
        LabelledArticle(
            "fa1", "off-topic", "X", "https://fa.example.org/1", None, None, None, "", PERSIAN
        ),
        LabelledArticle(
            "fa2",
            "off-topic",
            "Y",
            "https://fa.example.org/2",
            None,
            None,
            None,
            "",
            PERSIAN_ARABIC_LETTERS + "\n" + PERSIAN_ARABIC_LETTERS,
        ),
    ]
    ingest_labelled(persian, plain, tmp_path / "fa", dating="undated", lang=None)
    assert _stored_languages(tmp_path / "fa" / "undated.duckdb") == {"fa1": "fa", "fa2": "fa"}


def test_a_sources_language_is_a_hint_the_text_overrules(
    shared_data: Path, plain: Settings, tmp_path: Path
) -> None:
    from monitor.evaluate import _eval_settings, site
    from monitor.pipeline import run_ingest

    english = read_eval_dir(shared_data / "eval")[:5]
    db = tmp_path / "hint.duckdb"
    with site.serve(english, dating="undated", lang=None) as feed_url:
        data = _eval_settings(plain, db, feed_url, len(english)).model_dump()
        data["sources"][0]["language"] = "ar"
        run_ingest(Settings.model_validate(data))
    assert set(_stored_languages(db).values()) == {"en"}


def test_a_bad_source_language_is_a_configuration_error(tmp_path: Path) -> None:
    from monitor.errors import ConfigError
    from monitor.settings import load_settings

    config = tmp_path / "monitor.toml"
    config.write_text(
        '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://example.org/rss"\n'
        'language = "arabic!"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="language"):
        load_settings(config)
    config.write_text(config.read_text().replace('"arabic!"', '"ar-IQ"'), encoding="utf-8")
    assert load_settings(config).sources[0].language == "ar-IQ"


def test_a_sources_language_reaches_its_links_as_their_hint() -> None:
    import asyncio

    from monitor.discovery import read_source
    from monitor.settings import SourceSettings

    src = SourceSettings(name="x", kind="url", url="https://example.org/a", language="ar")
    read = asyncio.run(read_source(None, src, {}))  # type: ignore[arg-type]  # url: no fetch
    assert [link.language for link in read.links] == ["ar"]
