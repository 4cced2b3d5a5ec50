"""The learned layer of relevance: a logistic regression over the rules' general features, stored
as canonical JSON and scored in pure Python.

The packaged `relevance_model.json` (next to this module) or an analyst's retrained copy named by
`settings.classify.model` holds the feature names (checked against `relevance.FEATURES`), their
means and scales, the coefficients, the intercept and the threshold, how it was trained (`meta`)
and what it was trained on (`examples`: each article's feature values, label and event group;
never its text). `monitor train` writes one (monitor/training.py).

The model's *fingerprint* (`digest`) hashes only what decides a prediction (format, features,
means, scales, coefficients, intercept, threshold), so it names the model in the classifier
version: a retrained model marks stored classifications outdated, a re-dated copy does not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from monitor.classify.datafile import loaders
from monitor.classify.relevance import FEATURES
from monitor.errors import ConfigError

log = logging.getLogger(__name__)

FORMAT = "iraq-troop-monitor/relevance-logreg/1"
PACKAGED_FILE = "relevance_model.json"
_DECISIVE = ("format", "features", "mean", "scale", "coef", "intercept", "threshold")


@dataclass(frozen=True)
class Example:
    """One labelled article as the learned layer sees it: feature values, label, event group."""

    id: str
    group: str  # reports of one event share it (folds never split a group)
    y: int  # 1 on-topic, 0 off-topic
    x: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        """The example as stored in a model file."""
        return {"id": self.id, "group": self.group, "y": self.y, "x": list(self.x)}


@dataclass(frozen=True)
class RelevanceModel:
    """A fitted logistic regression on standardised features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)
    examples: tuple[Example, ...] = ()
    source: str = "<memory>"

    @cached_property
    def _folded(self) -> tuple[tuple[float, ...], float]:
        # Standardisation folded into the weights once: z = b + sum(w_i * x_i).
        weights = tuple(c / s for c, s in zip(self.coef, self.scale, strict=True))
        bias = self.intercept - sum(
            c * m / s for c, m, s in zip(self.coef, self.mean, self.scale, strict=True)
        )
        return weights, bias

    def logit(self, x: Sequence[float]) -> float:
        """The log-odds that the article is on-topic."""
        weights, z = self._folded
        for w, v in zip(weights, x, strict=True):
            z += w * v
        return z

    def probability(self, x: Sequence[float]) -> float:
        """P(on-topic) for one feature vector."""
        z = self.logit(x)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def contributions(self, x: Sequence[float]) -> dict[str, float]:
        """Each feature's share of the log-odds: coef * (x - mean) / scale."""
        return {
            name: round(c * (v - m) / s, 4)
            for name, c, v, m, s in zip(
                self.features, self.coef, x, self.mean, self.scale, strict=True
            )
        }

    def _decisive(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
        }

    @cached_property
    def digest(self) -> str:
        """The model's fingerprint: a hash of what decides its predictions (module doc)."""
        canonical = json.dumps(self._decisive(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]

    def to_json(self) -> str:
        """The model file: canonical JSON (sorted keys, one example per line), newline-ended."""
        head = {**self._decisive(), "meta": self.meta}
        text = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        rows = ",\n".join(
            json.dumps(e.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            for e in self.examples
        )
        if not rows:
            return text[:-1] + ',"examples":[]}\n'
        return text[:-1] + ',"examples":[\n' + rows + "\n]}\n"


def _floats(data: dict[str, Any], key: str, n: int, where: str) -> tuple[float, ...]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise ConfigError(f"relevance model {where}: {key!r} needs {n} numbers")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"relevance model {where}: {key!r} needs {n} numbers") from None


def parse_model(text: str, source: str = "<string>") -> RelevanceModel:
    """Validate a model file's text; raise ConfigError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"relevance model {source}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"relevance model {source}: 'format' is not {FORMAT!r}")
    names = data.get("features")
    if names != list(FEATURES):
        raise ConfigError(
            f"relevance model {source}: 'features' must be {list(FEATURES)} "
            f"(this code's features); retrain it with `monitor train`"
        )
    n = len(FEATURES)
    scale = _floats(data, "scale", n, source)
    if any(s <= 0 for s in scale):
        raise ConfigError(f"relevance model {source}: 'scale' values must be positive")
    try:
        intercept = float(data["intercept"])
        threshold = float(data["threshold"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"relevance model {source}: needs 'intercept' and 'threshold'") from None
    if not 0 <= threshold <= 1:
        raise ConfigError(f"relevance model {source}: 'threshold' must be within 0-1")
    examples = []
    for k, e in enumerate(data.get("examples") or []):
        try:
            x = tuple(float(v) for v in e["x"])
            examples.append(Example(str(e["id"]), str(e["group"]), int(e["y"]), x))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"relevance model {source}: example {k} is malformed") from None
        if len(x) != n or examples[-1].y not in (0, 1):
            raise ConfigError(f"relevance model {source}: example {k} is malformed")
    meta = data.get("meta") or {}
    return RelevanceModel(
        features=tuple(FEATURES),
        mean=_floats(data, "mean", n, source),
        scale=scale,
        coef=_floats(data, "coef", n, source),
        intercept=intercept,
        threshold=threshold,
        meta=meta if isinstance(meta, dict) else {},
        examples=tuple(examples),
        source=source,
    )


#: The packaged relevance model (cached), and `load_model(path)`: the file at `path`, or the
#: packaged one; cached, and read again when the file changes.
_packaged, load_model = loaders("relevance model", PACKAGED_FILE, parse_model)


@lru_cache(maxsize=16)
def warn_if_trained_elsewhere(model_digest: str, trained_with: str, taxonomy_digest: str) -> None:
    """Say once per process when a model meets a taxonomy it was not trained with."""
    del model_digest  # part of the cache key
    if trained_with and trained_with != taxonomy_digest:
        log.warning(
            "the relevance model was trained with taxonomy %s and is used with %s; "
            "retrain it (monitor train) so its features mean what they meant",
            trained_with,
            taxonomy_digest,
        )
