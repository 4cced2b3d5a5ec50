"""The seed reader: titles, dates, debris repair, and clear rejection of unusable files."""

from __future__ import annotations

import codecs
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from monitor.errors import SeedError
from monitor.models import SeedFile
from monitor.seeds import (
    clean_text,
    decode_seed,
    find_seed_files,
    outlet_in_text,
    read_seed,
    repair_entities,
)

DEBRIS = ("& # 39;", ",quot;", "Story Code", "&quot;", "& #39;")


def _read(seeds_dir: Path, prefix: str):  # type: ignore[no-untyped-def]
    path = next(seeds_dir.glob(f"{prefix}_*.txt"))
    return read_seed(SeedFile(path), max_bytes=2_000_000)


def test_every_seed_reads_clean(seeds_dir: Path) -> None:
    files, problems = find_seed_files([seeds_dir])
    assert len(files) == 5 and problems == []
    for seed in files:
        article = read_seed(seed, max_bytes=2_000_000)
        for debris in DEBRIS:
            assert debris not in article.text, (seed.name, debris)
            assert debris not in (article.title or ""), (seed.name, debris)
        assert article.word_count > 300


def test_seed_titles_come_from_headline_lines(seeds_dir: Path) -> None:
    assert _read(seeds_dir, "004").title == (
        "Iraq parliament passes resolution to expel US-led coalition troops from country"
    )
    assert _read(seeds_dir, "001").title == (
        "Will Iraq Finally Manage to Expel the Uninvited US Military?"
    )
    # A first line that is a sentence of the body is not a headline.
    assert _read(seeds_dir, "003").title is None


def test_seed_dates_from_the_date_line_and_the_dateline_not_a_caption(seeds_dir: Path) -> None:
    a000, a001, a004 = (_read(seeds_dir, p) for p in ("000", "001", "004"))
    assert a000.published_at == datetime(2020, 1, 5)
    assert a001.published_at == datetime(2024, 3, 18, 21, 0)
    assert {a000.date_source, a001.date_source} == {"text"}
    # 004's only date is in a photo caption; captions are as often file pictures, so it has
    # none (and takes none from its story: test_stories).
    assert (a004.published_at, a004.date_source) == (None, "unknown")
    assert _read(seeds_dir, "002").published_at is None
    assert _read(seeds_dir, "002").date_source == "unknown"


def test_seed_furniture_is_removed(seeds_dir: Path) -> None:
    a000 = _read(seeds_dir, "000")
    assert a000.text.startswith("Adoption of the resolution")
    a001 = _read(seeds_dir, "001")
    assert a001.text.startswith("Indeed, this point")  # no stray 0, dateline, story code
    assert a001.title is not None and a001.title not in a001.text  # headline not repeated
    assert not a001.text.rstrip().endswith("Comment")
    a004 = _read(seeds_dir, "004")
    assert "newsletter" not in a004.text.lower()
    assert a004.text.count("Members of the Iraqi parliament are seen") == 1
    a002 = _read(seeds_dir, "002")
    assert "'Soothe anger'" in a002.text.replace("' Soothe anger '", "'Soothe anger'")
    assert '"leave Iraq".' in a002.text


def test_entity_repair_is_general() -> None:
    assert repair_entities("it& # 39;s") == "it's"
    assert repair_entities("say ,quot;no,quot;") == 'say "no"'
    assert repair_entities("R&amp;D &#8217;") == "R&D \u2019"
    assert repair_entities("AT&T stays") == "AT&T stays"


def test_clean_text_keeps_plain_text_untouched() -> None:
    text = "Lawmakers met on Sunday. " * 20
    cleaned = clean_text(text)
    assert cleaned.title is None and cleaned.published_at is None
    assert cleaned.text == text.strip()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 100, "binary"),
        (b"\xff\xfe\x00\x00" + b"not utf-32 at all", "byte-order mark"),
        (b"Too short.", "too little text"),
    ],
)
def test_unusable_seed_is_rejected_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SeedError, match=reason) as info:
        read_seed(SeedFile(path), max_bytes=2_000_000)
    assert "bad.txt" in str(info.value)


def test_oversized_seed_is_rejected_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse 50 MB file
    with pytest.raises(SeedError, match="too large"):
        read_seed(SeedFile(path), max_bytes=2_000_000)


def test_missing_seed_folder_is_reported(tmp_path: Path) -> None:
    files, problems = find_seed_files([tmp_path / "nope"])
    assert files == [] and problems == [(str(tmp_path / "nope"), "seed folder does not exist")]


