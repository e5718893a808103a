"""`tiergate route TEXT` and `tiergate eval-routing FILE`: the routing decision and its quality, from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import load_settings
from config.settings import Settings
from routing import Router, RouteRequest
from routing.evaluation import DEFAULT_COMPLETION_TOKENS, Evaluation, LabelledTurn, evaluate, parse_turn
from routing.scorer import BUNDLED_MODEL, Scorer

if TYPE_CHECKING:
    from routing.training import Example

#: Where `train-routing` writes the model the router loads by default.
BUNDLED_MODEL_PATH = Path(__file__).resolve().parent.parent / "routing" / BUNDLED_MODEL


def add_routing_commands(subparsers: Any) -> None:
    """Register `route` and `eval-routing` on an argparse subparsers object; each sets `run(args) -> int`."""
    route = subparsers.add_parser("route", help="print the routing decision for a message")
    route.add_argument("text", help="the user message")
    route.add_argument("--intent", help="metadata.intent (otherwise detected)")
    route.add_argument("--org", help="organization id: its plan caps the tier, its VIP list applies")
    route.add_argument("--plan", help="plan name (overrides the organization's)")
    route.add_argument("--vip", action="store_true", help="the customer is a VIP (metadata.vip)")
    route.add_argument("--lead-value", type=float, help="metadata.lead_value of the customer")
    route.add_argument("--conversation", type=Path,
                       help="JSON file of the earlier messages ([{role, content}, ...]); TEXT is the next user turn")
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    route.add_argument("--config", help="config file (default: TIERGATE_CONFIG or the bundled one)")
    route.set_defaults(run=run_route)
    evaluation = subparsers.add_parser("eval-routing", help="routing quality on a labelled JSON Lines file")
    evaluation.add_argument("files", type=Path, nargs="+",
                            help='JSON Lines: {"messages", "metadata", "expected_tier"}; several files are one set')
    evaluation.add_argument("--completion-tokens", type=int, default=DEFAULT_COMPLETION_TOKENS,
                            help="assumed answer length per turn for the cost estimate")
    evaluation.add_argument("--misses", action="store_true", help="list every misrouted turn")
    evaluation.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    evaluation.add_argument("--cross-validate", action="store_true",
                            help="each turn routed by a scorer trained without its business (or its writer)")
    evaluation.add_argument("--by", choices=("business", "writer"), default="business",
                            help="--cross-validate holds out businesses in --folds groups, or one writer at a time")
    evaluation.add_argument("--folds", type=int, default=10, help="business groups for --cross-validate")
    evaluation.add_argument("--config", help="config file (default: TIERGATE_CONFIG or the bundled one)")
    evaluation.set_defaults(run=run_eval)
    training = subparsers.add_parser("train-routing", help="train the routing scorer from labelled JSON Lines files")
    training.add_argument("files", type=Path, nargs="+", help="labelled JSON Lines files")
    training.add_argument("--out", type=Path, default=BUNDLED_MODEL_PATH, help="model file to write")
    training.add_argument("--under-risk", type=float, default=0.25,
                          help="route up while the chance the turn needs a higher tier is above this")
    training.add_argument("--premium-risk", type=float, default=0.2,
                          help="route to tier 4 once the chance the turn needs it reaches this")
    training.add_argument("--config", help="config file (default: TIERGATE_CONFIG or the bundled one)")
    training.set_defaults(run=run_train)


def build_router(settings: Settings, scorer: Scorer | None = None, routing: dict[str, Any] | None = None) -> Router:
    """The router as the API builds it: the `routing:` section, every deployment, the fallbacks."""
    models = [d.candidate() for d in settings.deployments().values()]
    return Router(settings.routing if routing is None else routing, models, settings.litellm_settings.fallbacks,
                  settings.router_settings.routing_strategy, scorer)


def run_route(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    metadata: dict[str, Any] = {}
    if args.intent:
        metadata["intent"] = args.intent
    if args.org:
        metadata["organization_id"] = args.org
    if args.vip:
        metadata["vip"] = True
    if args.lead_value is not None:
        metadata["lead_value"] = args.lead_value
    plan_name, max_tier = _plan(settings, args.org, args.plan)
    earlier = _conversation(args.conversation) if args.conversation else []
    request = RouteRequest([*earlier, {"role": "user", "content": args.text}], metadata, plan_max_tier=max_tier,
                           organization_id=args.org, plan_name=plan_name)
    decision = build_router(settings).decide(request)
    if args.json:
        print(json.dumps(decision.to_dict(), ensure_ascii=False))
    else:
        print(f"{decision.tier}  {', '.join(decision.models)}")
        for reason in decision.reasons:
            print(f"  - {reason}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    plans = {name: plan.max_tier for name, plan in settings.plans.items()}
    turns: list[LabelledTurn] = []
    for path in args.files:
        try:
            turns += _read_turns(path, plans)
        except (OSError, ValueError) as exc:
            print(f"eval-routing: {path}: {exc}", file=sys.stderr)
            return 2
    router = build_router(settings)
    routers = _cross_validated_routers(settings, turns, args.folds, args.by) if args.cross_validate else None
    result = evaluate(router, turns, args.completion_tokens, routers)
    figures = result.to_dict()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(_report(result, figures, args.misses))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from routing.training import fit  # numpy: offline only

    settings = load_settings(args.config)
    plans = {name: plan.max_tier for name, plan in settings.plans.items()}
    turns = [turn for path in args.files for turn in _read_turns(path, plans)]
    examples = _examples(settings, turns)
    info = {"trained_on": [p.name for p in args.files], "turns": len(examples)}
    scorer = fit(examples, under_risk=args.under_risk, premium_risk=args.premium_risk, info=info)
    args.out.write_bytes(scorer.to_bytes())
    print(f"train-routing: {len(examples)} turns -> {args.out} ({args.out.stat().st_size} bytes)")
    return 0


def _cross_validated_routers(settings: Settings, turns: list[LabelledTurn], folds: int, by: str) -> list[Router]:
    """For each turn, a router whose scorer was trained without its business's (or its writer's) turns.

    By business, the businesses are dealt into `folds` groups; by writer, each writer is a fold of their own,
    and a writer's businesses are never theirs alone, so no business is on both sides either.
    """
    from routing.training import fit

    if any(not t.business for t in turns) or (by == "writer" and any(not t.writer for t in turns)):
        raise SystemExit(f"eval-routing: --cross-validate needs a `business`{' and a `writer`' * (by == 'writer')}"
                         " on every turn")
    examples = _examples(settings, turns)
    held_out = [t.writer if by == "writer" else t.business for t in turns]
    groups = sorted(set(held_out), key=str)
    fold_of = {group: i if by == "writer" else i % folds for i, group in enumerate(groups)}
    bundled = Scorer.bundled()
    routers: list[Router | None] = [None] * len(turns)
    for fold in sorted(set(fold_of.values())):
        scorer = fit([e for e, g in zip(examples, held_out, strict=True) if fold_of[g] != fold],
                     under_risk=bundled.under_risk, premium_risk=bundled.premium_risk)
        router = build_router(settings, scorer)
        for index, group in enumerate(held_out):
            if fold_of[group] == fold:
                routers[index] = router
    return [r for r in routers if r is not None]


def _examples(settings: Settings, turns: list[LabelledTurn]) -> list[Example]:
    """The scorer's training examples: each turn's features as the router computes them, its tier, its business."""
    from routing.training import Example

    featurer = build_router(settings, routing={**settings.routing, "scorer": {"model": "off"}})
    return [Example(featurer.scorer_features(t.request()), t.expected_tier, t.business or "") for t in turns]


def _conversation(path: Path) -> list[dict[str, Any]]:
    messages = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise SystemExit(f"route: {path}: expected a JSON list of {{role, content}} messages")
    return messages


def _plan(settings: Settings, org: str | None, plan: str | None) -> tuple[str | None, int]:
    if plan:
        if plan not in settings.plans:
            raise SystemExit(f"route: unknown plan {plan!r} ({', '.join(settings.plans)})")
        return plan, settings.plans[plan].max_tier
    found = settings.plan_for(org) if org else None
    return (found[0], found[1].max_tier) if found else (None, 4)


def _read_turns(path: Path, plans: dict[str, int]) -> list[LabelledTurn]:
    turns = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: not JSON: {exc.msg}") from None
            turns.append(parse_turn(raw, plans, number))
    return turns


def _report(result: Evaluation, figures: dict[str, Any], with_misses: bool) -> str:
    cost = figures["cost_usd"]
    lines = [
        f"turns            {result.total}",
        f"exact accuracy   {figures['exact_accuracy']:.1%}  ({result.exact}/{result.total})",
        f"under-routing    {figures['under_routing_rate']:.1%}  ({result.under})",
        f"over-routing     {figures['over_routing_rate']:.1%}  ({result.over})",
        f"critical under   {len(result.critical_under)}  (tier-4 labels, VIPs, valuable leads)",
        f"cost (USD)       routed {cost['routed']:.4f} | always tier4 {cost['always_tier4']:.4f} "
        f"({cost['routed_vs_tier4']:.1%}) | always tier2 {cost['always_tier2']:.4f} ({cost['routed_vs_tier2']:.1%})",
        f"                 as labelled {cost['as_labelled']:.4f} ({cost['as_labelled_vs_tier4']:.1%} of always tier4: "
        f"every turn at its labelled tier; routed is {cost['routed_vs_as_labelled']:.1%} of it)",
        "",
        "confusion (rows expected, columns routed)",
        "          " + "".join(f"{'tier' + str(t):>8}" for t in range(1, 5)),
    ]
    for tier, row in enumerate(result.confusion, start=1):
        lines.append(f"  tier{tier}   " + "".join(f"{count:>8}" for count in row))
    lines += _rate_table("by language", figures["by_language"])
    if figures["by_writer"]:
        lines += _rate_table("by writer", figures["by_writer"])
    lines += _rate_table("by tier (expected)", figures["by_tier"])
    misses = result.misses if with_misses else result.critical_under
    if misses:
        lines += ["", "misrouted turns" if with_misses else "critical under-routed turns"]
        lines += [f"  {m.turn_id or f'line {m.line}'}: expected tier{m.expected_tier}, "
                  f"routed tier{m.routed_tier}: {m.text[:90]!r}"
                  f"\n      {'; '.join(m.reasons)}" for m in misses]
    return "\n".join(lines)


def _rate_table(title: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", f"{title:<18}turns   exact   under"]
    return lines + [f"  {name:<14}{row['turns']:>7}{row['exact_accuracy']:>8.1%}{row['under_routing_rate']:>8.1%}"
                    for name, row in rows.items()]
