"""The commands that measure and teach: `monitor eval`, `monitor label`, `monitor train`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    VerboseOpt,
    clean_errors,
    console,
    settings_for,
    setup_logging,
)
from monitor.cli.progress import RunDisplay
from monitor.errors import ConfigError


class EvalFormat(StrEnum):
    text = "text"
    json = "json"


@clean_errors
def evaluate(
    eval_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="DIR",
            help="Labelled folder(s): index.tsv + articles/NNN.txt. Several (e.g. an English "
            "and an Arabic one) are ingested together, with each folder's figures and the "
            "pairs of one event across folders.",
        ),
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", help="Output format.")] = EvalFormat.text,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", metavar="DIR", help="Keep the two evaluation databases here."),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Relevance, event types, stance, stories, storylines and dates on labelled folders,
    measured on their articles served as web pages and ingested for real (with and without
    dates)."""
    setup_logging(verbose)
    from monitor.evaluate import evaluate as run_evaluation

    settings = settings_for(config, db)
    with RunDisplay.for_terminal(console) as progress:
        report = run_evaluation(eval_dirs, settings, workdir=keep, progress=progress)
    if fmt is EvalFormat.json:
        sys.stdout.write(json.dumps(report.figures(), indent=2) + "\n")
        return
    console.print(report.render(), highlight=False, soft_wrap=True, markup=False)


class Verdict(StrEnum):
    relevant = "relevant"
    irrelevant = "irrelevant"


class StanceChoice(StrEnum):
    for_withdrawal = "for_withdrawal"
    against_withdrawal = "against_withdrawal"
    neutral = "neutral"


@clean_errors
def label(
    article_id: Annotated[
        str | None,
        typer.Argument(metavar="ARTICLE_ID", help="The article to label (its article_id)."),
    ] = None,
    verdict: Annotated[
        Verdict | None, typer.Argument(help="relevant or irrelevant.", show_default=False)
    ] = None,
    stance: Annotated[
        StanceChoice | None,
        typer.Option(
            "--stance",
            metavar="STANCE",
            help="for_withdrawal, against_withdrawal or neutral: the article's stance "
            "(else the earlier label's, or the classifier's).",
        ),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option(
            "--note",
            metavar="TEXT",
            help="Why, for the record. Without it a label keeps its earlier note; "
            '--note "" clears it.',
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="A CSV file with columns article_id, relevant, stance, note.",
        ),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An analyst's label: it wins over the classifier and teaches it (monitor train)."""
    setup_logging(False)
    from monitor.labelling import apply_labels, make_label, read_label_csv
    from monitor.store import Store

    if from_file is not None:
        if article_id is not None or verdict is not None or stance or note is not None:
            raise typer.BadParameter("--from takes no ARTICLE_ID, verdict, --stance or --note")
        labels = read_label_csv(from_file)
    elif article_id is None or verdict is None:
        raise typer.BadParameter("give ARTICLE_ID and relevant|irrelevant, or --from FILE.csv")
    else:
        labels = [make_label(article_id, verdict.value, stance.value if stance else None, note)]
    settings = settings_for(config, db)
    store = Store.existing(settings.storage)
    result = apply_labels(store, settings, labels)
    console.print(
        f"Labelled {result.labelled} article(s) ({result.relevant} relevant); "
        "the labels win in the articles view. `monitor train` teaches them to the classifier."
    )


@clean_errors
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help="Labelled folder like ../shared/data/eval (repeatable); default: the "
            "examples the packaged model was trained on.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Where to write the model (default: [classify] model)."
        ),
    ] = None,
    no_labels: Annotated[
        bool, typer.Option("--no-labels", help="Leave the analysts' labels out.")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Refit the learned part of relevance on labelled folders plus the analysts' labels."""
    setup_logging(verbose)
    from monitor.training import train as run_training

    settings = settings_for(config, db)
    target = out or settings.classify.model
    if target is None:
        raise ConfigError(
            "say where the model goes: --out FILE, or classify.model in the config "
            '(model = "FILE" in its classify section: the classifier reads it from there; '
            "the packaged model is read-only)"
        )
    with console.status("Training…"):
        report = run_training(settings, out=target, data=data or (), analyst_labels=not no_labels)
    console.print(report.render(), highlight=False, soft_wrap=True, markup=False)
    if settings.classify.model is None or settings.classify.model.resolve() != target.resolve():
        console.print(
            f'To use it: [classify] model = "{target}" in the config, then '
            "monitor reclassify --only-outdated.",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "The classifier uses it now; monitor reclassify --only-outdated updates the archive.",
            highlight=False,
        )
