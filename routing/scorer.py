"""The learned tier scorer: a linear model over hashed word and character n-grams plus the turn's signals.

Keyword lists learn the phrasings of whoever wrote them; the character n-grams of each word, with the size and
shape signals of routing/signals.py, carry over to turns nobody here wrote. The weights are trained from the
labelled corpus by `tiergate train-routing` (routing/training.py) and shipped as one small file
(`routing/scorer_model.bin`). Scoring is pure Python: a look-up per distinct word and per other feature, each
word's and feature's packed weights remembered after their first use.

The file is read once when the router is built; `score` and `probabilities` depend on nothing else.
"""

from __future__ import annotations

import copy
import json
import math
import re
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise

from routing.signals import Signals, read_signals
from routing.text import HEAD_CHARS, TurnText, fold, normalise, read_text, tail

#: Earlier user turns whose words count as context (prefixed "ctx:").
CONTEXT_TURNS = 2
BUNDLED_MODEL = "scorer_model.bin"
_DIGITS = re.compile(r"\d")
#: Character n-gram sizes over each normalised word, its boundaries included (" word ").
CHAR_NGRAMS = (4,)
ASSISTANT_CONTEXT = True
#: Weights in fixed point (1/65536 apart) in 32-bit lanes: |weight| < 32 over thousands of features still fits.
_FIXED_POINT = 1 << 16
_LANE_BITS = 32
_LANE_MASK = (1 << _LANE_BITS) - 1
_HALF_LANE = 1 << (_LANE_BITS - 1)
#: Keys each remembered table keeps (about 25 MB each at most).
_REMEMBERED_MAX = 1 << 18
#: The context signals of a first turn; built once, as a frozen dataclass costs microseconds to build.
_NO_SIGNALS = Signals()


@dataclass(frozen=True)
class TurnFeatures:
    """A turn's features: its distinct words, each standing for its word feature and character n-grams (see
    word_features), the other feature names, and its signals (for the reasons)."""

    words: list[str]
    names: list[str]
    signals: Signals
    context_signals: Signals

    def all_names(self) -> list[str]:
        """Every feature, a word's n-grams once per distinct word that has them: what the model is trained on."""
        return [name for word in self.words for name in word_features(word)] + self.names


def word_features(word: str) -> list[str]:
    """A word's own feature and the character n-grams of the word with its boundaries (" word ")."""
    bounded = f" {word} "
    return [f"w:{word}", *(bounded[i:i + n] for n in CHAR_NGRAMS for i in range(len(bounded) - n + 1))]


def turn_features(texts: Sequence[str], extra: Iterable[str] = (), reply: str = "",
                  last: TurnText | None = None) -> TurnFeatures:
    """Features of the last user text, with context from the earlier ones (oldest first) and from the assistant's
    last reply before it (what the customer answers: a price quoted, a question asked). `last` is the last text
    as read_text reads it, when the caller has it already."""
    if last is None:
        last = read_text(texts[-1] if texts else "")
    text, folded = last.text, last.folded
    words = last.padded.split()
    names = [f"b:{a}_{b}" for a, b in pairwise(words)]
    names.append(f"len:{_bucket(len(text), (20, 60, 140, 300, 600))}")
    names.append(f"q:{min(text.count('?'), 3)}")
    names.append(f"digits:{min(len(_DIGITS.findall(folded)), 12) // 3}")
    signals = read_signals(folded)
    names += signals.features()
    context = _NO_SIGNALS
    earlier = texts[-1 - CONTEXT_TURNS:-1]
    if earlier:
        earlier_folded = tail(fold(" ".join(earlier)), HEAD_CHARS)
        names += [f"ctx:{w}" for w in normalise("", earlier_folded).split()]
        context = read_signals(earlier_folded)
        names += context.features("ctx_")
        names.append(f"turns:{min(len(texts), 4)}")
    if reply and ASSISTANT_CONTEXT:
        names += [f"asst:{w}" for w in normalise(tail(reply, HEAD_CHARS)).split()]
    names += extra
    return TurnFeatures(list(dict.fromkeys(words)), list(dict.fromkeys(names)), signals, context)


