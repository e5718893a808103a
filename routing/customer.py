"""Customer value: VIPs and large leads get at least a configured tier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing.settings import CustomerValueSettings

_TRUE = {"true", "yes", "sim", "si", "1"}


def customer_floor(metadata: Mapping[str, Any], organization_id: str | None,
                   settings: CustomerValueSettings) -> tuple[int, str] | None:
    """The lowest tier this customer may get and why, or None for an ordinary customer."""
    floors = [floor for floor in (_vip_floor(metadata, organization_id, settings),
                                  _lead_floor(metadata.get("lead_value"), settings)) if floor]
    return max(floors, key=lambda floor: floor[0], default=None)


def _vip_floor(metadata: Mapping[str, Any], organization_id: str | None,
               settings: CustomerValueSettings) -> tuple[int, str] | None:
    tier = settings.vip_min_tier
    customer_tier = metadata.get("customer_tier")
    if isinstance(customer_tier, str) and customer_tier.strip().lower() in settings.vip_customer_tiers:
        return tier, f"VIP customer (customer_tier={customer_tier.strip().lower()}): at least tier{tier}"
    vip = metadata.get("vip")
    if vip is True or (isinstance(vip, str | int) and str(vip).strip().lower() in _TRUE):
        return tier, f"VIP customer (vip flag): at least tier{tier}"
    listed = settings.vip_customers.get(organization_id or "", frozenset())
    for key in ("customer_id", "user_id"):
        customer = metadata.get(key)
        if customer is not None and str(customer) in listed:
            return tier, f"VIP customer ({key} {customer} on {organization_id}'s VIP list): at least tier{tier}"
    return None


def _lead_floor(value: Any, settings: CustomerValueSettings) -> tuple[int, str] | None:
    amount = _amount(value)
    if amount is None:
        return None
    for minimum, tier in settings.lead_value_tiers:
        if amount >= minimum:
            return tier, f"lead_value {amount:g} >= {minimum:g}: at least tier{tier}"
    return None


def _amount(value: Any) -> float | None:
    """lead_value as a number: 150000, 150000.0 or "150000" (a string that is not a number is ignored)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None
