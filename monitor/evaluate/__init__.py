"""`monitor eval DIR`: what users get, measured on a labelled folder.

The labelled articles are served as web pages from 127.0.0.1 behind a feed (site.py) and go
through the real ingest (fetch, extract, dedup, stories, classify) into a fresh database, three
times: with the days the folder knows in the page metadata and the feed, with no dates anywhere,
and with every item dated the day of the run by the feed (coarse). Relevance, event types and
stance are measured on the dated run (dates do not change them); stories and dates on all three.
There is one code path, the pipeline's; nothing here reads the texts another way.

Relevance is reported twice: as the configured classifier decided it (the shipped model was
trained on the development folder, so there that figure is in-sample), and cross-validated by
event (crossval.py): each event's articles predicted by a model fitted on the other events'.

Stories and storylines likewise: as the ingest made them with the shipped pair models (in-sample
on the development folder), and by grouped cross-validation over what the three ingests stored
(grouping.py: folds by event; threads.py: folds by storyline), with BCubed figures and the
labelled events (storylines) that were split and the pairs that were merged.

Several folders (`monitor eval eval/ eval-ar/`, one language each) are served as one site and
ingested together (folders.py): the report gives the figures of all of them, then each folder's
own, then how stories and storylines join reports of one event across folders.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.classify import Classifier
from monitor.evaluate import site
from monitor.evaluate.crossval import cross_validated_report, labelled_examples
from monitor.evaluate.folders import (
    CrossReport,
    folder_of,
    read_folders,
    story_cross,
    storyline_cross,
)
from monitor.evaluate.grouping import GroupingReport, read_set, story_reports
from monitor.evaluate.labelled import LabelledArticle, read_eval_dir
from monitor.evaluate.metrics import (
    ClusteringReport,
    DateReport,
    Outcome,
    RelevanceReport,
    StanceReport,
    TopicReport,
    date_report,
    relevance_report,
    stance_report,
    story_report,
    storyline_report,
    topic_report,
)
from monitor.evaluate.threads import storyline_reports
from monitor.pipeline import run_ingest
from monitor.progress import SILENT, Progress
from monitor.settings import Settings
from monitor.store import Store
from monitor.store import articles as stored

log = logging.getLogger(__name__)

__all__ = [
    "EvalReport",
    "LabelledArticle",
    "RunReport",
    "evaluate",
    "ingest_labelled",
    "read_eval_dir",
]


_HEADINGS = {
    "dated": "with the folder's dates",
    "undated": "with no dates anywhere",
    "coarse": "with every item dated the day of the run",
}


@dataclass(frozen=True)
class RunReport:
    """One ingest of the folder's pages: its stories and dates."""

    dating: site.Dating
    outcomes: tuple[Outcome, ...]
    stories: ClusteringReport
    storylines: ClusteringReport
    dates: DateReport

    def render(self) -> str:
        """Stories, storylines and dates of this run."""
        return "\n".join(
            [
                f"== {_HEADINGS[self.dating]}",
                self.stories.render(),
                self.storylines.render(),
                self.dates.render(),
            ]
        )


@dataclass(frozen=True)
class FolderPart:
    """One folder's figures in an evaluation of several (its articles only)."""

    name: str
    relevance: RelevanceReport
    relevance_cv: RelevanceReport
    topics: TopicReport
    stance: StanceReport
    stories: ClusteringReport
    storylines: ClusteringReport

    def render(self) -> str:
        """The folder's figures as text."""
        return "\n".join(
            [
                f"== folder {self.name}",
                self.relevance_cv.render(),
                self.topics.render(),
                self.stance.render(),
                self.stories.render(),
                self.storylines.render(),
            ]
        )

    def figures(self) -> dict[str, float]:
        """The folder's headline figures, named `<folder>.<figure>`."""
        n = self.name
        return {
            f"{n}.relevance_f1": round(self.relevance.f1, 4),
            f"{n}.relevance_cv_f1": round(self.relevance_cv.f1, 4),
            f"{n}.topic_hit_rate": round(self.topics.hit_rate, 4),
            f"{n}.stance_accuracy": round(self.stance.accuracy, 4),
            f"{n}.stance_swaps": self.stance.swaps,
            f"{n}.stance_sided_right": self.stance.sided_right,
            f"{n}.stance_sided_total": self.stance.sided_total,
            f"{n}.clustering_f1": round(self.stories.f1, 4),
            f"{n}.storyline_f1": round(self.storylines.f1, 4),
        }