class Scorer:
    """Class probabilities for tiers 1-4 from hashed features (multinomial logistic regression)."""

    def __init__(self, weights: array, buckets: int, under_risk: float, info: dict[str, object],
                 premium_risk: float | None = None) -> None:
        self._weights = weights  # buckets rows of 4 weights, then the 4 biases
        self._buckets = buckets
        self._packed = [_pack(weights[row:row + 4]) for row in range(0, buckets * 4 + 4, 4)]  # the biases last
        #: feature name -> its packed row; word -> the sum of its word_features' rows
        self._rows = _Remembered(self._packed_row)
        # a word's n-gram rows are summed from the table, not remembered one by one: they would crowd the other
        # features out of `_rows`, which is cleared when full
        self._word_rows = _Remembered(lambda word: sum(map(self._packed_row, word_features(word))))
        self.under_risk = under_risk
        #: tier 4 as soon as its probability reaches this: a negotiation sent to a cheap model costs the sale
        self.premium_risk = under_risk if premium_risk is None else premium_risk
        self.info = info

    def _packed_row(self, name: str) -> int:
        return self._packed[feature_index(name, self._buckets)]

    @classmethod
    def from_bytes(cls, data: bytes) -> Scorer:
        header, _, body = data.partition(b"\n")
        info = json.loads(header)
        weights = array("f")
        weights.frombytes(zlib.decompress(body))
        if len(weights) != info["buckets"] * 4 + 4:
            raise ValueError("scorer model: weight count does not match its header")
        return cls(weights, int(info["buckets"]), float(info["under_risk"]), info,
                   float(info.get("premium_risk", info["under_risk"])))

    @classmethod
    def bundled(cls) -> Scorer:
        return cls.from_bytes(resources.files("routing").joinpath(BUNDLED_MODEL).read_bytes())

    def with_risks(self, under_risk: float, premium_risk: float | None = None) -> Scorer:
        """The same model with other thresholds (sharing its packed rows); without `premium_risk`, both are
        `under_risk`."""
        scorer = copy.copy(self)
        scorer.under_risk = under_risk
        scorer.premium_risk = under_risk if premium_risk is None else premium_risk
        return scorer

    def to_bytes(self) -> bytes:
        header = json.dumps({**self.info, "buckets": self._buckets, "under_risk": self.under_risk,
                             "premium_risk": self.premium_risk}).encode()
        return header + b"\n" + zlib.compress(self._weights.tobytes(), 9)

    def probabilities(self, names: Iterable[str]) -> list[float]:
        """The tiers' probabilities for a list of feature names (a name listed twice counts twice)."""
        return _softmax(_unpack(self._packed[-1] + sum(map(self._rows.__getitem__, names))))

    def score(self, features: TurnFeatures) -> list[float]:
        """`probabilities(features.all_names())`, faster: a word's features are summed once and remembered, so a
        turn costs a look-up per word rather than one per character n-gram."""
        total = self._packed[-1] + sum(map(self._word_rows.__getitem__, features.words))
        return _softmax(_unpack(total + sum(map(self._rows.__getitem__, features.names))))

    def tier(self, probabilities: Sequence[float]) -> int:
        """The cheapest tier whose risk of being too low (the chance the turn needs a higher one) is at most
        `under_risk`: under-routing a negotiation costs more than over-routing a greeting."""
        if probabilities[3] >= self.premium_risk:
            return 4
        above = 1.0
        for tier, p in enumerate(probabilities, start=1):
            above -= p
            if above <= self.under_risk:
                return tier
        return 4


def feature_index(name: str, buckets: int) -> int:
    """The hashed row of a feature (training and scoring share it)."""
    return zlib.crc32(name.encode()) & (buckets - 1)


class _Remembered(dict[str, int]):
    """A packed row per key, computed on first sight by `compute` and remembered (most words and features recur
    from turn to turn). Bounded, so arbitrary text cannot grow it forever."""

    def __init__(self, compute: Callable[[str], int]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> int:
        if len(self) >= _REMEMBERED_MAX:
            self.clear()
        row = self[key] = self._compute(key)
        return row


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _pack(weights: Sequence[float]) -> int:
    """Four weights as one integer, each in fixed point in its own 32-bit lane: adding packed rows adds every lane
    at once, in C, instead of four float additions per feature in Python."""
    return sum(round(w * _FIXED_POINT) << (_LANE_BITS * lane) for lane, w in enumerate(weights))


def _unpack(packed: int) -> list[float]:
    """The four lanes of a sum of packed rows (each lane's sum is far inside ±2^31), as floats."""
    lanes = []
    for _ in range(4):
        lane = ((packed + _HALF_LANE) & _LANE_MASK) - _HALF_LANE  # signed: a negative lane borrowed from the next
        lanes.append(lane / _FIXED_POINT)
        packed = (packed - lane) >> _LANE_BITS
    return lanes


def _bucket(value: int, bounds: tuple[int, ...]) -> int:
    return next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
