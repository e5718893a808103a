"""The `routing:` section: the default loads, and every bad value is refused with its key path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from routing import Router
from routing.settings import parse_routing_settings
from routing.text import Vocabulary, normalise

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml"
RAW: dict[str, Any] = load_settings(DEFAULT).routing


def test_the_default_section_parses_with_every_intent_mapped_and_detectable() -> None:
    settings = parse_routing_settings(RAW)
    assert settings.default_tier == 2
    assert settings.intent_tiers["negotiation"] == 4
    assert {rule.name for rule in settings.intents} == set(settings.intent_tiers)
    assert [t for t, _ in settings.complexity.thresholds] == [3, 2]
    assert settings.customer_value.vip_min_tier == 3
    assert settings.stickiness.max_drop == 1


def test_the_scorer_is_turned_off_by_an_unquoted_yaml_off(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT.read_text().replace("model: builtin ", "model: off "))
    routing = load_settings(config).routing
    assert routing["scorer"]["model"] is False  # what YAML makes of it
    assert parse_routing_settings(routing).scorer.model == "off"


def test_an_empty_section_still_routes_on_defaults() -> None:
    settings = parse_routing_settings({})
    assert (settings.default_tier, settings.intents, settings.stickiness.ttl_seconds) == (2, (), 1800)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


BAD: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (_set("default_tier", "tier5"), "routing.default_tier: must be one of tier1, tier2, tier3, tier4, got 'tier5'"),
    (_set("intent_tiers.negotiation", 4), "routing.intent_tiers.negotiation: must be one of"),
    (_set("intents.faq.keywords", "horario"), "routing.intents.faq.keywords: must be a list of strings"),
    (_set("intents.faq.max_words", 0), "routing.intents.faq.max_words: must be an integer >= 1"),
    (_set("intents.faq.typo", []), "routing.intents.faq.typo: unknown key"),
    (_set("intents.pricing", {"keywords": ["preco"]}),
     "routing.intents.pricing: intent has no tier in routing.intent_tiers"),
    (_set("intents.faq.keywords", ["a* b"]), "routing.intents.faq.keywords: 'a* b': only the last word may end"),
    (_set("intents.faq.keywords", ["x*"]), "routing.intents.faq.keywords: 'x*': a stem needs at least two"),
    (_set("intents.faq.keywords", ["!!"]), "routing.intents.faq.keywords: '!!': empty, or starts with #"),
    (_set("intents.faq.keywords", ["# por"]), "routing.intents.faq.keywords: '# por': empty, or starts with #"),
    (_set("intents.technical_support.code_output", "yes"),
     "routing.intents.technical_support.code_output: must be true or false"),
    (_set("intents.high_value_lead.quantity.units", []),
     "routing.intents.high_value_lead.quantity.units: must name at least one unit"),
    (_set("intents.high_value_lead.quantity.min", "20"),
     "routing.intents.high_value_lead.quantity.min: must be a number"),
    (_set("complexity.weights.sentiment", 1.0), "routing.complexity.weights.sentiment: unknown feature"),
    (_set("complexity.weights.question", -1), "routing.complexity.weights.question: must be >= 0"),
    (_set("complexity.thresholds", {"tier2": 5.0, "tier3": 1.0}),
     "routing.complexity.thresholds: a higher tier must need a higher score"),
    (_set("complexity.thresholds", {"tier9": 5.0}), "routing.complexity.thresholds: must be one of"),
    (_set("complexity.max_raise", 7), "routing.complexity.max_raise: must be an integer between 0 and 3"),
    (_set("customer_value.vip_min_tier", "gold"), "routing.customer_value.vip_min_tier: must be one of"),
    (_set("customer_value.vip_customers", ["cust_1"]), "routing.customer_value.vip_customers: must be a mapping"),
    (_set("customer_value.lead_value_tiers", {"tier4": "lots"}),
     "routing.customer_value.lead_value_tiers.tier4: must be a number"),
    (_set("stickiness.ttl_seconds", -5), "routing.stickiness.ttl_seconds: must be an integer >= 0"),
    (_set("stickiness.max_drop", True), "routing.stickiness.max_drop: must be an integer"),
    (_set("length_thresholds", {"tier2": 80}), "routing.length_thresholds: unknown key"),
    (_set("scorer.carried_intents", ["pricing"]), "routing.scorer.carried_intents: 'pricing' is not in"),
    (_set("scorer.carried_intents", "negotiation"), "routing.scorer.carried_intents: must be a list of strings"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_value_is_refused_naming_its_key_path(mutate: Callable[[dict[str, Any]], None],
                                                     message: str) -> None:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ValueError) as caught:
        parse_routing_settings(raw)
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_router_refuses_a_bad_section_at_construction() -> None:
    with pytest.raises(ValueError, match=r"routing\.default_tier"):
        Router({"default_tier": "premium"}, [], {})


# --- text and keywords ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "normal"), [
    ("Olá, TUDO bem?", " ola tudo bem "),
    ("Oiiiii 😊😊", " oi "),
    ("holaa!!", " hola "),
    ("Ação à vista: R$ 2.500,00 (10%)", " acao a vista r$ 2 500 00 10% "),
    ("não\tsei\n\nnada", " nao sei nada "),
    ("", "  "),
])
def test_text_is_normalised_once_for_matching(text: str, normal: str) -> None:
    assert normalise(text) == normal


def test_keywords_match_whole_words_stems_and_phrases_written_with_or_without_accents() -> None:
    vocabulary = Vocabulary()
    words = vocabulary.add("w", ["oi", "descont*", "bom dia", "se eu fech*", "negociação", "faz # por #"])
    found = vocabulary.scan(normalise("Bom dia! Oi, se eu fechar hoje tem descontos? Negociacao: faz 3 por 100"))
    assert words.matches(found) == ["bom dia", "oi", "se eu fech*", "descont*", "negociação", "faz # por #"]
    missed = vocabulary.scan(normalise("oito dias, bom diario, se eu fosse, faz tres por 100"))
    assert words.matches(missed) == []


def test_one_scan_serves_every_keyword_list() -> None:
    vocabulary = Vocabulary()
    first, second = vocabulary.add("a", ["erro*"]), vocabulary.add("b", ["erro", "api"])
    found = vocabulary.scan(normalise("erro na API"))
    assert (first.count(found), second.count(found)) == (1, 2)


def test_keywords_that_normalise_alike_count_once() -> None:
    vocabulary = Vocabulary()
    words = vocabulary.add("w", ["oi", "oii", "Oi", "ação", "acao"])
    assert words.matches(vocabulary.scan(normalise("oiii, acao"))) == ["oi", "ação"]