@dataclass(frozen=True)
class EvalReport:
    """Everything `monitor eval` measures."""

    relevance: RelevanceReport
    relevance_cv: RelevanceReport
    topics: TopicReport
    stance: StanceReport
    dated: RunReport
    undated: RunReport
    coarse: RunReport
    # "<dating>:in-sample" and "<dating>:cv" -> the report (grouping.py, threads.py)
    stories: dict[str, GroupingReport] = field(default_factory=dict)
    storylines: dict[str, GroupingReport] = field(default_factory=dict)
    grouping_notes: tuple[str, ...] = ()
    parts: tuple[FolderPart, ...] = ()
    cross: tuple[CrossReport, ...] = ()

    def render(self) -> str:
        """The whole report as text."""
        grouped = ["== stories and storylines by grouped cross-validation (and in-sample)"]
        grouped += [f"-- {note}" for note in self.grouping_notes]
        for dating in ("dated", "undated", "coarse"):
            for reports in (self.stories, self.storylines):
                for how in ("cv", "in-sample"):
                    found = reports.get(f"{dating}:{how}")
                    if found is not None:
                        grouped.append(f"-- {_HEADINGS[dating]}: " + found.render())
                    for key in sorted(k for k in reports if k.startswith(f"{dating}:{how}:")):
                        grouped.append(f"-- {_HEADINGS[dating]}: " + reports[key].render())
        return "\n".join(
            [
                self.relevance.render(),
                self.relevance_cv.render(),
                self.topics.render(),
                self.stance.render(),
                self.dated.render(),
                self.undated.render(),
                self.coarse.render(),
                *grouped,
                *(part.render() for part in self.parts),
                *(["== across folders (with the folders' dates)"] if self.cross else []),
                *(c.render() for c in self.cross),
            ]
        )

    def figures(self) -> dict[str, float]:
        """The headline figures (the quality gates in tests/baselines.json use these names);
        with several folders, each folder's too and the pairs across folders."""
        out = self._figures()
        for part in self.parts:
            out.update(part.figures())
        for c in self.cross:
            out[f"cross_language_{c.what}_pairs"] = c.labelled_pairs
            out[f"cross_language_{c.what}_recall"] = round(c.recall, 4)
            out[f"cross_language_{c.what}_precision"] = round(c.precision, 4)
            out[f"cross_language_{c.what}_false_links"] = c.false_links
        return out

    def _figures(self) -> dict[str, float]:
        return {
            "relevance_f1": round(self.relevance.f1, 4),
            "relevance_false_positives": self.relevance.false_positives,
            "relevance_cv_f1": round(self.relevance_cv.f1, 4),
            "relevance_cv_false_positives": self.relevance_cv.false_positives,
            "relevance_cv_false_negatives": self.relevance_cv.false_negatives,
            "topic_hit_rate": round(self.topics.hit_rate, 4),
            "topics_per_article": round(self.topics.mean_topics, 4),
            "stance_accuracy": round(self.stance.accuracy, 4),
            "stance_macro_f1": round(self.stance.macro_f1, 4),
            "stance_swaps": self.stance.swaps,
            "stance_sided_right": self.stance.sided_right,
            "stance_sided_total": self.stance.sided_total,
            "clustering_f1": round(self.dated.stories.f1, 4),
            "clustering_f1_undated": round(self.undated.stories.f1, 4),
            "clustering_f1_coarse": round(self.coarse.stories.f1, 4),
            "storyline_f1": round(self.dated.storylines.f1, 4),
            "storyline_f1_undated": round(self.undated.storylines.f1, 4),
            **self._grouped_figures(),
            "cross_event_near_links": sum(
                run.stories.cross_group_near_links
                for run in (self.dated, self.undated, self.coarse)
            ),
        }

    def _grouped_figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for what, reports in (("story", self.stories), ("storyline", self.storylines)):
            for key, report in sorted(reports.items()):
                dating, how, *folder = key.split(":")
                if folder:  # one folder's figures: "<folder>.story_f1_cv[_undated]"
                    tail = "" if dating == "dated" else f"_{dating}"
                    out[f"{folder[0]}.{what}_f1_{how}{tail}"] = round(report.f1, 4)
                    out[f"{folder[0]}.{what}_bcubed_f1_{how}{tail}"] = round(report.bcubed_f1, 4)
                    continue
                suffix = ("_cv" if how == "cv" else "_in_sample") + (
                    "" if dating == "dated" else f"_{dating}"
                )
                out[f"{what}_f1{suffix}"] = round(report.f1, 4)
                out[f"{what}_bcubed_f1{suffix}"] = round(report.bcubed_f1, 4)
                if what == "story" and how == "cv" and report.across is not None:
                    # Pairs across languages, each judged by a model that never saw its event.
                    labelled, joined, linked, wrong = report.across
                    tail = "" if dating == "dated" else f"_{dating}"
                    name = "cross_language_stories_cv"
                    out[f"{name}_recall{tail}"] = round(joined / labelled, 4) if labelled else 1.0
                    out[f"{name}_false_links{tail}"] = wrong
                    out[f"{name}_linked{tail}"] = linked
        return out


