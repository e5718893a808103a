"""Training the tier scorer (routing/scorer.py) from labelled turns, and cross-validating it by business.

Offline only (`tiergate train-routing`, `tiergate eval-routing --cross-validate`): it needs numpy, which the
gateway's request path never imports. A multinomial logistic regression with L2, fitted by full-batch Adam on
hashed sparse features: a few seconds for a few thousand turns, the same result for the same data.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from routing.scorer import Scorer, feature_index

DEFAULT_BUCKETS = 1 << 15


@dataclass(frozen=True)
class Example:
    features: list[str]
    tier: int  # 1-4
    group: str  # the business: cross-validation never splits one across training and test


def fit(examples: Sequence[Example], buckets: int = DEFAULT_BUCKETS, l2: float = 3e-4, steps: int = 300,
        learning_rate: float = 0.05, under_risk: float = 0.25, premium_risk: float = 0.2,
        info: dict[str, object] | None = None) -> Scorer:
    import numpy as np

    indices, rows = _sparse(examples, buckets)
    labels = np.array([e.tier - 1 for e in examples])
    count = len(examples)
    counts = np.bincount(labels, minlength=4).astype(float)
    sample_weight = (count / (4 * np.maximum(counts, 1)))[labels]  # balanced classes
    onehot = np.eye(4)[labels]
    weights = np.zeros((buckets, 4))
    bias = np.zeros(4)
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros(4), np.zeros(4)]
    for step in range(1, steps + 1):
        logits = np.zeros((count, 4))
        for c in range(4):
            logits[:, c] = np.bincount(rows, weights=weights[indices, c], minlength=count)
        logits += bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        residual = (probs - onehot) * sample_weight[:, None] / count
        grad_w = np.stack([np.bincount(indices, weights=residual[rows, c], minlength=buckets)
                           for c in range(4)], axis=1) + l2 * weights
        grad_b = residual.sum(axis=0)
        for param, grad, m, v in ((weights, grad_w, moments[0], moments[1]), (bias, grad_b, moments[2], moments[3])):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= learning_rate * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    flat = array("f", np.concatenate([weights.reshape(-1), bias]).astype(np.float32).tobytes())
    return Scorer(flat, buckets, under_risk, dict(info or {}), premium_risk)


def _sparse(examples: Sequence[Example], buckets: int) -> tuple[object, object]:
    import numpy as np

    indices: list[int] = []
    rows: list[int] = []
    for row, example in enumerate(examples):
        features = [feature_index(name, buckets) for name in example.features]  # each counted, as Scorer.probabilities
        indices.extend(features)
        rows.extend([row] * len(features))
    return np.array(indices), np.array(rows)
