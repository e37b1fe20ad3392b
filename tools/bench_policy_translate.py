"""CPU to translate again the AgentgatewayPolicy golden inputs (tests/translator/testdata/xds/
agwpolicy-*.in.yaml): what every configuration change costs once policies with CEL exist.

Usage: .venv/bin/python tools/bench_policy_translate.py [--passes 10]

Each input is translated once to warm up, then all of them ``--passes`` times; prints the
best and the median CPU time per pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.translator.test_golden_gatewayapi import load_case  # noqa: E402
from translator.translate import translate  # noqa: E402


def main(passes: int) -> None:
    inputs = sorted((ROOT / "tests/translator/testdata/xds").glob("agwpolicy-*.in.yaml"))
    cases = [load_case(path)[:2] for path in inputs]
    for resources, options in cases:
        translate(resources, options)
    spent = []
    for _ in range(passes):
        started = time.process_time()
        for resources, options in cases:
            translate(resources, options)
        spent.append(time.process_time() - started)
    spent.sort()
    print(
        f"{len(cases)} inputs translated again: best {spent[0] * 1e3:.0f} ms, "
        f"median {spent[len(spent) // 2] * 1e3:.0f} ms CPU per pass"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=10)
    main(parser.parse_args().passes)
