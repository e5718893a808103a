"""Conversation stickiness: a short follow-up does not drop more than `max_drop` tiers below the previous turn.

The rule is pure. The API keeps the state: it reads the conversation's previous tier before `decide`, passes it
as `RouteRequest.previous_tier`, and after the decision stores `decision.tier_number` with a time-to-live of
`stickiness.ttl_seconds` (so the rule lapses on its own when the conversation goes quiet).
"""

from __future__ import annotations

from routing.settings import StickinessSettings


def sticky_floor(previous_tier: int | None, chars: int, intent: str | None,
                 settings: StickinessSettings) -> tuple[int, str] | None:
    """The lowest tier for this turn and why, or None when the rule does not apply.

    A follow-up is short (at most `follow_up_max_chars`) and either has no intent of its own or an
    acknowledgement intent (`follow_up_intents`, e.g. closing): "ok, obrigado" after a negotiation. A short
    turn that opens a new topic ("e o horario de voces?") is routed on its own merits.
    """
    if previous_tier is None or settings.ttl_seconds == 0 or chars > settings.follow_up_max_chars:
        return None
    if intent is not None and intent not in settings.follow_up_intents:
        return None
    floor = max(1, min(4, previous_tier) - settings.max_drop)
    if floor <= 1:
        return None
    return floor, f"short follow-up after tier{previous_tier}: at least tier{floor}"