TEXT = (
    "Iraq’s parliament voted on Sunday to expel foreign troops – a “historic” step, lawmakers "
    "said. The resolution asks the government to end the presence of the US-led coalition "
    "and to cancel its request for assistance in the fight against Islamic State. "
) * 3


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8", TEXT.encode("utf-8")),
        ("utf-8", codecs.BOM_UTF8 + TEXT.encode("utf-8")),
        ("utf-16", TEXT.encode("utf-16")),  # with its byte-order mark
        ("utf-16", codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")),
        ("utf-32", TEXT.encode("utf-32")),
        ("cp1252", TEXT.encode("cp1252")),
        (
            "cp1252",
            TEXT.replace("’", "'")
            .replace("–", "-")
            .replace("“", '"')
            .replace("”", '"')
            .encode("latin-1")
            + "é".encode("latin-1"),
        ),
    ],
    ids=["utf-8", "utf-8 BOM", "utf-16 LE BOM", "utf-16 BE BOM", "utf-32", "cp1252", "latin-1"],
)
def test_seeds_in_other_encodings_are_decoded(tmp_path: Path, encoding: str, data: bytes) -> None:
    path = tmp_path / "seed.txt"
    path.write_bytes(data)
    decoded, found = decode_seed(path.name, data)
    assert found == encoding
    article = read_seed(SeedFile(path), max_bytes=2_000_000)
    assert "parliament voted on Sunday to expel foreign troops" in article.text
    if encoding != "cp1252" or "’" in decoded:
        assert "Iraq’s parliament" in article.text and "“historic”" in article.text


def test_seeds_name_their_outlet_and_say_how(seeds_dir: Path) -> None:
    found = {
        seed.name[:3]: (article.outlet, article.outlet_source)
        for seed in find_seed_files([seeds_dir])[0]
        for article in [read_seed(seed, max_bytes=2_000_000)]
    }
    assert found == {
        "000": ("RT", "told"),  # "... analysts have told RT." (three times)
        "001": ("Islam Times", "mapping"),  # seeds/outlets.toml: its text names no outlet
        "002": ("Al Jazeera", "told"),  # "... Shams told Al Jazeera,"
        "003": (None, "unknown"),
        "004": ("FRANCE 24", "credit"),  # "(FRANCE 24 with AFP, AP and REUTERS)", not "told AFP"
    }


@pytest.mark.parametrize(
    ("text", "outlet", "how"),
    [
        ("BAGHDAD (Reuters) - Iraq's parliament voted on Sunday.", "Reuters", "credit"),
        ("Baghdad, Jan 5 (AFP) – Iraq's parliament voted.", "AFP", "credit"),
        ("The vote was held.\n\n(AFP)", "AFP", "credit"),
        ("A vote.\n(Reporting by Ahmed Rasheed; Editing by Alex Richardson)", None, "unknown"),
        ("He told Sudani that the deal was off.", None, "unknown"),  # a person, not an outlet
        ("She told parliament. He told Parliament.", None, "unknown"),
        ("An official told The New Arab on Monday.", "The New Arab", "told"),
        ("He told Rudaw. She told Rudaw. They told AFP.", "Rudaw", "told"),
    ],
)
def test_outlet_in_text(text: str, outlet: str | None, how: str) -> None:
    assert outlet_in_text(text) == (outlet, how)


def test_outlets_toml_names_the_rest(tmp_path: Path, seeds_dir: Path) -> None:
    folder = tmp_path / "seeds"
    shutil.copytree(seeds_dir, folder)
    (folder / "outlets.toml").write_text(
        '["001_9f8e176f1df87fee.txt"]\noutlet = "Islam Times"\n'
        'url = "https://www.islamtimes.org/en/news/1123507"\n'
        '["000_ea5ecf4dccb75d7d.txt"]\noutlet = "RT News"\n',
        encoding="utf-8",
    )
    files, problems = find_seed_files([folder])
    assert problems == [] and len(files) == 5  # outlets.toml is not a seed
    articles = {f.name[:3]: read_seed(f, max_bytes=2_000_000) for f in files}
    islam = articles["001"]
    assert (islam.outlet, islam.outlet_source) == ("Islam Times", "mapping")
    assert islam.canonical_url == "https://www.islamtimes.org/en/news/1123507"
    assert islam.url == "seed:001_9f8e176f1df87fee"  # the seed's identity is unchanged
    # The user's word wins over what the text suggests.
    assert (articles["000"].outlet, articles["000"].outlet_source) == ("RT News", "mapping")

    (folder / "outlets.toml").write_text('["x.txt"]\noutlet = "A"\ncolour = "red"\n')
    files, problems = find_seed_files([folder])
    assert len(files) == 5 and len(problems) == 1
    assert "outlets.toml" in problems[0][1] and "colour" in problems[0][1]
