"""The learned scorer: features, the shipped model file, training, and the risk rule that picks the tier."""

from __future__ import annotations

import math
from array import array

import pytest

from routing.scorer import Scorer, feature_index, turn_features, word_features
from routing.signals import read_signals
from routing.text import head, normalise, read_text, tail
from routing.training import Example, fit


def test_features_read_the_turn_its_earlier_turns_and_the_assistant_reply() -> None:
    names = turn_features(["quero 14 lojas", "e o prazo?"], ["kw:none"], "Fica R$ 9.000 por loja.").all_names()
    assert "w:prazo" in names and "b:e_o" in names and " pra" in names and "azo " in names  # words, pairs, 4-grams
    assert "ctx:lojas" in names and "ctx_qty:1e1" in names  # the earlier turn and its signals
    assert "asst:loja" in names and "kw:none" in names


def test_a_word_stands_for_its_features_once_however_often_it_is_written() -> None:
    features = turn_features(["oi oi tudo bem? oi"])
    assert features.words == ["oi", "tudo", "bem"]
    assert features.all_names().count("w:oi") == 1 and word_features("oi") == ["w:oi", " oi "]


def test_a_long_turn_feeds_its_head_and_tail_only() -> None:
    words = turn_features(["inicio " + " ".join(f"meio{i}" for i in range(400)) + " final"]).words
    assert "inicio" in words and "final" in words
    assert len(words) < 60


def test_a_long_turn_is_cut_between_words_so_no_word_reads_as_another() -> None:
    opening = ("quero montar uma academia na garagem de casa " * 4)[:150] + "ate  "
    story = opening + "15 mil reais " + "piso ok " * 12  # the 160th character falls inside "mil"
    read = read_text(story)
    words = read.padded.split()
    assert set(words) <= set(normalise(story).split())  # every word read is a whole word of the turn
    assert read_signals(read.folded).largest_amount is None  # "15 mil" is not cut to "15 mi", millions


def test_head_and_tail_end_at_spaces_when_one_is_near() -> None:
    assert head("quanto custa o trator novo", 15) == "quanto custa o"
    assert tail("quanto custa o trator novo", 12) == "trator novo"
    assert head("a" * 30, 10) == "a" * 10 and tail("b" * 30, 10) == "b" * 10  # no space near: a hard cut
    assert head("curto", 10) == "curto" and tail("curto", 10) == "curto"


def test_scoring_a_turn_by_its_words_equals_scoring_all_its_feature_names() -> None:
    scorer = Scorer.bundled()
    for texts in (["faz 850 que eu levo hoje"], ["oi", "o sistema dá erro 500 quando salvo, e agora?"]):
        features = turn_features(texts, ["kw:none"], "Fica R$ 9.000.")
        assert scorer.score(features) == pytest.approx(scorer.probabilities(features.all_names()), abs=1e-9)


def test_the_shipped_model_loads_and_survives_a_round_trip() -> None:
    scorer = Scorer.bundled()
    assert scorer.info["turns"] >= 1500 and 0 < scorer.under_risk < 1
    again = Scorer.from_bytes(scorer.to_bytes())
    names = turn_features(["faz 850 que eu levo hoje"]).all_names()
    assert again.probabilities(names) == pytest.approx(scorer.probabilities(names))


def test_a_model_file_with_the_wrong_weight_count_is_refused() -> None:
    data = Scorer(array("f", [0.0] * 12), 2, 0.25, {}).to_bytes()
    assert Scorer.from_bytes(data).probabilities(["x"]) == pytest.approx([0.25] * 4)
    broken = data.replace(b'"buckets": 2', b'"buckets": 4')
    with pytest.raises(ValueError, match="weight count"):
        Scorer.from_bytes(broken)


def test_probabilities_are_the_softmax_of_the_summed_weights_negative_ones_included() -> None:
    weights = array("f", [0.5, -1.25, 2.0, -3.5,   -0.75, 0.25, -2.5, 1.0,   0.125, 0.0, -0.5, 0.25])
    scorer = Scorer(weights, 2, 0.25, {})
    for names in (["x"], ["x", "y", "zz"], ["x", "x"], [f"n{i}" for i in range(50)]):
        scores = list(weights[8:12])
        for name in names:  # a name listed twice counts twice
            row = feature_index(name, 2) * 4
            scores = [s + w for s, w in zip(scores, weights[row:row + 4], strict=True)]
        exps = [math.exp(s) for s in scores]
        assert scorer.probabilities(names) == pytest.approx([e / sum(exps) for e in exps], abs=1e-4)
        assert scorer.probabilities(names) == pytest.approx([e / sum(exps) for e in exps], abs=1e-4)  # remembered


@pytest.mark.parametrize(("probabilities", "under_risk", "premium_risk", "tier"), [
    ([0.9, 0.05, 0.03, 0.02], 0.25, 0.2, 1),
    ([0.6, 0.1, 0.2, 0.1], 0.25, 0.2, 3),   # a 40% chance above tier 1 and 30% above tier 2
    ([0.1, 0.6, 0.2, 0.1], 0.35, 0.2, 2),
    ([0.5, 0.1, 0.2, 0.2], 0.25, 0.2, 4),   # a 20% chance of a negotiation goes to tier 4
    ([0.5, 0.1, 0.2, 0.2], 0.25, 0.3, 3),
])
def test_the_tier_is_the_cheapest_whose_risk_of_being_too_low_is_small(
        probabilities: list[float], under_risk: float, premium_risk: float, tier: int) -> None:
    scorer = Scorer(array("f", [0.0] * 12), 2, under_risk, {}, premium_risk)
    assert scorer.tier(probabilities) == tier


def test_training_learns_what_separates_the_tiers_and_is_repeatable() -> None:
    words = {1: ["oi", "ola", "bom dia"], 2: ["qual modelo", "tamanho"], 3: ["erro 500", "nao conecta"],
             4: ["desconto", "faz por"]}
    examples = [Example(turn_features([f"{text} {i}"]).all_names(), tier, f"b{i % 5}")
                for tier, texts in words.items() for text in texts for i in range(20)]
    first, second = fit(examples, buckets=1 << 12, steps=80), fit(examples, buckets=1 << 12, steps=80)
    for tier, texts in words.items():
        probabilities = first.probabilities(turn_features([texts[0]]).all_names())
        assert max(range(4), key=lambda i: probabilities[i]) == tier - 1, (texts[0], probabilities)
    assert first.to_bytes() == second.to_bytes()
