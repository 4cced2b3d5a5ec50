"""What every article gets before it is stored, done where its text is made.

For fetched pages that is an extraction worker process (`extract.extract_pages`), for seed files
the main process (`pipeline.read_seeds`); both call `prepare_articles`, so the work is the same
and is done once: the content hash and MinHash signatures dedup compares (dedup.py), the
classification (classify), the language read from the text (language.py: the page's or feed's
declared language is only a hint), and the raw HTML compressed for `core.raw_pages`. The
results travel on the `Article` record into the store.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from monitor import classify
from monitor.dedup import content_hash, sign
from monitor.language import detect_language
from monitor.models import Article, Classification
from monitor.settings import Settings

log = logging.getLogger(__name__)

# zlib level of the stored raw HTML: 3 compresses ~5x at a fraction of level 6's time.
RAW_ZLIB_LEVEL = 3


@dataclass(frozen=True)
class Preparation:
    """How to prepare articles: the configured taxonomy, relevance model and threshold
    (picklable, for workers)."""

    taxonomy: Path | None = None
    relevance_threshold: float | None = None
    model: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> Preparation:
        """How the settings say articles are prepared."""
        c = settings.classify
        return cls(c.taxonomy, c.relevance_threshold, c.model)


def prepare_articles(articles: Sequence[Article], how: Preparation) -> list[Article]:
    """Articles with content hash, signatures, classification, language and compressed raw
    HTML."""
    if not articles:
        return []
    sigs = sign([a.text for a in articles])
    results = _classify(articles, how)
    out = []
    for article, sig, found in zip(articles, sigs, results, strict=True):
        html_zlib = article.html_zlib
        if html_zlib is None and article.raw_html is not None:
            html_zlib = zlib.compress(article.raw_html, RAW_ZLIB_LEVEL)
        out.append(
            replace(
                article,
                content_hash=content_hash(article.text),
                language=detect_language(article.text, article.title, article.language),
                signature=sig,
                classification=found,
                html_zlib=html_zlib,
                raw_html=None,
            )
        )
    return out


def _classify(articles: Sequence[Article], how: Preparation) -> list[Classification | None]:
    """Classifications, or None for each when the taxonomy cannot be used here: the main
    process classifies those after storing, and reports the problem (pipeline.process_pending)."""
    try:
        classifier = classify.Classifier(
            classify.load_taxonomy(how.taxonomy),
            classify.load_model(how.model),
            how.relevance_threshold,
        )
    except Exception:
        log.warning("cannot load the taxonomy or model here; classifying later", exc_info=True)
        return [None] * len(articles)
    return [classifier.classify(a.article_id, a.headline, a.text) for a in articles]
