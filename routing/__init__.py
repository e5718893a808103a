"""Pure routing decisions: no I/O, no clock, no Redis. Plain data in, a RouteDecision out."""

from routing.decision import ModelCandidate, RouteDecision, RouteRequest, RoutingError
from routing.router import Router

__all__ = ["ModelCandidate", "RouteDecision", "RouteRequest", "Router", "RoutingError"]
