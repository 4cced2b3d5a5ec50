"""The learned decisions of stories and storylines: logistic regressions over pair evidence.

A `PairModel` turns the evidence two items share (two reports for stories, pairs.py; a story
and a thread it may continue, storylines.py) into the probability that they belong together,
and holds the `threshold` of that decision: for stories, of average linkage (two groups are one
while the mean probability over their member pairs reaches it); for storylines, of a story
joining the thread it most likely continues rather than opening a new one. A story model may
carry a second regression, `across`: the probability that two reports in different languages
(writing systems) are of one event, from evidence that needs no shared words (canonical actors
and places, concepts, figures, event types, dates), with its own, stricter threshold
(clustering.py). It is fitted by `monitor.evaluate.grouping` (stories) and
`monitor.evaluate.threads` (storylines) from labelled folders (`python -m
monitor.stories.train`), and shipped as canonical JSON next to this module (`story_model.json`,
`storyline_model.json`): feature names, means and scales, coefficients, intercept, threshold,
and how it was trained (`meta`). Never a text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from monitor.errors import ConfigError

FORMAT = "iraq-troop-monitor/pair-logreg/1"
Kind = Literal["stories", "storylines"]
PACKAGED = {"stories": "story_model.json", "storylines": "storyline_model.json"}
_ROUND = 8

Array = NDArray[np.float64]


@dataclass(frozen=True)
class PairModel:
    """A fitted logistic regression over pair features, and its linkage threshold."""

    kind: Kind
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)
    across: PairModel | None = None  # reports in two languages (stories only)

    @cached_property
    def _folded(self) -> tuple[Array, float]:
        # Standardisation folded into the weights once: z = b + sum(w_i * x_i).
        weights = np.array(self.coef) / np.array(self.scale)
        return weights, float(self.intercept - float(weights @ np.array(self.mean)))

    def logits(self, columns: Mapping[str, Array]) -> Array:
        """Log-odds of every pair, from one column of values per feature."""
        weights, bias = self._folded
        out: Array | None = None
        for name, w in zip(self.features, weights, strict=True):
            term = w * np.asarray(columns[name], dtype=np.float64)
            out = term if out is None else out + term
        if out is None:
            raise ValueError("a pair model needs at least one feature")
        return out + bias

    def probabilities(self, columns: Mapping[str, Array]) -> Array:
        """The probability that each pair belongs together."""
        z = np.clip(self.logits(columns), -60.0, 60.0)
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def weights(self) -> dict[str, float]:
        """Each feature's weight per unit of its raw value (for reading the model)."""
        weights, _ = self._folded
        return {name: round(float(w), 4) for name, w in zip(self.features, weights, strict=True)}

    @property
    def digest(self) -> str:
        """Fingerprint of what decides a prediction (not the meta)."""
        decisive = {k: v for k, v in self._as_dict().items() if k != "meta"}
        blob = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:10]

    def _as_dict(self) -> dict[str, Any]:
        out = {
            "format": FORMAT,
            "kind": self.kind,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "meta": self.meta,
        }
        if self.across is not None:
            out["across"] = {k: v for k, v in self.across._as_dict().items() if k != "format"}
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), as shipped."""
        return json.dumps(self._as_dict(), sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> PairModel:
        """Parse and check a model file."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            return cls._from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"pair model {source}: {exc}") from exc

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> PairModel:
        kind = data["kind"]
        if kind not in PACKAGED:
            raise ValueError(f"kind {kind!r} is neither stories nor storylines")
        features = tuple(str(f) for f in data["features"])
        vectors = [tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coef")]
        if any(len(v) != len(features) for v in vectors):
            raise ValueError("mean, scale and coef must have one value per feature")
        across = data.get("across")
        if across is not None and kind != "stories":
            raise ValueError("only a story model links reports across languages")
        return cls(
            kind,
            features,
            vectors[0],
            vectors[1],
            vectors[2],
            float(data["intercept"]),
            float(data["threshold"]),
            dict(data.get("meta") or {}),
            cls._from_dict(across) if across is not None else None,
        )


def fit_pair_model(
    kind: Kind,
    features: Sequence[str],
    x: Array,
    y: Array,
    *,
    threshold: float,
    c: float = 1.0,
    meta: Mapping[str, Any] | None = None,
) -> PairModel:
    """Fit the regression on pair rows `x` (one column per feature) with labels `y`.

    Unweighted: the probabilities keep the base rate of the pairs it was fitted on, so the
    mean probability between two groups reads as the share of their pairs that belong together.
    """
    from monitor.classify.fit import fit_logistic

    if len(set(y.tolist())) < 2:
        raise ConfigError(
            f"cannot fit the {kind} pair model: the labelled data give no pairs that belong "
            "together or none that do not (more events, or storylines of one kind within a "
            "year, are needed)"
        )
    mean, scale, coef, intercept = fit_logistic(x, y, c, balanced=False)

    def rounded(values: Array) -> tuple[float, ...]:
        return tuple(round(float(v), _ROUND) for v in values)

    return PairModel(
        kind,
        tuple(features),
        rounded(mean),
        rounded(scale),
        rounded(coef),
        round(float(intercept), _ROUND),
        round(float(threshold), 4),
        dict(meta or {}),
    )


@cache
def _packaged(kind: Kind) -> PairModel:
    text = resources.files("monitor.stories").joinpath(PACKAGED[kind]).read_text("utf-8")
    return PairModel.from_json(text, f"packaged {PACKAGED[kind]}")


def load_pair_model(kind: Kind, path: Path | None = None) -> PairModel:
    """The packaged model of this kind, or the one in `path`."""
    if path is None:
        return _packaged(kind)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pair model {path}: cannot read: {exc}") from exc
    model = PairModel.from_json(text, str(path))
    if model.kind != kind:
        raise ConfigError(f"pair model {path}: a model of {model.kind}, not of {kind}")
    return model
