"""Property: the order of input objects never changes the translation (statuses, IR, xDS).

Uses the golden inputs with the most objects as seeds and Hypothesis permutations of their
documents. Does not cover duplicate objects (the loader's last-wins rule has its own test)."""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.translator.golden import cases
from translator.loader import load_text
from translator.options import TranslateOptions
from translator.resources import ResourceSet
from translator.serialize import dump_yaml, to_data
from translator.translate import translate
from translator.xds.dump import resources_to_dicts

SEEDS = [
    p
    for p in cases("gatewayapi")
    if p.name.startswith(
        (
            "httproute-precedence",
            "httproute-listener-isolation",
            "gateway-https-terminate",
            "httproute-multiple-parents",
        )
    )
]


def rendered(objects: list[object]) -> str:
    result = translate(
        ResourceSet.from_objects(objects),
        TranslateOptions(gateway_addresses={"default/gw": "127.0.10.1"}),
    )  # type: ignore[arg-type]
    statuses = [(str(k), v) for k, v in sorted(result.statuses.items(), key=itemgetter(0))]
    xds = {k: resources_to_dicts(v) for k, v in result.xds.items()}
    return dump_yaml({"statuses": statuses, "ir": to_data(result.ir), "xds": xds})


def test_seeds_exist() -> None:
    assert len(SEEDS) == 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shuffled_input_translates_the_same(data: st.DataObject) -> None:
    seed: Path = data.draw(st.sampled_from(SEEDS))
    objects = list(load_text(seed.read_text(), seed.name).objects)
    shuffled = data.draw(st.permutations(objects))
    assert rendered(list(shuffled)) == rendered(objects)
