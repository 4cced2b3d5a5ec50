"""The seed reader: titles, dates, debris repair, and clear rejection of unusable files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from monitor.errors import SeedError
from monitor.models import SeedFile
from monitor.seeds import clean_text, find_seed_files, read_seed, repair_entities

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
    # 004's only date is in a photo caption; captions are as often file pictures, so it waits
    # for its story's date (test_pipeline: 2020-01-05, date_source 'story').
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
        ("Parlement irakien vote l'expulsion ".encode("latin-1") + b"\xe9t\xe9 " * 50, "UTF-8"),
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
