"""The `routing:` section of the config, parsed into frozen dataclasses.

Every bad value raises ValueError naming its key path (`routing.complexity.thresholds.tier3: ...`), so a bad
config stops the start with a message the operator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.text import KeywordSet, Vocabulary, normalise

TIERS = ("tier1", "tier2", "tier3", "tier4")
#: Signals that set a lowest tier by default (the labelling guide's rules for negotiation and tier 3).
DEFAULT_SIGNAL_FLOOR_NAMES = {"counter_offer": "tier4", "chain": "tier4", "large_amount": "tier4", "problem": "tier3",
                              "complaint": "tier3"}
DEFAULT_SIGNAL_FLOORS = {name: int(tier.removeprefix("tier")) for name, tier in DEFAULT_SIGNAL_FLOOR_NAMES.items()}
#: Earlier-turn intents a short follow-up keeps when the scorer decides (see ScorerSettings).
DEFAULT_CARRIED_INTENTS = frozenset({"negotiation"})
FEATURES = ("chars_per_100", "question", "list_item", "code", "number", "money", "comparison",
            "technical_term", "commercial_term", "depth")


@dataclass(frozen=True)
class QuantityRule:
    """A number followed by one of `units` ("45 lojas", "1,000 seats") at least `minimum` counts as strong."""

    minimum: float
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class IntentRule:
    """How one intent is detected: keywords score 1; strong keywords, quantities and code output score 3.

    An intent scoring under `min_score` is not detected (one technical noun in a sales question is no ticket).
    """

    name: str
    keywords: KeywordSet
    strong: KeywordSet
    max_words: int | None = None
    quantity: QuantityRule | None = None
    code_output: bool = False
    min_score: int = 1


@dataclass(frozen=True)
class ComplexitySettings:
    weights: Mapping[str, float]
    caps: Mapping[str, float]
    thresholds: tuple[tuple[int, float], ...]  # (tier, minimum score), highest tier first
    max_raise: int
    technical_terms: KeywordSet
    commercial_terms: KeywordSet
    comparison_terms: KeywordSet


@dataclass(frozen=True)
class CustomerValueSettings:
    vip_min_tier: int
    vip_customer_tiers: frozenset[str]
    vip_customers: Mapping[str, frozenset[str]]
    lead_value_tiers: tuple[tuple[float, int], ...]  # (minimum lead value, tier), highest value first


@dataclass(frozen=True)
class StickinessSettings:
    ttl_seconds: int
    max_drop: int
    follow_up_max_chars: int
    follow_up_intents: frozenset[str]


@dataclass(frozen=True)
class ScorerSettings:
    """The learned scorer (routing/scorer.py): `model` is "builtin" (the shipped file) or "off" (keywords and
    complexity alone); `under_risk` overrides the model's own threshold when set; `signal_floors` is the
    lowest tier of a turn that shows a signal (routing/signals.py): a counter-offer, something broken, an
    unhappy customer; the labelling guide's rules that no phrasing may escape. `carried_intents` are the
    earlier-turn intents whose tier a short follow-up without an intent of its own still keeps: the scorer reads
    the conversation itself, and in leave-business-out the carried tier was mostly wrong except for a
    negotiation."""

    model: str
    under_risk: float | None
    signal_floors: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SIGNAL_FLOORS))
    carried_intents: frozenset[str] = DEFAULT_CARRIED_INTENTS


@dataclass(frozen=True)
class RoutingSettings:
    default_tier: int
    intent_tiers: Mapping[str, int]
    intents: tuple[IntentRule, ...]  # detection order breaks ties: higher tier first
    vocabulary: Vocabulary  # every keyword list above, scanned once per text
    context_max_chars: int
    complexity: ComplexitySettings
    customer_value: CustomerValueSettings
    stickiness: StickinessSettings
    scorer: ScorerSettings = field(default_factory=lambda: ScorerSettings("builtin", None))


def parse_routing_settings(raw: Mapping[str, Any] | None) -> RoutingSettings:
    """Validate the raw `routing:` mapping; ValueError names the key path of the first bad value."""
    section = _mapping(raw or {}, "routing")
    _only(section, _KNOWN_KEYS, "routing")
    intent_tiers = {name: _tier(value, f"routing.intent_tiers.{name}")
                    for name, value in _mapping(section.get("intent_tiers", {}), "routing.intent_tiers").items()}
    vocabulary = Vocabulary()
    intents = _intents(section.get("intents", {}), intent_tiers, vocabulary)
    return RoutingSettings(
        default_tier=_tier(section.get("default_tier", "tier2"), "routing.default_tier"),
        intent_tiers=intent_tiers,
        intents=intents,
        vocabulary=vocabulary,
        context_max_chars=_int(section.get("context_max_chars", 80), "routing.context_max_chars", 0),
        complexity=_complexity(_mapping(section.get("complexity", {}), "routing.complexity"), vocabulary),
        customer_value=_customer_value(_mapping(section.get("customer_value", {}), "routing.customer_value")),
        stickiness=_stickiness(_mapping(section.get("stickiness", {}), "routing.stickiness")),
        scorer=_scorer(_mapping(section.get("scorer", {}), "routing.scorer"), intent_tiers),
    )


_KNOWN_KEYS = {"default_tier", "intent_tiers", "intents", "context_max_chars", "complexity", "customer_value",
               "stickiness", "scorer"}


def _intents(raw: Any, intent_tiers: Mapping[str, int], vocabulary: Vocabulary) -> tuple[IntentRule, ...]:
    rules = []
    for name, spec in _mapping(raw, "routing.intents").items():
        path = f"routing.intents.{name}"
        if name not in intent_tiers:
            raise ValueError(f"{path}: intent has no tier in routing.intent_tiers")
        spec = _mapping(spec, path)
        _only(spec, {"keywords", "strong", "max_words", "quantity", "code_output", "min_score"}, path)
        max_words = spec.get("max_words")
        rules.append(IntentRule(
            name=name,
            keywords=_keywords(vocabulary, spec, "keywords", path),
            strong=_keywords(vocabulary, spec, "strong", path),
            max_words=None if max_words is None else _int(max_words, f"{path}.max_words", 1),
            quantity=_quantity_rule(spec.get("quantity"), f"{path}.quantity"),
            code_output=_bool(spec.get("code_output", False), f"{path}.code_output"),
            min_score=_int(spec.get("min_score", 1), f"{path}.min_score", 1),
        ))
    return tuple(sorted(rules, key=lambda rule: -intent_tiers[rule.name]))


def _quantity_rule(raw: Any, path: str) -> QuantityRule | None:
    if raw is None:
        return None
    spec = _mapping(raw, path)
    _only(spec, {"min", "units"}, path)
    units = [normalise(unit.removesuffix("*")).strip() + (r"\w*" if unit.endswith("*") else r"\b")
             for unit in _strings(spec.get("units", []), f"{path}.units")]
    if not units:
        raise ValueError(f"{path}.units: must name at least one unit")
    alternatives = "|".join(sorted(units, key=len, reverse=True))
    pattern = re.compile(rf"(\d[\d.,]*\d|\d)\s*(mil\s+|k\s+)?(?:-\s*)?(?:{alternatives})")
    return QuantityRule(_number(spec.get("min", 20), f"{path}.min", 1), pattern)


def _complexity(section: Mapping[str, Any], vocabulary: Vocabulary) -> ComplexitySettings:
    path = "routing.complexity"
    _only(section, {"weights", "caps", "thresholds", "max_raise", "technical_terms", "commercial_terms",
                    "comparison_terms"}, path)
    weights = _feature_numbers(section.get("weights", {}), f"{path}.weights")
    caps = _feature_numbers(section.get("caps", {}), f"{path}.caps")
    thresholds = [(_tier(tier, f"{path}.thresholds"), _number(score, f"{path}.thresholds.{tier}"))
                  for tier, score in _mapping(section.get("thresholds", {}), f"{path}.thresholds").items()]
    thresholds.sort(reverse=True)
    scores = [score for _, score in thresholds]
    if scores != sorted(scores, reverse=True):
        raise ValueError(f"{path}.thresholds: a higher tier must need a higher score; got {dict(thresholds)}")
    return ComplexitySettings(
        weights=weights, caps=caps, thresholds=tuple(thresholds),
        max_raise=_int(section.get("max_raise", 1), f"{path}.max_raise", 0, 3),
        technical_terms=_keywords(vocabulary, section, "technical_terms", path),
        commercial_terms=_keywords(vocabulary, section, "commercial_terms", path),
        comparison_terms=_keywords(vocabulary, section, "comparison_terms", path),
    )


def _customer_value(section: Mapping[str, Any]) -> CustomerValueSettings:
    path = "routing.customer_value"
    _only(section, {"vip_min_tier", "vip_customer_tiers", "vip_customers", "lead_value_tiers"}, path)
    vip_customers = {
        str(org): frozenset(_strings(ids, f"{path}.vip_customers.{org}"))
        for org, ids in _mapping(section.get("vip_customers", {}), f"{path}.vip_customers").items()}
    lead_tiers = [(_number(amount, f"{path}.lead_value_tiers.{tier}", 0), _tier(tier, f"{path}.lead_value_tiers"))
                  for tier, amount in _mapping(section.get("lead_value_tiers", {}),
                                               f"{path}.lead_value_tiers").items()]
    return CustomerValueSettings(
        vip_min_tier=_tier(section.get("vip_min_tier", "tier3"), f"{path}.vip_min_tier"),
        vip_customer_tiers=frozenset(s.lower() for s in _strings(section.get("vip_customer_tiers", ["vip"]),
                                                                 f"{path}.vip_customer_tiers")),
        vip_customers=vip_customers,
        lead_value_tiers=tuple(sorted(lead_tiers, reverse=True)),
    )


def _stickiness(section: Mapping[str, Any]) -> StickinessSettings:
    path = "routing.stickiness"
    _only(section, {"ttl_seconds", "max_drop", "follow_up_max_chars", "follow_up_intents"}, path)
    return StickinessSettings(
        ttl_seconds=_int(section.get("ttl_seconds", 1800), f"{path}.ttl_seconds", 0),
        max_drop=_int(section.get("max_drop", 1), f"{path}.max_drop", 0, 3),
        follow_up_max_chars=_int(section.get("follow_up_max_chars", 60), f"{path}.follow_up_max_chars", 0),
        follow_up_intents=frozenset(_strings(section.get("follow_up_intents", ["closing", "small_talk"]),
                                             f"{path}.follow_up_intents")),
    )


def _scorer(section: Mapping[str, Any], intent_tiers: Mapping[str, int]) -> ScorerSettings:
    path = "routing.scorer"
    _only(section, {"model", "under_risk", "signal_floors", "carried_intents"}, path)
    model = section.get("model", "builtin")
    if model is False:  # YAML reads an unquoted `off` as false
        model = "off"
    if model not in ("builtin", "off"):
        raise ValueError(f"{path}.model: must be builtin or off, got {model!r}")
    risk = section.get("under_risk")
    if risk is not None and not (isinstance(risk, int | float) and not isinstance(risk, bool) and 0 < risk < 1):
        raise ValueError(f"{path}.under_risk: must be a number between 0 and 1, got {risk!r}")
    raw = _mapping(section.get("signal_floors", DEFAULT_SIGNAL_FLOOR_NAMES), f"{path}.signal_floors")
    floors = {}
    for name, tier in raw.items():
        if name not in DEFAULT_SIGNAL_FLOORS:
            raise ValueError(f"{path}.signal_floors.{name}: unknown signal ({', '.join(DEFAULT_SIGNAL_FLOORS)})")
        if tier is not None:
            floors[name] = _tier(tier, f"{path}.signal_floors.{name}")
    carried = frozenset(_strings(section.get("carried_intents", sorted(DEFAULT_CARRIED_INTENTS & intent_tiers.keys())),
                                 f"{path}.carried_intents"))
    unknown = sorted(carried - intent_tiers.keys())
    if unknown:
        raise ValueError(f"{path}.carried_intents: {unknown[0]!r} is not in routing.intent_tiers")
    return ScorerSettings(model, None if risk is None else float(risk), floors, carried)


# --- value checks ----------------------------------------------------------------------------------------


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: must be a mapping, got {type(value).__name__}")
    return value


def _only(section: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown key; expected one of {', '.join(sorted(allowed))}")


def _tier(value: Any, path: str) -> int:
    if value not in TIERS:
        raise ValueError(f"{path}: must be one of {', '.join(TIERS)}, got {value!r}")
    return int(str(value).removeprefix("tier"))


def _number(value: Any, path: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{path}: must be >= {minimum}, got {value!r}")
    return float(value)


def _int(value: Any, path: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{path}: must be an integer {bounds}, got {value!r}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: must be true or false, got {value!r}")
    return value


def _strings(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str | int) for item in value):
        raise ValueError(f"{path}: must be a list of strings")
    return [str(item) for item in value]


def _keywords(vocabulary: Vocabulary, section: Mapping[str, Any], name: str, path: str) -> KeywordSet:
    return vocabulary.add(f"{path}.{name}", _strings(section.get(name, []), f"{path}.{name}"))


def _feature_numbers(value: Any, path: str) -> dict[str, float]:
    numbers = {}
    for name, number in _mapping(value, path).items():
        if name not in FEATURES:
            raise ValueError(f"{path}.{name}: unknown feature; expected one of {', '.join(FEATURES)}")
        numbers[name] = _number(number, f"{path}.{name}", 0)
    return numbers
