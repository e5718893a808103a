"""`tiergate route TEXT` and `tiergate eval-routing FILE`: the routing decision and its quality, from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import load_settings
from config.settings import Settings
from routing import Router, RouteRequest
from routing.evaluation import DEFAULT_COMPLETION_TOKENS, Evaluation, LabelledTurn, evaluate, parse_turn


def add_routing_commands(subparsers: Any) -> None:
    """Register `route` and `eval-routing` on an argparse subparsers object; each sets `run(args) -> int`."""
    route = subparsers.add_parser("route", help="print the routing decision for a message")
    route.add_argument("text", help="the user message")
    route.add_argument("--intent", help="metadata.intent (otherwise detected)")
    route.add_argument("--org", help="organization id: its plan caps the tier, its VIP list applies")
    route.add_argument("--plan", help="plan name (overrides the organization's)")
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    route.add_argument("--config", help="config file (default: TIERGATE_CONFIG or the bundled one)")
    route.set_defaults(run=run_route)
    evaluation = subparsers.add_parser("eval-routing", help="routing quality on a labelled JSON Lines file")
    evaluation.add_argument("file", type=Path, help='JSON Lines: {"messages", "metadata", "expected_tier"}')
    evaluation.add_argument("--completion-tokens", type=int, default=DEFAULT_COMPLETION_TOKENS,
                            help="assumed answer length per turn for the cost estimate")
    evaluation.add_argument("--misses", action="store_true", help="list every misrouted turn")
    evaluation.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    evaluation.add_argument("--config", help="config file (default: TIERGATE_CONFIG or the bundled one)")
    evaluation.set_defaults(run=run_eval)


def build_router(settings: Settings) -> Router:
    """The router as the API builds it: the `routing:` section, every deployment, the fallbacks."""
    models = [d.candidate() for d in settings.deployments().values()]
    return Router(settings.routing, models, settings.litellm_settings.fallbacks,
                  settings.router_settings.routing_strategy)


def run_route(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    metadata: dict[str, Any] = {}
    if args.intent:
        metadata["intent"] = args.intent
    if args.org:
        metadata["organization_id"] = args.org
    plan_name, max_tier = _plan(settings, args.org, args.plan)
    request = RouteRequest([{"role": "user", "content": args.text}], metadata, plan_max_tier=max_tier,
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
    try:
        turns = _read_turns(args.file, plans)
    except (OSError, ValueError) as exc:
        print(f"eval-routing: {args.file}: {exc}", file=sys.stderr)
        return 2
    result = evaluate(build_router(settings), turns, args.completion_tokens)
    figures = result.to_dict()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(_report(result, figures, args.misses))
    return 0


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
        "",
        "confusion (rows expected, columns routed)",
        "          " + "".join(f"{'tier' + str(t):>8}" for t in range(1, 5)),
    ]
    for tier, row in enumerate(result.confusion, start=1):
        lines.append(f"  tier{tier}   " + "".join(f"{count:>8}" for count in row))
    misses = result.misses if with_misses else result.critical_under
    if misses:
        lines += ["", "misrouted turns" if with_misses else "critical under-routed turns"]
        lines += [f"  line {m.line}: expected tier{m.expected_tier}, routed tier{m.routed_tier}: {m.text[:90]!r}"
                  f"\n      {'; '.join(m.reasons)}" for m in misses]
    return "\n".join(lines)
