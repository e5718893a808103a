"""The router: intent and complexity give a tier, customer value and stickiness raise it, the plan caps it.

Built once per process from the `routing:` section of the config (keywords compiled then); `decide` is pure
and takes well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from routing.chain import model_chain
from routing.complexity import Complexity, analyse
from routing.customer import customer_floor
from routing.decision import ModelCandidate, RouteDecision, RouteRequest, RoutingError
from routing.intent import IntentMatch, detect_intent, metadata_intent
from routing.scorer import Scorer, turn_features
from routing.settings import TIERS, RoutingSettings, parse_routing_settings
from routing.signals import LARGE_AMOUNT, Signals
from routing.stickiness import sticky_floor
from routing.text import Found, TurnText, read_text, user_texts

#: Earlier user turns searched for the intent of a short turn that has none of its own.
_CONTEXT_TURNS = 3


class Router:
    def __init__(self, settings: Mapping[str, Any] | RoutingSettings, models: Iterable[ModelCandidate],
                 fallbacks: Mapping[str, list[str]], strategy: str = "cheapest", scorer: Scorer | None = None) -> None:
        self.settings = settings if isinstance(settings, RoutingSettings) else parse_routing_settings(settings)
        self.scorer = scorer if scorer is not None or self.settings.scorer.model == "off" else Scorer.bundled()
        if self.scorer is not None and self.settings.scorer.under_risk is not None:
            self.scorer = self.scorer.with_risks(self.settings.scorer.under_risk)
        self._models = {m.name: m for m in models}
        self._fallbacks = dict(fallbacks)
        self._strategy = strategy
        self._chains = {(tier, cap): model_chain(tier, cap, self._models.values(), self._fallbacks, strategy)
                        for tier in range(1, 5) for cap in range(tier, 5)}

    def decide(self, request: RouteRequest) -> RouteDecision:
        pinned = request.requested_model
        if pinned and pinned != "auto":
            return self._pinned(pinned, request.plan_max_tier, request.needs)
        tier, reasons, intent, complexity = self._natural_tier(request)
        if tier > request.plan_max_tier:
            plan = f"plan {request.plan_name}" if request.plan_name else "plan"
            reasons.append(f"{plan} caps tier{tier} to tier{request.plan_max_tier}")
            tier = request.plan_max_tier
        cap = request.plan_max_tier
        if request.budget_max_tier is not None and request.budget_max_tier < cap:
            cap = request.budget_max_tier
            if tier > cap:
                reasons.append(f"{request.budget_note or 'budget nearly spent'}: tier{tier} capped to tier{cap}")
                tier = cap
        tier, chain = self._capable_tier(tier, cap, request.needs, reasons)
        return RouteDecision(f"tier{tier}", chain, tuple(reasons), intent.name if intent else None, complexity.score)

    def _capable_tier(self, tier: int, cap: int, needs: Mapping[str, str],
                      reasons: list[str]) -> tuple[int, tuple[str, ...]]:
        """The tier's chain without the models that cannot honour the request; when none can (or the tier has no
        model at all: a LiteLLM config without tiers), the nearest tier (up to the cap first, then down) that has
        one."""
        chain = self._capable(self._chain(tier, cap), needs)
        if chain:
            return tier, chain
        for other in [*range(tier + 1, cap + 1), *range(tier - 1, 0, -1)]:
            chain = self._capable(self._chain(other, cap), needs)
            if chain:
                wanted = f" supports {', '.join(sorted(needs))}" if needs else " is configured"
                reasons.append(f"no tier{tier} model{wanted} -> tier{other}")
                return other, chain
        if not needs:
            raise RoutingError(403, f"no model is configured at or below tier{cap}, this organization's highest",
                               "tier_not_allowed")
        raise _unsupported(needs, "none of the models this organization may use supports")

    def _capable(self, chain: tuple[str, ...], needs: Mapping[str, str]) -> tuple[str, ...]:
        if not needs:
            return chain
        return tuple(name for name in chain if self._models[name].capabilities.issuperset(needs))

    def _natural_tier(self, request: RouteRequest) -> tuple[int, list[str], IntentMatch | None, Complexity]:
        """The tier before the plan cap, with one reason per rule that set or raised it."""
        texts, last, intent, complexity = self._read(request)
        signals: Signals | None = None
        customer = self._customer_floor(request)
        if self.scorer is not None and texts:
            extra = _extra_features(intent, complexity, customer)
            tier, reasons, signals = self._scored(texts, last, extra, _last_reply(request.messages), complexity)
            if intent is not None and intent.source == "metadata":
                tier, reasons = self._given_intent_floor(intent, complexity, tier, reasons)
        else:
            tier, reasons = self._by_rules(intent, complexity)
        for floor in (customer,
                      self._signal_floor(signals),
                      self._carried_floor(intent),
                      sticky_floor(request.previous_tier, len(last.text), intent.name if intent else None,
                                   self.settings.stickiness)):
            if floor and floor[0] >= tier:  # a floor that holds the tier is a reason too
                tier = floor[0]
                reasons.append(floor[1])
        return tier, reasons, intent, complexity

    def scorer_features(self, request: RouteRequest) -> list[str]:
        """The scorer's features of a turn, as `decide` computes them (for training)."""
        texts, last, intent, complexity = self._read(request)
        extra = _extra_features(intent, complexity, self._customer_floor(request))
        return turn_features(texts, extra, _last_reply(request.messages), last).all_names()

    def _read(self, request: RouteRequest) -> tuple[list[str], TurnText, IntentMatch | None, Complexity]:
        """The user texts, the last one as read, its keyword intent (given, detected or carried) and its
        complexity."""
        texts = user_texts(request.messages)
        last = read_text(texts[-1] if texts else "")
        found = self.settings.vocabulary.scan(last.padded)
        complexity = analyse(last.read, found, len(texts), self.settings.complexity, len(last.text))
        intent = self._intent(request.metadata, found, last, complexity.has_code, texts)
        return texts, last, intent, complexity

    def _by_rules(self, intent: IntentMatch | None, complexity: Complexity) -> tuple[int, list[str]]:
        """The intent's tier (given, detected or the default), raised by complexity."""
        if intent is None:
            tier = self.settings.default_tier
            reasons = [f"no intent detected -> default tier{tier}"]
        else:
            tier = self.settings.intent_tiers[intent.name]
            reasons = [intent.describe(tier)]
        raised = min(complexity.tier, tier + self.settings.complexity.max_raise)
        if raised > tier:
            reasons.append(f"{complexity.describe()} raises to tier{raised}")
            tier = raised
        else:
            reasons.append(complexity.describe())
        return tier, reasons

    def _given_intent_floor(self, intent: IntentMatch, complexity: Complexity, scored: int,
                            reasons: list[str]) -> tuple[int, list[str]]:
        """An intent given in metadata is what the platform knows: its tier is a floor. The scorer may still raise
        the turn above it (a negotiation under `support`), never lower it."""
        given, given_reasons = self._by_rules(intent, complexity)
        if given >= scored:
            return given, given_reasons
        return scored, [*reasons, f"{intent.describe(self.settings.intent_tiers[intent.name])}, raised by the scorer"]

    def _carried_floor(self, intent: IntentMatch | None) -> tuple[int, str] | None:
        """A short follow-up with no intent of its own keeps the tier of the earlier turn it continues ("hmm,
        pouco" after a discount request is still a negotiation), for the intents of `scorer.carried_intents`."""
        if self.scorer is None or intent is None or intent.source != "earlier turn":
            return None
        if intent.name not in self.settings.scorer.carried_intents:
            return None
        tier = self.settings.intent_tiers[intent.name]
        return tier, f"follow-up of an earlier {intent.name} turn: at least tier{tier}"

    def _signal_floor(self, signals: Signals | None) -> tuple[int, str] | None:
        """The labelling guide's rules that no phrasing may escape: a counter-offer or a request to lower a price
        is a negotiation whatever the amount; something broken and an unhappy customer need a careful model. The
        scorer may miss a phrasing it never saw; the pattern does not."""
        if signals is None:
            return None
        shown = [(tier, name) for name, tier in self.settings.scorer.signal_floors.items() if getattr(signals, name)]
        if not shown:
            return None
        tier, name = max(shown)
        return tier, f"{_SIGNAL_WORDS[name]}: at least tier{tier}"

    def _customer_floor(self, request: RouteRequest) -> tuple[int, str] | None:
        """The VIP and lead-value floor: a rule on top of the tier, and one of the scorer's features."""
        organization = request.organization_id or _str_or_none(request.metadata.get("organization_id"))
        return customer_floor(request.metadata, organization, self.settings.customer_value)

    def _scored(self, texts: list[str], last: TurnText, extra: list[str], reply: str,
                complexity: Complexity) -> tuple[int, list[str], Signals]:
        """The learned scorer's tier, its reasons and the turn's signals; the keyword intent and the complexity
        tier are two of its features."""
        assert self.scorer is not None
        features = turn_features(texts, extra, reply, last)
        probabilities = self.scorer.score(features)
        tier = self.scorer.tier(probabilities)
        shown = features.signals.describe() + [f"earlier turn: {s}" for s in features.context_signals.describe()]
        evidence = f"; {', '.join(shown)}" if shown else ""
        reason = f"scorer -> tier{tier} (p {probabilities[tier - 1]:.2f}{evidence}; {extra[0]})"
        return tier, [reason, complexity.describe()], features.signals

    def _intent(self, metadata: Mapping[str, Any], found: Found, last: TurnText, has_code: bool,
                texts: list[str]) -> IntentMatch | None:
        """Metadata first; else detected; else, for a short turn, the intent of a recent earlier turn."""
        given = metadata_intent(metadata, self.settings.intent_tiers)
        if given:
            return given
        detected = self._detect(found, last, has_code)
        if detected or len(last.text) > self.settings.context_max_chars:
            return detected
        for earlier in reversed(texts[-1 - _CONTEXT_TURNS:-1]):
            read = read_text(earlier)
            carried = self._detect(self.settings.vocabulary.scan(read.padded), read, has_code=False)
            if carried and self.settings.intent_tiers[carried.name] > 1:
                return IntentMatch(carried.name, "earlier turn", carried.evidence)
        return None

    def _detect(self, found: Found, read: TurnText, has_code: bool) -> IntentMatch | None:
        return detect_intent(found, read.padded.count(" ") - 1, read.folded, has_code, self.settings.intents)

    def primary_prices(self, tier: int) -> tuple[float, float]:
        """(input, output) cost per token of the model a turn of `tier` goes to first."""
        chain = next((self._chains[(t, 4)] for t in (tier, *range(tier + 1, 5), *range(tier - 1, 0, -1))
                      if self._chains[(t, 4)]), ())
        if not chain:
            return 0.0, 0.0
        first = self._models[chain[0]]
        return first.input_cost_per_token, first.output_cost_per_token

    def _pinned(self, requested: str, plan_max: int, needs: Mapping[str, str]) -> RouteDecision:
        if requested in TIERS:
            tier = _tier_number(requested)
            reason = f"tier pinned by request: {requested}"
        elif requested in self._models:
            tier = self._models[requested].tier
            reason = f"model pinned by request: {requested}"
        else:
            raise RoutingError(404, f"The model {requested!r} does not exist; use 'auto', a tier (tier1..tier4) "
                                    "or a model listed by GET /ai/models", "model_not_found")
        if tier > plan_max:
            raise RoutingError(403, f"model: {requested} is tier{tier}, above this organization's plan "
                                    f"(highest tier{plan_max})", "tier_not_allowed")
        chain = self._capable(self._chain(tier, plan_max), needs)
        if requested in self._models:
            missing = {c: p for c, p in needs.items() if c not in self._models[requested].capabilities}
            if missing:
                raise _unsupported(missing, f"{requested} does not support")
            return RouteDecision(f"tier{tier}", (requested, *(m for m in chain if m != requested)), (reason,))
        if not chain and not needs:
            raise RoutingError(400, f"model: no model is configured at {requested}", "model_not_found")
        if not chain:
            raise _unsupported(needs, f"none of the models of {requested} supports")
        return RouteDecision(f"tier{tier}", chain, (reason,))

    def _chain(self, tier: int, plan_max: int) -> tuple[str, ...]:
        cap = max(tier, min(4, plan_max))
        return self._chains[(tier, cap)]


