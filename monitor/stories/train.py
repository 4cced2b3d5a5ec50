"""Fit the shipped story and storyline pair models from labelled folders.

    python -m monitor.stories.train [--data ../shared/data/eval]... [--out-dir DIR]
                                    [--storylines-only]

The folders (laid out like ../shared/data/eval, one language each) are served as pages of one
site and ingested together through the web path, with their dates and without
(`monitor.evaluate.grouping`); the story model is fitted on every pair of reports (same
`event_cluster` or not), the storyline model on the labelled threads replayed in time order (each
story against every storyline it could continue: same `storyline` or not;
`monitor.evaluate.threads`), and they are written as `story_model.json` and
`storyline_model.json` (by default
next to this module, where the pipeline reads them). What the models learned from is recorded in
their `meta`: folder names and counts, never a text. The grouped cross-validated figures are what
`monitor eval` reports. The shipped models (docs/dedup.md): the story model from `eval` and
`eval-ar`, then the storyline model from `eval` with `--storylines-only`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.stories.model import PairModel, load_pair_model

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("../shared/data/eval")


@dataclass(frozen=True)
class Trained:
    """The fitted models and where they were written."""

    stories: PairModel
    storylines: PairModel
    written: tuple[Path, ...]

    def render(self) -> str:
        """A few lines for the terminal."""
        lines = []
        for model in (self.stories, self.storylines):
            lines.append(
                f"{model.kind}: threshold {model.threshold}, trained on "
                f"{model.meta.get('trained_on')}; weights {model.weights()}"
            )
        lines += [f"wrote {p}" for p in self.written]
        return "\n".join(lines)


def train(
    folders: Sequence[Path], settings: Settings, out_dir: Path, *, storylines_only: bool = False
) -> Trained:
    """Ingest each folder with and without dates, fit both pair models, write them (with
    `storylines_only`, the storyline model alone, over the stories the packaged story model
    makes)."""
    from monitor.evaluate import ingest_labelled, read_eval_dir
    from monitor.evaluate.folders import read_folders
    from monitor.evaluate.grouping import TRAIN_DATINGS, fit_stories, read_set, regroup
    from monitor.evaluate.threads import fit_storylines

    sets = []
    # The folders are served as one site and ingested together (as `monitor eval A B` does):
    # reports in two languages meet in one batch, as they do in a run.
    items = read_folders(folders)
    with tempfile.TemporaryDirectory(prefix="monitor-train-stories-") as tmp:
        for dating in TRAIN_DATINGS:
            outcomes = ingest_labelled(items, settings, Path(tmp), dating=dating)
            sets.append(read_set(Path(tmp) / f"{dating}.duckdb", outcomes, dating))
    trained_on = {f.resolve().name: len(read_eval_dir(f)) for f in folders}
    if storylines_only:
        stories = load_pair_model("stories")
    else:
        stories = fit_stories(sets, meta={"trained_on": trained_on, "datings": list(TRAIN_DATINGS)})
    storylines = fit_storylines(
        sets,
        [regroup(s, stories) for s in sets],
        meta={"trained_on": trained_on, "datings": list(TRAIN_DATINGS)},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fitted = [(storylines, "storyline_model.json")]
    if not storylines_only:
        fitted.insert(0, (stories, "story_model.json"))
    for model, name in fitted:
        path = out_dir / name
        path.write_text(model.to_json(), encoding="utf-8")
        written.append(path)
    return Trained(stories, storylines, tuple(written))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fit and write the models; one line on error."""
    parser = argparse.ArgumentParser(
        prog="python -m monitor.stories.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help=f"labelled folder like ../shared/data/eval (repeatable; default {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="where to write story_model.json and storyline_model.json (default: the package)",
    )
    parser.add_argument(
        "--storylines-only",
        action="store_true",
        help="fit and write the storyline model alone (stories as the packaged model makes them)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folders = args.data or [DEFAULT_DATA]
    with tempfile.TemporaryDirectory(prefix="monitor-train-db-") as tmp:
        settings = Settings.model_validate({"storage": {"db": str(Path(tmp) / "unused.duckdb")}})
        try:
            trained = train(folders, settings, args.out_dir, storylines_only=args.storylines_only)
        except MonitorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(trained.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
