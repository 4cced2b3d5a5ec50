"""Arabic handled as Arabic: folding, stems, numbers, dates, and the whole path from an Arabic
article to its classification, entities, quotes, figures and digest."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from monitor import arabic
from monitor.classify import classify
from monitor.classify.matching import segment
from monitor.digest import build_digest, render_digest
from monitor.pipeline import run_ingest
from monitor.settings import load_settings
from monitor.store import Store

# Written for these tests (no sentence of them comes from a labelled folder).
ARABIC_REPORT = (
    "البرلمان العراقي يصوت على إخراج القوات الأمريكية\n"
    "بغداد - صوّت مجلس النواب العراقي، يوم الأحد، على قرار يلزم الحكومة بإنهاء وجود القوات "
    "الأجنبية على الأراضي العراقية، بعد مقتل قاسم سليماني وأبو مهدي المهندس بغارة أمريكية قرب "
    "مطار بغداد الدولي.\n"
    "وقال رئيس الوزراء عادل عبد المهدي أمام النواب: «إن إخراج القوات الأجنبية هو الطريق الوحيد "
    "لحماية السيادة الوطنية».\n"
    "وأعلنت كتائب حزب الله أنها ستستهدف القواعد التي تضم خمسة آلاف جندي أمريكي في العراق، فيما "
    "سقطت ثلاثة صواريخ على قاعدة عين الأسد.\n"
    "وصوّت ١٧٠ نائباً لصالح القرار في 5 كانون الثاني 2020، الموافق 10 جمادى الأولى 1441 هـ."
)
ENGLISH_REPORT = (
    "Kataib Hezbollah threatens US troops after Iraqi parliament vote\n\n"
    "Kata'ib Hizballah, an Iran-backed militia, said on Monday that US troops at Ain al-Assad air "
    "base would be targeted unless they leave Iraq, a day after the Iraqi parliament voted to "
    "expel foreign forces. About 5,000 US troops remain in the country, and the Popular "
    "Mobilization Forces backed the call for their withdrawal."
)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("أمريكا إسرائيل آلاف ٱلله", "امريكا اسراييل الاف الله"),  # alef forms
        ("مستشفى على", "مستشفي علي"),  # alef maqsura
        ("القاعدة الجوية", "القاعده الجويه"),  # ta marbuta
        ("مسؤول رئيس", "مسوول رييس"),  # hamza on waw and yeh
        ("صوّتَ البرلمانُ", "صوت البرلمان"),  # diacritics
        ("الأمريـــكية", "الامريكيه"),  # tatweel
        ("٥٬٠٠٠ جندي و۳ صواريخ", "5,000 جندي و3 صواريخ"),  # Arabic-Indic and Persian digits
        ("US troops", "US troops"),  # other scripts as they are
    ],
)
def test_folding_makes_spelling_variants_one(raw: str, folded: str) -> None:
    assert arabic.fold(raw) == folded


def test_a_word_and_the_same_word_with_clitics_share_one_key() -> None:
    def key(word: str) -> str:
        return arabic.light_stem(arabic.fold(word))

    assert {key(w) for w in ("القوات", "والقوات", "للقوات", "بالقوات", "قواتها", "قوات")} == {
        key("قوات")
    }
    assert key("البرلمان") == key("للبرلمان") == key("برلمان")
    assert key("الأمريكية") == key("أمريكي") == key("الأمريكيين") == key("أمريكيا")
    assert key("العراق") == key("بالعراق") == key("والعراق")
    assert key("العراق") != key("العراقية")  # Iraq and Iraqi stay two words, as in English
    assert key("قوة") != key("قوات")  # too short to lose an ending


def test_taxonomy_phrases_match_through_clitics_but_a_words_own_letters_stay() -> None:
    from monitor.classify.matching import PhraseMatcher

    m = PhraseMatcher()
    for term in ("العراق", "الفلوجة", "البعث", "مهمة", "القوات الأمريكية", "كتائب حزب الله"):
        m.add("x", term)
    m.freeze()
    text = (
        "وبالعراق وللقوات الأميركية؛ والقوات الأمريكيين ولكتائب حزب الله "
        "وجه بعثة مهم بغداد بالفلوجة"
    )
    found = [h.text for h in m.find(text).get("x")]
    assert found == [
        "وبالعراق",
        "والقوات الأمريكيين",
        "ولكتائب حزب الله",
        "بالفلوجة",
    ]  # الأميركية is the other spelling; وجه is not الفلوجة, بعثة not البعث, مهم not مهمة


def test_folded_offsets_lead_back_to_the_original_text() -> None:
    text = "صوّتَ البرلمانُ على القرار"
    f = arabic.Folded.of(text)
    start = f.text.index("القرار")
    assert text[f.original(start) :].startswith("القرار")


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("ثلاثة صواريخ", 3),
        ("خمسة آلاف جندي", 5000),
        ("٥٬٠٠٠ جندي", 5000),
        ("ثلاثة آلاف وخمسمئة", 3500),
        ("مئتان وخمسون", 250),
        ("أحد عشر جنديا", 11),
        ("ثلاث مئة", 300),
        ("ألفي جندي", 2000),
        ("2.5 مليون", 2_500_000),
    ],
)
def test_numbers_in_words_and_digits(written: str, value: float) -> None:
    found = arabic.numbers(arabic.fold(written))
    assert [n.value for n in found][:1] == [value]


def test_vague_counts_are_not_numbers() -> None:
    assert arabic.numbers(arabic.fold("عشرات الجنود ومئات الصواريخ")) == []


@pytest.mark.parametrize(
    ("text", "day", "calendar"),
    [
        ("صوّت البرلمان في 5 كانون الثاني 2020 على القرار", date(2020, 1, 5), "gregorian"),
        ("الأحد 5 يناير 2020", date(2020, 1, 5), "gregorian"),
        ("الخميس ٢٣ يوليو ٢٠٢٠ - ٠٨:٤٢", date(2020, 7, 23), "gregorian"),
        ("في 18 حزيران/ يونيو 1984 صدرت", date(1984, 6, 18), "gregorian"),
        ("5 يناير/كانون الثاني 2020", date(2020, 1, 5), "gregorian"),
        ("الموافق 10 جمادى الأولى 1441 هـ", date(2020, 1, 5), "hijri"),
        ("بتاريخ 9-1-2022", date(2022, 1, 9), "gregorian"),
        ("في 2020/01/05", date(2020, 1, 5), "gregorian"),
        ("الرباط، 5 شتنبر 2021", date(2021, 9, 5), "gregorian"),
    ],
)
def test_dates_come_with_their_span(text: str, day: date, calendar: str) -> None:
    found = arabic.find_dates(text)
    assert [(d.day, d.calendar) for d in found] == [(day, calendar)]
    span = text[found[0].start : found[0].end]
    assert span[0].isdigit() and arabic.fold(span)[-1] in "0123456789ه"


def test_impossible_or_partial_dates_are_not_dates() -> None:
    assert arabic.find_dates("في 31 شباط 2020 وفي يناير 2020 واليوم الخميس") == []


def test_arabic_sentences_end_at_arabic_punctuation_without_capitals() -> None:
    text = "هل يخرج الأميركي؟ لا أحد يعرف. قال د. أحمد إن القرار ملزم"
    pieces = [text[s.start : s.end].strip() for s in segment(text, 0)]
    assert pieces == ["هل يخرج الأميركي؟", "لا أحد يعرف.", "قال د. أحمد إن القرار ملزم"]


def test_an_arabic_report_is_classified_with_the_same_evidence_as_english() -> None:
    ar = classify("ar", None, ARABIC_REPORT)
    en = classify("en", None, ENGLISH_REPORT)
    assert ar.relevant and en.relevant
    assert "parliament_vote" in ar.topics
    names = {e.name for e in ar.entities}
    # One canonical name whatever the language or spelling.
    for name in ("Kataib Hezbollah", "Ain al-Asad Air Base", "Iraqi parliament", "Iraq"):
        assert name in names
        assert name in {e.name for e in en.entities}
    assert {"Qassem Soleimani", "Adel Abdul Mahdi", "Abu Mahdi al-Muhandis"} <= names
    assert [q.speaker for q in ar.quotes] == ["Adel Abdul Mahdi"]
    assert ar.quotes[0].quote.startswith("إن إخراج القوات الأجنبية")
    figures = {(f.value, f.what) for f in ar.figures}
    assert {(5000.0, "troops"), (3.0, "rockets"), (170.0, "lawmakers")} <= figures
    assert ar.stance == "neutral"  # a report: what the prime minister says is quoted


def test_an_arabic_seed_is_stored_as_arabic_and_its_digest_reads_right_to_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "001_ar.txt").write_text(ARABIC_REPORT.replace("\n", "\n\n", 1), encoding="utf-8")
    (seeds / "002_en.txt").write_text(ENGLISH_REPORT, encoding="utf-8")
    settings = load_settings(db=tmp_path / "m.duckdb", seeds=[seeds])
    assert run_ingest(settings, fetch=False).articles_new == 2
    con = duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True)
    try:
        languages = dict(con.execute("SELECT url, language FROM articles").fetchall())
    finally:
        con.close()
    # Seeds declare English; the text decides.
    assert sorted(languages.values()) == ["ar", "en"]
    digest = build_digest(Store(tmp_path / "m.duckdb"), since=None)
    html = render_digest(digest, "html")
    assert '<h2 dir="rtl" lang="ar">البرلمان العراقي يصوت' in html
    assert "<h2>Kataib Hezbollah threatens" in html
    md = render_digest(digest, "md")
    assert "\u2067البرلمان العراقي يصوت على إخراج القوات الأمريكية\u2069" in md
    titles = [s["title"] for s in json.loads(render_digest(digest, "json"))["stories"]]
    assert any(t.startswith("البرلمان العراقي") for t in titles)
