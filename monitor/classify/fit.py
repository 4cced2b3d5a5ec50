"""Fitting the learned layer, and measuring it honestly: numpy only.

The model is an L2-regularised logistic regression on standardised features with balanced class
weights — the objective scikit-learn's `LogisticRegression(C=C, class_weight="balanced")`
minimises (intercept not penalised):

    0.5 * |w|^2 + C * sum_i s_i * (log(1 + exp(z_i)) - y_i * z_i),   z_i = b + w . x_i

solved by Newton's method (eight parameters, a few hundred examples: milliseconds, and the same
answer every time). C is fixed at 1, the conventional default, not tuned on the labelled folder:
tuned by cross-validated log-loss it runs to the largest value tried, because on the development
folder every article that argues in its own voice is on-topic, and a sharper model only trusts
that more.

`cross_validate` is the honest figure: leave one event group out, fit on the other groups,
predict the held-out group, so no event is in both the data that fits and the data that judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.classify.model import Example, RelevanceModel
from monitor.classify.relevance import FEATURES

C = 1.0
THRESHOLD = 0.5
_ROUND = 8

Array = NDArray[np.float64]


def _standardise(x: Array) -> tuple[Array, Array]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0  # a constant feature: leave it as it is
    return mean, scale


def _class_weights(y: Array) -> Array:
    n = len(y)
    positives = float(y.sum())
    negatives = n - positives
    return np.where(y > 0.5, n / (2 * positives), n / (2 * negatives))


def _newton(z: Array, y: Array, s: Array, c: float) -> tuple[Array, float]:
    """Minimise the objective of the module doc on standardised inputs `z`."""
    n, d = z.shape
    a = np.hstack([np.ones((n, 1)), z])
    theta = np.zeros(d + 1)
    penalty = np.ones(d + 1)
    penalty[0] = 0.0  # the intercept is not penalised

    def objective(t: Array) -> float:
        logits = a @ t
        loss = np.logaddexp(0.0, logits) - y * logits
        return float(0.5 * np.sum(penalty * t * t) + c * np.sum(s * loss))

    current = objective(theta)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a @ theta)))
        grad = c * (a.T @ (s * (p - y))) + penalty * theta
        if np.max(np.abs(grad)) < 1e-9:
            break
        hess = c * (a.T * (s * p * (1 - p))) @ a + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-12 * np.eye(d + 1), grad)
        size = 1.0
        while size > 1e-10:  # backtracking: Newton steps can overshoot far from the optimum
            trial = theta - size * step
            value = objective(trial)
            if value <= current:
                theta, current = trial, value
                break
            size *= 0.5
        else:
            break
    return theta[1:], float(theta[0])


def fit_logistic(
    x: Array, y: Array, c: float = C, *, balanced: bool = True
) -> tuple[Array, Array, Array, float]:
    """(mean, scale, coefficients, intercept) of the objective above on raw features `x`;
    without `balanced`, every example weighs the same (probabilities keep the base rate)."""
    mean, scale = _standardise(x)
    weights = _class_weights(y) if balanced else np.ones(len(y))
    coef, intercept = _newton((x - mean) / scale, y, weights, c)
    return mean, scale, coef, intercept


def fit(
    examples: Sequence[Example],
    c: float = C,
    *,
    threshold: float = THRESHOLD,
    meta: dict[str, Any] | None = None,
) -> RelevanceModel:
    """The model fitted on these examples with this C (values rounded as the file stores them)."""
    x = np.array([e.x for e in examples], dtype=np.float64)
    y = np.array([e.y for e in examples], dtype=np.float64)
    mean, scale = _standardise(x)
    if len(set(y.tolist())) < 2:
        raise ValueError("training needs on-topic and off-topic examples")
    coef, intercept = _newton((x - mean) / scale, y, _class_weights(y), c)

    def rounded(values: Array) -> tuple[float, ...]:
        return tuple(round(float(v), _ROUND) for v in values)

    return RelevanceModel(
        features=FEATURES,
        mean=rounded(mean),
        scale=rounded(scale),
        coef=rounded(coef),
        intercept=round(intercept, _ROUND),
        threshold=threshold,
        meta=dict(meta or {}),
        examples=tuple(examples),
    )


def cross_validate(examples: Sequence[Example], c: float = C) -> dict[str, float]:
    """Leave one event group out: each example's probability from a model fitted without its
    group (example id -> probability)."""
    out: dict[str, float] = {}
    for group in sorted({e.group for e in examples}):
        train = [e for e in examples if e.group != group]
        test = [e for e in examples if e.group == group]
        if len({e.y for e in train}) < 2:
            share = sum(e.y for e in train) / max(1, len(train))
            out.update({e.id: share for e in test})
            continue
        model = fit(train, c)
        out.update({e.id: model.probability(e.x) for e in test})
    return out
