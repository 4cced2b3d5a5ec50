"""Classification of articles: relevance to the troop-presence issue.

First cut: a keyword rule (Iraq near troops). The classification issue replaces it.
"""

from __future__ import annotations

import re

from monitor.models import Classification

CLASSIFIER_VERSION = "keyword-0"

_IRAQ = re.compile(r"\biraq", re.I)
_TROOPS = re.compile(r"\b(troops?|forces|military|coalition|soldiers)\b", re.I)


def classify(article_id: str, title: str | None, text: str) -> Classification:
    """Score one article's relevance to the US / coalition troop presence in Iraq."""
    body = f"{title or ''}\n{text}"
    sentences = re.split(r"(?<=[.!?])\s+", body)
    hits = [s for s in sentences if _IRAQ.search(s) and _TROOPS.search(s)]
    score = min(1.0, len(hits) / 3)
    return Classification(
        article_id=article_id,
        relevant=score >= 0.5,
        relevance_score=score,
        stance="neutral",
        stance_score=0.0,
        topics=(),
        evidence={"sentences": hits[:3]},
        version=CLASSIFIER_VERSION,
    )
