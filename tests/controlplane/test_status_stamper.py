"""lastTransitionTime: set when a condition first appears or changes status, kept otherwise,
for Gateway, listener and route-parent conditions."""

from __future__ import annotations

from controlplane.status import StatusStamper
from translator.gatewayapi.status import ObjectId

KEY = ObjectId("gateway.networking.k8s.io", "Gateway", "default", "gw")


def status(accepted: str, listener_programmed: str) -> dict[str, object]:
    return {
        "conditions": [
            {"type": "Accepted", "status": accepted, "reason": "Accepted", "message": ""}
        ],
        "listeners": [
            {
                "name": "http",
                "conditions": [
                    {
                        "type": "Programmed",
                        "status": listener_programmed,
                        "reason": "x",
                        "message": "",
                    }
                ],
            }
        ],
    }


def times(stamped: dict[ObjectId, dict[str, object]]) -> tuple[str, str]:
    gateway = stamped[KEY]
    top = gateway["conditions"][0]["lastTransitionTime"]  # type: ignore[index]
    listener = gateway["listeners"][0]["conditions"][0]["lastTransitionTime"]  # type: ignore[index]
    return top, listener


def test_times_change_only_on_transition() -> None:
    now = [1_800_000_000.0]
    stamper = StatusStamper(lambda: now[0])
    first = times(stamper.stamp({KEY: status("True", "True")}))
    now[0] += 10
    second = times(stamper.stamp({KEY: status("True", "False")}))
    assert second[0] == first[0]
    assert second[1] != first[1]
    original = status("True", "True")
    stamper.stamp({KEY: original})
    assert "lastTransitionTime" not in original["conditions"][0]  # type: ignore[index]
