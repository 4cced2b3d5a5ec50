"""Classification of articles: relevance, event types, stance, actors, quotes and figures.

Everything the classifier looks for lives in a taxonomy file (packaged `taxonomy.toml`, or an
analyst's copy named by `settings.classify.taxonomy`); the code here only says how the pieces are
weighed. Relevance is judged sentence by sentence: a sentence counts when it speaks of US /
coalition forces (with presence, withdrawal or attack language, or a US strike) and is placed in
Iraq by the places and actors it names (or the previous sentence's place); sentences about troops
elsewhere, the 2003 war or another conflict pull the article's focus away from Iraq. A small
learned layer (`relevance_model.json`, or a retrained copy named by `settings.classify.model`)
turns the rules' score and a few general features into the probability that is stored. Each
classification carries the terms, sentences, features and probability that moved its scores
(`Classification.evidence`), and the version records the code, the taxonomy's content hash and
the model's fingerprint, so an edit or a retraining marks old classifications outdated. See
docs/classification.md for the rubric.

The package, by concern:

* `taxonomy`: the taxonomy file's models, parsing, loading and caching.
* `matching`: tokens, the phrase matcher (`Found`, `Hit`), sentences and the offset index.
* `relevance`: sentence flags, the rules' score, the learned layer's features.
* `model`: the stored relevance model (canonical JSON, scored in pure Python, its fingerprint).
* `fit`: fitting the model and cross-validating it by event group (numpy).
* `stance`: the article's own voice and its cues.
* `topics`: the event types an article is about.
* `quotes`: quotes and their speakers.
* `figures`: the numbers an article reports.
* `classifier`: `Classifier`, `classify` and `classify_articles`, which put those together, and
  the version.
* `wordlists`: the word lists in `words/*.txt` (speech verbs, abbreviations, what a figure
  counts ...), read on first use.

Import from here (`from monitor.classify import classify`); the modules are the layout, this is
the API.
"""

from __future__ import annotations

from monitor.classify.classifier import (
    Classifier,
    classifier_version,
    classify,
    classify_articles,
)
from monitor.classify.matching import Found, Hit, PhraseMatcher
from monitor.classify.model import Example, RelevanceModel, load_model, parse_model
from monitor.classify.relevance import FEATURES
from monitor.classify.taxonomy import (
    CODE_VERSION,
    TOPIC_NAMES,
    Actor,
    Taxonomy,
    TopicRule,
    load_taxonomy,
    parse_taxonomy,
)

# The packaged taxonomy's cache: tests check through it that importing loads nothing.
from monitor.classify.taxonomy import _packaged as _packaged

__all__ = [
    "CODE_VERSION",
    "FEATURES",
    "TOPIC_NAMES",
    "Actor",
    "Classifier",
    "Example",
    "Found",
    "Hit",
    "PhraseMatcher",
    "RelevanceModel",
    "Taxonomy",
    "TopicRule",
    "classifier_version",
    "classify",
    "classify_articles",
    "load_model",
    "load_taxonomy",
    "parse_model",
    "parse_taxonomy",
]


def __getattr__(name: str) -> str:
    # CLASSIFIER_VERSION is computed on first use, never at import time.
    if name == "CLASSIFIER_VERSION":
        return classifier_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
