"""lastTransitionTime: set when a condition first appears or changes status, kept otherwise,
for Gateway, listener and route-parent conditions; an unchanged status keeps its stamped form,
and an object that goes away and returns is stamped anew."""

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


def test_unchanged_statuses_keep_their_stamped_form_and_a_returning_object_starts_over() -> None:
    now = [1_800_000_000.0]
    stamper = StatusStamper(lambda: now[0])
    other = ObjectId("gateway.networking.k8s.io", "HTTPRoute", "default", "web")
    given = {KEY: status("True", "True"), other: status("True", "True")}
    first = stamper.stamp(given)
    now[0] += 10
    again = stamper.stamp({KEY: given[KEY], other: status("True", "True")})  # same, equal
    assert again[KEY] is first[KEY] and again[other] is first[other]
    assert list(stamper.stamp({other: given[other]})) == [other]
    now[0] += 10
    back = stamper.stamp({other: given[other], KEY: given[KEY]})
    assert back.keys() == {other, KEY}
    assert times(back) != times(first)
