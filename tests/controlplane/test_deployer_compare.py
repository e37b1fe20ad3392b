"""How the provisioner tells a real change from API-server noise, and what an update keeps
(controlplane.deployer.comparison and reconciler.is_current / updated), on plain dicts.

Covers: quantities compared by value, defaults the server adds, list lengths, label and
annotation changes, and the fields an update carries over from the live object. Leaves the
API calls to test_deployer_reconcile.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.deployer.comparison import is_subset, quantity
from controlplane.deployer.names import APPLIED_ANNOTATIONS
from controlplane.deployer.reconciler import is_current, updated


@pytest.mark.parametrize(
    ("left", "right"),
    [("500m", "0.5"), (1, "1"), ("1Gi", "1024Mi"), ("1k", "1000"), ("1e3", "1k"), ("2", 2)],
)
def test_quantities_compare_by_value(left: Any, right: Any) -> None:
    assert is_subset(left, right) and is_subset(right, left)


@pytest.mark.parametrize(("left", "right"), [("500m", "5"), ("TCP", "UDP"), ("1Mi", "1M")])
def test_different_values_differ(left: Any, right: Any) -> None:
    assert not is_subset(left, right)


def test_quantity_rejects_what_is_not_one() -> None:
    assert quantity("lots") is None and quantity(True) is None and quantity("1Xi") is None


def test_server_defaults_are_not_changes_but_list_lengths_are() -> None:
    wanted = {"containers": [{"name": "proxy", "resources": {"requests": {"cpu": "0.5"}}}]}
    live = {
        "containers": [
            {
                "name": "proxy",
                "terminationMessagePath": "/dev/termination-log",
                "resources": {"requests": {"cpu": "500m"}},
            }
        ],
        "dnsPolicy": "ClusterFirst",
    }
    assert is_subset(wanted, live)
    assert not is_subset({"containers": [*wanted["containers"], {"name": "x"}]}, live)


SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "agw-web",
        "namespace": "apps",
        "labels": {"team": "web"},
        "annotations": {"example.com/a": "1", APPLIED_ANNOTATIONS: "example.com/a"},
    },
    "spec": {"type": "LoadBalancer", "ports": [{"name": "tcp-80", "port": 80, "protocol": "TCP"}]},
}


def live_service() -> dict[str, Any]:
    live = copy.deepcopy(SERVICE)
    live["metadata"].update(resourceVersion="7", finalizers=["service.kubernetes.io/lb"])
    live["metadata"]["annotations"]["example.com/theirs"] = "x"
    live["spec"].update(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"], sessionAffinity="None")
    live["spec"]["ports"][0]["nodePort"] = 31080
    return live


def test_a_live_object_with_extras_is_current() -> None:
    assert is_current(SERVICE, live_service())


def test_label_and_annotation_changes_are_changes() -> None:
    relabelled = copy.deepcopy(SERVICE)
    relabelled["metadata"]["labels"] = {"team": "edge"}
    assert not is_current(relabelled, live_service())
    unannotated = copy.deepcopy(SERVICE)
    unannotated["metadata"]["annotations"] = {}
    assert not is_current(unannotated, live_service())


def test_an_update_keeps_what_the_cluster_and_others_own() -> None:
    wanted = copy.deepcopy(SERVICE)
    wanted["metadata"]["annotations"] = {}
    wanted["spec"]["ports"].append({"name": "tcp-443", "port": 443, "protocol": "TCP"})
    body = updated(wanted, live_service())
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["finalizers"] == ["service.kubernetes.io/lb"]
    assert body["metadata"]["annotations"] == {"example.com/theirs": "x"}
    assert body["spec"]["clusterIP"] == "10.96.0.10"
    assert [port.get("nodePort") for port in body["spec"]["ports"]] == [31080, None]
    assert "sessionAffinity" not in body["spec"]


def test_an_update_keeps_the_autoscalers_replicas_only_when_it_owns_them() -> None:
    live = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}, "spec": {"replicas": 7}}
    scaled = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}, "spec": {}}
    fixed = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}, "spec": {"replicas": 2}}
    assert updated(scaled, live)["spec"]["replicas"] == 7
    assert updated(fixed, live)["spec"]["replicas"] == 2
