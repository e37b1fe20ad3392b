"""Traffic fields a route can take only in part, noted in the status of the policy that set
them, at the Gateway where it happens.

``hostRewrite: Auto`` names the one Service a route sends to; a route that splits traffic
across several Services keeps the client's Host. ``rateLimit.local`` keeps one token bucket
per route: of several limits, only the lowest sustained rate is enforced.
"""

from __future__ import annotations

from translator import ir
from translator.gatewayapi.policy.merge import Merger
from translator.gatewayapi.policy.targets import AttachKey, GatewayKey
from translator.gatewayapi.policy.traffic import service_host

HOST_REWRITE_NOTE = (
    "traffic.hostRewrite Auto: a route sending to several Services keeps the client's Host"
)
RATE_LIMIT_NOTE = (
    "traffic.rateLimit.local: one token bucket per route, only the lowest of several rates"
    " is enforced"
)


def record_traffic_notes(
    merger: Merger, gateway: GatewayKey, keys: tuple[AttachKey, ...], route: ir.Route
) -> None:
    """Note, on the outcome of the policy that set each field, what ``route`` (after folding)
    could not take of it."""
    policy = route.policy
    if policy is None:
        return
    notes: list[tuple[str, str]] = []
    rewrite = policy.get("hostRewrite")
    action = route.action
    if (
        rewrite is not None
        and rewrite.data()["mode"] == "Auto"
        and isinstance(action, ir.ForwardAction)
        and len({b.cluster for b in action.backends if b.cluster is not None}) > 1
        and service_host(action) is None
    ):
        notes.append((rewrite.origin, HOST_REWRITE_NOTE))
    limits = policy.get("rateLimit")
    if limits is not None and len(limits.data().get("local", ())) > 1:
        notes.append((limits.origin, RATE_LIMIT_NOTE))
    for origin, note in notes:
        for _, prepared in merger.candidates(keys):
            if prepared.origin == origin:
                merger.outcome(prepared, gateway).notes.add(note)
