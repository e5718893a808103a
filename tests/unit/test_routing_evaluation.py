"""Routing quality: the evaluation figures, the CLI commands, and the held-out targets of issue 4."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from cli.routing_commands import add_routing_commands, build_router
from config import load_settings
from routing.evaluation import CHARS_PER_TOKEN, LabelledTurn, evaluate, parse_turn

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "litellm_config.yaml"
HELD_OUT = ROOT / "tests" / "data" / "routing_corpus_heldout.jsonl"
TRAINING = ROOT / "tests" / "data" / "routing_corpus_train.jsonl"
SETTINGS = load_settings(DEFAULT)
PLANS = {name: plan.max_tier for name, plan in SETTINGS.plans.items()}
ROUTER = build_router(SETTINGS)


def turn(text: str, expected: int, **metadata: Any) -> LabelledTurn:
    return LabelledTurn([{"role": "user", "content": text}], metadata, expected)


def read(path: Path) -> list[LabelledTurn]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [parse_turn(json.loads(line), PLANS, n) for n, line in enumerate(lines, 1) if line.strip()]


# --- the figures ---------------------------------------------------------------------------------------------


def test_accuracy_confusion_and_under_and_over_routing_are_counted_per_turn() -> None:
    turns = [turn("oi", 1), turn("oi", 2), turn("Consegue um desconto se eu fechar hoje?", 3),
             turn("o webhook dá erro 500 quando salvo um contato", 3)]
    result = evaluate(ROUTER, turns)
    assert (result.total, result.exact, result.under, result.over) == (4, 2, 1, 1)
    assert result.confusion == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]
    figures = result.to_dict()
    assert (figures["exact_accuracy"], figures["under_routing_rate"], figures["over_routing_rate"]) == \
        (0.5, 0.25, 0.25)
    assert [m["line"] for m in figures["misses"]] == [2, 3]


def test_cost_prices_each_turn_at_the_first_model_of_its_tier_with_a_fixed_answer_length() -> None:
    text = "x" * 400  # 100 input tokens
    result = evaluate(ROUTER, [turn(text, 2, intent="negotiation")], completion_tokens=200)
    tier4 = SETTINGS.deployments()["tier4/gpt-4-turbo"]
    tier2 = SETTINGS.deployments()["tier2/claude-haiku"]
    expected4 = tier4.input_cost_per_token * len(text) / CHARS_PER_TOKEN + tier4.output_cost_per_token * 200
    expected2 = tier2.input_cost_per_token * len(text) / CHARS_PER_TOKEN + tier2.output_cost_per_token * 200
    assert result.cost_routed == pytest.approx(expected4)
    assert result.cost_tier4 == pytest.approx(expected4)
    assert result.cost_tier2 == pytest.approx(expected2)
    assert result.cost_labelled == pytest.approx(expected2)  # the turn routed as labelled would cost tier 2's
    assert result.to_dict()["cost_usd"]["routed_vs_tier4"] == 1.0
    assert result.to_dict()["cost_usd"]["as_labelled_vs_tier4"] == pytest.approx(expected2 / expected4, abs=1e-4)
    assert result.to_dict()["cost_usd"]["routed_vs_as_labelled"] == pytest.approx(expected4 / expected2, abs=1e-4)


def test_an_under_routed_tier4_or_vip_turn_is_critical_but_an_ordinary_one_is_not() -> None:
    vip_capped = LabelledTurn([{"role": "user", "content": "oi"}], {"customer_tier": "vip"}, 3, plan_max_tier=2)
    result = evaluate(ROUTER, [turn("oi", 4), turn("oi", 2), vip_capped])
    assert result.under == 3
    assert [m.line for m in result.critical_under] == [1, 3]


def test_a_turn_without_a_plan_is_evaluated_under_the_highest_plan() -> None:
    assert parse_turn({"messages": [{"role": "user", "content": "x"}], "expected_tier": 1}, PLANS, 1)\
        .plan_max_tier == 4
    capped = parse_turn({"messages": [{"role": "user", "content": "x"}], "expected_tier": 1, "plan": "free"},
                        PLANS, 1)
    assert (capped.plan_max_tier, capped.plan_name) == (2, "free")


@pytest.mark.parametrize(("raw", "message"), [
    ({"messages": [], "expected_tier": 1}, "line 7: messages must be a non-empty list"),
    ({"messages": [{"role": "user", "content": "x"}], "expected_tier": 5}, "line 7: expected_tier must be 1-4"),
    ({"messages": [{"role": "user", "content": "x"}], "expected_tier": True}, "line 7: expected_tier must be"),
    ({"messages": [{"role": "user", "content": "x"}], "expected_tier": 1, "plan": "gold"},
     "line 7: plan 'gold' is not configured"),
    ({"messages": [{"role": "user", "content": "x"}], "expected_tier": 1, "previous_tier": 0},
     "line 7: previous_tier must be 1-4"),
])
def test_a_bad_labelled_line_is_refused_with_its_line_number(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_turn(raw, PLANS, 7)


# --- the labelled set and the targets ------------------------------------------------------------------------


def test_the_corpus_is_large_varied_doubly_labelled_and_split_by_business() -> None:
    rows = [json.loads(line) for path in (TRAINING, HELD_OUT) for line in path.read_text().splitlines() if line]
    assert len(rows) >= 2000
    assert len({r["business"] for r in rows}) >= 40
    languages = {lang: sum(r["lang"] == lang for r in rows) / len(rows) for lang in ("pt", "es", "en")}
    assert 0.65 <= languages["pt"] <= 0.75 and 0.12 <= languages["es"] <= 0.18 and 0.12 <= languages["en"] <= 0.18
    assert all(r["labels"]["writer"] in (1, 2, 3, 4) and r["labels"]["second"] in (1, 2, 3, 4) for r in rows)
    disagreed = [r for r in rows if r["labels"]["writer"] != r["labels"]["second"]]
    assert disagreed and all(r.get("settled") for r in disagreed), "every disagreement is settled with a reason"
    assert {r["expected_tier"] for r in rows} == {1, 2, 3, 4}
    training = {json.loads(line)["business"] for line in TRAINING.read_text().splitlines() if line}
    held_out = {json.loads(line)["business"] for line in HELD_OUT.read_text().splitlines() if line}
    assert not training & held_out, "no business has turns on both sides of the split"


def test_every_labelled_file_names_its_writers_settles_its_disagreements_and_keeps_its_businesses() -> None:
    """Cross-validation by writer and by business, and a fresh set's independence, rest on these."""
    seen: dict[str, str] = {}
    ids: set[str] = set()
    for path in sorted(TRAINING.parent.glob("routing_*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        assert all(r.get("writer") and r["id"].startswith(r["writer"] + "-") for r in rows), path.name
        assert all(r["labels"]["writer"] in (1, 2, 3, 4) and r["labels"]["second"] in (1, 2, 3, 4) for r in rows)
        assert all(r.get("settled") for r in rows if r["labels"]["writer"] != r["labels"]["second"]), path.name
        assert not ids & {r["id"] for r in rows}, f"{path.name}: an id already used in another file"
        ids |= {r["id"] for r in rows}
        for business in {r["business"] for r in rows}:
            assert seen.setdefault(business, path.name) == path.name, f"{business} is in {seen[business]} too"


def test_the_held_out_businesses_keep_the_quality_measured_when_the_scorer_was_trained() -> None:
    """A regression bound near the figures measured on the held-out split (90.6% exact, 1.1% under, 1 critical,
    38.9% of always-tier-4): a change that routes these turns worse fails here. Exact accuracy is bound at the
    90% goal, since 372 turns move a point on three turns; the other goals are reported by `tiergate
    eval-routing`, not asserted."""
    result = evaluate(ROUTER, read(HELD_OUT))
    figures = result.to_dict()
    misses = "\n".join(f"  line {m.line}: expected {m.expected_tier}, routed {m.routed_tier}: {m.text!r}"
                       for m in result.misses)
    assert figures["exact_accuracy"] >= 0.90, f"exact accuracy {figures['exact_accuracy']}; misses:\n{misses}"
    assert figures["under_routing_rate"] <= 0.015, f"under-routing {figures['under_routing_rate']}:\n{misses}"
    assert len(result.critical_under) <= 2, f"negotiation, high-value or VIP turns under-routed:\n{misses}"
    assert figures["cost_usd"]["routed_vs_tier4"] <= 0.40, figures["cost_usd"]
    assert set(figures["by_language"]) == {"pt", "es", "en"}
    assert sum(row["turns"] for row in figures["by_tier"].values()) == result.total


# --- the commands --------------------------------------------------------------------------------------------


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("TIERGATE_CONFIG", str(DEFAULT))
    parser = argparse.ArgumentParser(prog="tiergate")
    add_routing_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


def test_route_prints_the_tier_the_chain_and_the_reasons(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["route", "Consegue um desconto se eu fechar hoje?"], monkeypatch) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "tier4  tier4/gpt-4-turbo, tier4/claude-opus, tier3/claude-sonnet"
    assert out[1].startswith("  - scorer -> tier4 (p ")


def test_route_json_applies_the_intent_and_the_plan(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["route", "oi", "--intent", "negotiation", "--plan", "free", "--json"], monkeypatch) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["tier"] == "tier2"
    assert decision["reasons"][0] == "intent negotiation (metadata) -> tier4"
    assert decision["reasons"][-1] == "plan free caps tier4 to tier2"


def test_route_uses_the_organization_s_plan(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["route", "Consegue um desconto?", "--org", "org_nobody", "--json"], monkeypatch) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["tier"] == "tier3"  # unknown organization: the default plan, starter (tier3)
    assert decision["reasons"][-1] == "plan starter caps tier4 to tier3"


def test_eval_routing_json_prints_one_object_with_the_figures(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "oi"}], "expected_tier": 1}\n\n'
                    '{"messages": [{"role": "user", "content": "oi"}], "metadata": {}, "expected_tier": 2}\n')
    assert run(["eval-routing", str(path), "--json"], monkeypatch) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["turns"], figures["exact_accuracy"], figures["under_routing_rate"]) == (2, 0.5, 0.5)
    assert figures["confusion_matrix"]["counts"][1] == [1, 0, 0, 0]
    assert set(figures["cost_usd"]) >= {"routed", "always_tier4", "always_tier2", "routed_vs_tier4"}