def _extra_features(intent: IntentMatch | None, complexity: Complexity,
                    customer: tuple[int, str] | None) -> list[str]:
    """Features besides the text: the keyword intent, the complexity tier and the customer's value, so that a VIP's
    "bom dia" labelled tier 3 teaches the scorer about VIPs, not about greetings."""
    return [f"kw:{intent.name}" if intent else "kw:none", f"cx:{complexity.tier}",
            f"customer_floor:{customer[0] if customer else 0}"]


_SIGNAL_WORDS = {"counter_offer": "counter-offer or price-lowering request", "chain": "a chain or multi-unit business",
                 "large_amount": f"an amount of {LARGE_AMOUNT:,} or more", "problem": "something broken",
                 "complaint": "unhappy customer"}


def _last_reply(messages: list[dict[str, Any]]) -> str:
    """The assistant's last message before the final user turn, as text ("" when there is none)."""
    for message in reversed(messages[:-1]):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else ""
        if isinstance(message, dict) and message.get("role") == "user":
            return ""
    return ""


def _unsupported(needs: Mapping[str, str], subject: str) -> RoutingError:
    """400 naming the first parameter that cannot be honoured, and the capability it needs."""
    capability, param = sorted(needs.items(), key=lambda item: item[1])[0]
    return RoutingError(400, f"{param}: {subject} {capability.replace('_', ' ')}", "unsupported_parameter", param)


def _tier_number(name: str) -> int:
    if name not in TIERS:
        raise ValueError(f"unknown tier {name!r}")
    return int(name.removeprefix("tier"))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