def _eval_settings(base: Settings, db: Path, feed_url: str, n_items: int) -> Settings:
    return Settings.model_validate(
        {
            "storage": {"db": str(db)},
            "seeds": {"dirs": []},
            "sources": [{"name": "eval", "kind": "feed", "url": feed_url}],
            "fetch": {
                "per_host_delay_s": 0,
                "per_host_concurrency": 8,
                "trusted_hosts": ["127.0.0.1"],
                "max_articles_per_source": max(n_items, 1),
                "timeout_s": 30,
            },
            "classify": base.classify.model_dump(),
            "runner": base.runner.model_dump(),
        }
    )


def ingest_labelled(
    items: Sequence[LabelledArticle],
    settings: Settings,
    workdir: Path,
    *,
    dating: site.Dating,
    progress: Progress = SILENT,
    lang: str | None = "en",
) -> list[Outcome]:
    """Serve the items as pages (each declaring `lang`), run the real ingest into a fresh
    database, read what it stored."""
    db = workdir / f"{dating}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    with site.serve(items, dating=dating, lang=lang) as feed_url:
        run_settings = _eval_settings(settings, db, feed_url, len(items))
        progress.begin(f"{dating} run")
        summary = run_ingest(run_settings, progress=progress)
        base = feed_url.removesuffix(site.FEED_PATH)
    log.info(
        "eval ingest (%s): %d new, %d failed",
        dating,
        summary.articles_new,
        summary.errors,
    )
    with Store(db).read() as con:
        rows = {d.url: d for d in stored.decided(con)}
    out = []
    for item in items:
        d = rows.get(base + site.page_path(item))
        if d is None:
            out.append(Outcome(item))
            continue
        out.append(
            Outcome(
                item,
                article_id=d.article_id,
                title=d.title,
                story_id=d.story_id,
                duplicate_of=d.duplicate_of,
                duplicate_reason=d.duplicate_reason,
                published_at=d.published_at,
                date_source=d.date_source,
                date_evidence=d.date_evidence,
                relevant=d.relevant,
                relevance_score=d.relevance_score,
                stance=d.stance,
                topics=d.topics,
                version=d.version,
                storyline_id=d.storyline_id,
            )
        )
    return out


def _run(
    items: Sequence[LabelledArticle],
    settings: Settings,
    workdir: Path,
    dating: site.Dating,
    progress: Progress,
) -> RunReport:
    outcomes = ingest_labelled(items, settings, workdir, dating=dating, progress=progress)
    return RunReport(
        dating,
        tuple(outcomes),
        story_report(outcomes),
        storyline_report(outcomes),
        date_report(outcomes),
    )


def evaluate(
    eval_dir: Path | Sequence[Path],
    settings: Settings,
    *,
    workdir: Path | None = None,
    progress: Progress = SILENT,
) -> EvalReport:
    """Measure relevance, topics, stance, stories and dates on one labelled folder or several
    (module doc)."""
    dirs = [eval_dir] if isinstance(eval_dir, Path) else list(eval_dir)
    items = read_folders(dirs)
    classifier = Classifier.configured(settings)
    names = [d.resolve().name for d in dirs]
    prefix = "+".join(names)
    with tempfile.TemporaryDirectory(prefix="monitor-eval-") as tmp:
        where = workdir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        dated = _run(items, settings, where, "dated", progress)
        examples = labelled_examples(dated.outcomes, where / "dated.duckdb", classifier, prefix)
        undated = _run(items, settings, where, "undated", progress)
        coarse = _run(items, settings, where, "coarse", progress)
        sets = [
            read_set(where / f"{run.dating}.duckdb", run.outcomes, run.dating)
            for run in (dated, undated, coarse)
        ]
        notes: list[str] = []
        stories = story_reports(sets, None, notes)
        storylines = storyline_reports(sets, None, None, notes)
    trained_here = any(
        e.id.startswith(name + "/") for e in classifier.model.examples for name in names
    )
    how = "classifier as configured" + (
        "; its model was trained on this folder, so this is in-sample" if trained_here else ""
    )
    parts: list[FolderPart] = []
    for name in names if len(names) > 1 else []:
        mine = [o for o in dated.outcomes if folder_of(o.item.id) == name]
        parts.append(
            FolderPart(
                name,
                relevance_report(mine, how=how),
                cross_validated_report(mine, examples, prefix, classifier.version),
                topic_report(mine),
                stance_report(mine),
                story_report(mine),
                storyline_report(mine),
            )
        )
    cross = (story_cross(dated.outcomes), storyline_cross(dated.outcomes)) if parts else ()
    return EvalReport(
        relevance=relevance_report(dated.outcomes, how=how),
        relevance_cv=cross_validated_report(dated.outcomes, examples, prefix, classifier.version),
        topics=topic_report(dated.outcomes),
        stance=stance_report(dated.outcomes),
        dated=dated,
        undated=undated,
        coarse=coarse,
        stories=stories,
        storylines=storylines,
        grouping_notes=tuple(notes),
        parts=tuple(parts),
        cross=cross,
    )
