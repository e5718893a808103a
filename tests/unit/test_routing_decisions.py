"""Table-driven routing decisions on the default config: pt-BR, es and en turns of every kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.routing_commands import build_router
from config import load_settings
from routing import Router, RouteRequest

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "litellm_config.yaml"
SETTINGS = load_settings(DEFAULT)
ROUTER: Router = build_router(SETTINGS)
#: `routing.scorer.model: off`: intent keywords and complexity alone, as before the scorer.
RULES: Router = build_router(SETTINGS, routing={**SETTINGS.routing, "scorer": {"model": "off"}})

# (user message, metadata, expected tier): phrasings not in the labelled set, so these check generalisation.
# An expected tuple accepts over-routing that the scorer is known to do on that turn (a miss, shown here).
CASES: list[tuple[str, dict[str, Any], int | tuple[int, ...]]] = [
    # greetings, small talk, closings
    ("Olá, boa tarde!", {}, 1),
    ("OIIIII 😍😍", {}, 1),
    ("oi boa noite td bem?", {}, 1),
    ("Buenas tardes!", {}, 1),
    ("Hello!", {}, 1),
    ("muito obrigado, ajudou demais", {}, 1),
    ("valeuuu", {}, 1),
    ("beleza, combinado", {}, 1),
    ("muchas gracias!", {}, 1),
    ("thank you so much!", {}, 1),
    ("kkkkkk", {}, 1),
    # one-fact FAQ
    ("até que horas vcs ficam abertos hoje?", {}, 1),
    ("Vocês aceitam pix ou só cartão?", {}, 1),
    ("vcs entregam em Porto Alegre?", {}, 1),
    ("Qual o endereço da loja do centro?", {}, 1),
    ("¿Aceptan tarjeta de débito?", {}, 1),
    ("Do you ship to Canada?", {}, 1),
    # a listed price or "in stock?" is a one-fact lookup, tier 1 even when it names a product (labelling rule 3)
    ("Quanto custa o plano Premium?", {}, 1),
    ("tem esse sapato no 38?", {}, 1),
    ("Qual o preço da cadeira Flex?", {}, 1),
    ("¿Cuánto cuesta la mesa de comedor?", {}, 1),
    ("How much does the Team plan cost?", {}, 1),
    ("vocês tem geladeira inverter disponível?", {}, 1),
    # product questions that need the product explained or compared
    ("qual a diferença entre o plano Pro e o Premium?", {}, 2),
    ("que colchão vc indica pra quem tem dor nas costas?", {}, 2),
    # basic support
    ("Cadê meu pedido? Já faz 10 dias", {}, 2),
    ("Como faço pra trocar a senha do app?", {}, 2),
    ("Preciso da segunda via da fatura de março", {}, 2),
    ("¿Cómo cambio mi contraseña?", {}, 2),
    ("How do I reset my password?", {}, 2),
    # technical support
    ("O sistema dá erro 500 quando salvo um contato", {}, 3),
    ("a integração com o Mercado Livre parou de sincronizar os pedidos", {}, (3, 4)),  # p(tier4) at its threshold
    ("ERRO AO LOGAR NO PAINEL!!!", {}, 3),
    ("El sistema me da error al exportar el reporte", {}, 3),
    ("Your API returns a 502 error on every webhook call", {}, 3),
    ("```\nTypeError: cannot read properties of undefined\n```\nisso aparece no console", {}, 3),
    # complaints
    ("Que absurdo, paguei e não recebi nada até agora", {}, 3),
    ("pessimo servico, nunca mais compro aqui", {}, 3),
    ("Quiero un reembolso, el producto llegó roto", {}, 3),
    ("I want a refund, this is unacceptable", {}, 3),
    # negotiation
    ("Consegue me dar um desconto se eu pagar à vista?", {}, 4),
    ("o concorrente faz por 150, vcs cobrem?", {}, 4),
    ("tá muito caro, não dá pra melhorar o preço?", {}, 4),
    ("Se eu fechar hoje, qual condição especial você me faz?", {}, 4),
    ("¿Me pueden hacer un descuento por volumen?", {}, 4),
    ("Can you give us a better price for a 3-year contract?", {}, 4),
    # high-value leads
    ("Somos uma rede de 80 supermercados e queremos cotar a solução para todas as lojas", {}, 4),
    ("Preciso de uma proposta comercial para 250 usuários", {}, 4),
    ("We have 5,000 employees and need an enterprise agreement", {}, 4),
    ("Necesitamos 300 licencias para nuestro equipo comercial", {}, 4),
    ("oi, tenho interesse", {"lead_value": 75000}, 4),
    # a metadata intent is a floor: it decides a turn the scorer would put lower, and the scorer may raise it
    ("oi", {"intent": "negotiation"}, 4),
    ("quanto custa?", {"intent": "faq"}, 1),
    ("bom dia", {"intent": "technical_support"}, 3),
    ("tudo bem?", {"intent": "NEGOTIATION"}, 4),
    ("Tenho R$ 2 milhões pra investir em salas comerciais, o que vocês têm?", {"intent": "faq"}, 4),
    ("me passa o valor do plano anual pra 400 usuarios, a gente fecha ainda este mes", {"intent": "faq"}, 4),
    # customer value
    ("oi", {"customer_tier": "vip"}, 3),
    ("oi", {"customer_tier": "Gold"}, 3),
    ("oi", {"vip": True}, 3),
    ("oi", {"vip": "false"}, 1),
    ("oi", {"customer_tier": "silver"}, 1),
    ("oi", {"organization_id": "org_123", "customer_id": "cust_0042"}, 3),
    ("oi", {"organization_id": "org_999", "customer_id": "cust_0042"}, 1),
    ("oi", {"lead_value": 20000}, 3),
    ("oi", {"lead_value": "60000"}, 4),
    ("oi", {"lead_value": "muito"}, 1),
    ("oi", {"lead_value": 999}, 1),
    # an unknown intent in metadata falls back to detection
    ("Consegue um desconto?", {"intent": "unknown_thing"}, 4),
]


@pytest.mark.parametrize(("text", "metadata", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_a_turn_goes_to_the_tier_a_sales_lead_would_choose(text: str, metadata: dict[str, Any],
                                                           expected: int | tuple[int, ...]) -> None:
    decision = ROUTER.decide(RouteRequest([{"role": "user", "content": text}], metadata))
    accepted = expected if isinstance(expected, tuple) else (expected,)
    assert decision.tier_number in accepted, f"{text!r}: expected tier{expected}, got {decision.tier}: " \
                                             f"{decision.reason_text()}"


def test_a_turn_raised_above_its_given_intent_says_so() -> None:
    decision = ROUTER.decide(RouteRequest([{"role": "user", "content": "Tenho US$ 3 millones para invertir en "
                                                                       "departamentos, qué opciones tienen?"}],
                                          {"intent": "greeting"}))
    assert decision.tier_number == 4, decision.reason_text()
    assert "intent greeting (metadata) -> tier1, raised by the scorer" in decision.reasons


SPELLINGS = [
    ("Consegue fazer um desconto?", "CONSEGUE FAZER UM DESCONTO???"),
    ("não está funcionando, dá erro", "nao ta funcionando da erro"),
    ("Qual o horário de vocês?", "qual o horario de voces"),
    ("obrigado", "obrigadooooo 🙏"),
    ("Olá", "olaaa"),
]


@pytest.mark.parametrize(("plain", "variant"), SPELLINGS)
def test_casing_accents_repeated_letters_and_emoji_do_not_change_the_tier(plain: str, variant: str) -> None:
    tiers = [ROUTER.decide(RouteRequest([{"role": "user", "content": t}])).tier for t in (plain, variant)]
    assert tiers[0] == tiers[1], f"{plain!r} -> {tiers[0]} but {variant!r} -> {tiers[1]}"


def test_a_short_turn_without_an_intent_takes_the_intent_of_the_earlier_turn() -> None:
    messages = [{"role": "user", "content": "consegue um desconto no plano anual?"},
                {"role": "assistant", "content": "Posso oferecer 10%."},
                {"role": "user", "content": "hmm, pouco"}]
    decision = ROUTER.decide(RouteRequest(messages))
    assert decision.tier == "tier4", decision.reason_text()
    assert "follow-up of an earlier negotiation turn: at least tier4" in decision.reasons


def test_only_the_carried_intents_keep_a_follow_up_up() -> None:
    messages = [{"role": "user", "content": "consegue um desconto no plano anual?"},
                {"role": "assistant", "content": "Posso oferecer 10%."},
                {"role": "user", "content": "hmm, pouco"}]
    scorer = {**SETTINGS.routing["scorer"], "carried_intents": ["high_value_lead"]}
    router = build_router(SETTINGS, routing={**SETTINGS.routing, "scorer": scorer})
    decision = router.decide(RouteRequest(messages))
    assert not any(r.startswith("follow-up of an earlier") for r in decision.reasons), decision.reason_text()


def test_a_long_multi_question_product_turn_is_raised_by_complexity_under_the_keyword_rules() -> None:
    text = ("Qual a diferença entre o sofá Milano e o Verona? Quero saber: 1) tamanho, 2) tecido, 3) prazo de "
            "entrega e 4) garantia. Qual compensa mais pra uma sala de 3x4?")
    decision = RULES.decide(RouteRequest([{"role": "user", "content": text}]))
    assert decision.tier == "tier3", decision.reason_text()
    assert any("raises to tier3" in reason for reason in decision.reasons)


def test_complexity_alone_never_sends_a_turn_to_tier4() -> None:
    text = "Quanto custa? " * 40 + "\n- item\n- item\n- item\n```\nError: x\n```"
    decision = ROUTER.decide(RouteRequest([{"role": "user", "content": text}], {"intent": "product_query"}))
    assert decision.tier == "tier3", decision.reason_text()


def test_system_and_assistant_messages_do_not_count_as_the_customer_s_words() -> None:
    messages = [{"role": "system", "content": "Negocie descontos com cuidado. Nunca dê desconto acima de 10%."},
                {"role": "user", "content": "bom dia!"}]
    assert ROUTER.decide(RouteRequest(messages)).tier == "tier1"


def test_content_parts_are_read_like_a_string() -> None:
    text = "o webhook dá erro 500 quando salvo um contato"
    messages = [{"role": "user", "content": [{"type": "text", "text": text},
                                              {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]
    decision = ROUTER.decide(RouteRequest(messages))
    assert decision.tier == ROUTER.decide(RouteRequest([{"role": "user", "content": text}])).tier == "tier3"
    assert decision.intent == "technical_support"


def test_a_huge_message_is_read_by_its_head_and_tail_but_its_length_counts_whole() -> None:
    text = "oi, uma duvida? " + "e mais isso? " * 40_000 + "obrigado"
    complexity = ROUTER.decide(RouteRequest([{"role": "user", "content": text}])).reasons[1]
    questions = int(complexity.split(" questions")[0].rsplit(" ", 1)[1])
    assert f"({len(text)} chars" in complexity and 0 < questions <= 20, complexity


def test_no_user_message_routes_to_the_default_tier() -> None:
    decision = ROUTER.decide(RouteRequest([{"role": "system", "content": "x"}]))
    assert decision.tier == "tier2"
    assert decision.reasons[0] == "no intent detected -> default tier2"
