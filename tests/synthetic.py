"""Synthetic seed articles for tests that need a run long enough to interrupt."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"

_SUBJECTS = [
    "Iraqi lawmakers",
    "The US-led coalition",
    "Prime Minister Mohammed Shia al-Sudani",
    "Pentagon officials",
    "Kataib Hezbollah",
    "The Iraqi parliament",
    "Coalition commanders",
    "Kurdish regional officials",
    "Analysts in Baghdad",
    "State Department spokespeople",
]
_VERBS = [
    "discussed",
    "questioned",
    "announced",
    "rejected",
    "welcomed",
    "postponed",
    "demanded",
    "reviewed",
]
_OBJECTS = [
    "the withdrawal of US troops from Iraq",
    "a timetable for the drawdown of foreign forces",
    "the future of the base at Ain al-Asad",
    "the vote to expel foreign troops",
    "the security agreement with Washington",
    "drone strikes near the Syrian border",
    "the mission against the Islamic State group",
    "talks of the Higher Military Commission",
    "the budget for reconstruction in Anbar",
    "rocket attacks on the embassy in the Green Zone",
]


def synthetic_text(rng: random.Random, n: int) -> str:
    """A plausible news-like text, different for every n."""
    day = 1 + n % 28
    month = ["January", "March", "June", "September"][n % 4]
    title = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} (report {n})"
    sentences = [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} on "
        f"{month} {day}, {2020 + n % 5}, according to report number {n}-{i}."
        for i in range(rng.randint(12, 30))
    ]
    return title + "\n\n" + " ".join(sentences) + "\n"


def make_seed_dir(dest: Path, extra: int, *, seed: int = 7) -> Path:
    """The project's 5 seeds plus `extra` synthetic ones, in a fresh folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, dest / path.name)
    rng = random.Random(seed)
    for n in range(extra):
        (dest / f"synthetic_{n:04d}.txt").write_text(synthetic_text(rng, n), encoding="utf-8")
    return dest