def test_eval_routing_prints_a_readable_report(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["eval-routing", str(HELD_OUT)], monkeypatch) == 0
    out = capsys.readouterr().out
    for label in ("exact accuracy", "under-routing", "over-routing", "confusion", "always tier4", "always tier2",
                  "by language", "  pt ", "by tier", "  tier4 "):
        assert label in out


def test_eval_routing_cross_validates_by_business(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Six businesses in three folds: every turn is routed by a scorer trained on the other four only."""
    rows = [json.loads(line) for line in TRAINING.read_text().splitlines() if line]
    businesses = sorted({r["business"] for r in rows})[:6]
    path = tmp_path / "six.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows if r["business"] in businesses))
    assert run(["eval-routing", str(path), "--cross-validate", "--folds", "3", "--json"], monkeypatch) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["turns"] == sum(r["business"] in businesses for r in rows)
    assert 0.4 <= figures["exact_accuracy"] < 0.99  # learned from 4 businesses, tested on 2 it never saw


def test_eval_routing_holds_out_one_writer_at_a_time_across_several_files(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Two businesses from each of three writers, in two files read as one set: three folds, one per writer."""
    rows = [json.loads(line) for line in TRAINING.read_text().splitlines() if line]
    chosen = {w: sorted({r["business"] for r in rows if r["writer"] == w})[:2] for w in ("w1", "w2", "w3")}
    picked = [r for r in rows if r["business"] in chosen[r["writer"]]]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in picked if r["writer"] != "w3"))
    second.write_text("\n".join(json.dumps(r) for r in picked if r["writer"] == "w3"))
    argv = ["eval-routing", str(first), str(second), "--cross-validate", "--by", "writer", "--json"]
    assert run(argv, monkeypatch) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["turns"] == len(picked)
    assert {w: row["turns"] for w, row in figures["by_writer"].items()} == \
        {w: sum(r["writer"] == w for r in picked) for w in chosen}
    assert 0.4 <= figures["exact_accuracy"] < 0.99  # each writer routed by a scorer learnt from the other two
    assert all(m["id"] for m in figures["misses"]), "misses name the turn"


def test_cross_validation_by_writer_needs_a_writer_on_every_turn(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "oi"}], "expected_tier": 1, "business": "b"}\n')
    with pytest.raises(SystemExit, match="and a `writer` on every turn"):
        run(["eval-routing", str(path), "--cross-validate", "--by", "writer"], monkeypatch)


def test_cross_validation_needs_a_business_on_every_turn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "oi"}], "expected_tier": 1}\n')
    with pytest.raises(SystemExit, match="needs a `business` on every turn"):
        run(["eval-routing", str(path), "--cross-validate"], monkeypatch)


def test_eval_routing_names_the_bad_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "oi"}], "expected_tier": 1}\nnot json\n')
    assert run(["eval-routing", str(path)], monkeypatch) == 2
    assert "line 2: not JSON" in capsys.readouterr().err
