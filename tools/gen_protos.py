"""Compile agw's own .proto files (proto/) into the ``agwproto`` package.

    python tools/gen_protos.py           # rewrite agwproto/ from proto/
    python tools/gen_protos.py --check   # exit 1, naming the files, when agwproto/ is stale

The generated modules keep protoc's layout: proto/agw/filters/v1alpha1/x.proto becomes
agwproto/agw/filters/v1alpha1/x_pb2.py (untyped: mypy treats the package as Any, like the
xds-protos messages). Each .proto imports only
well-known types, so the modules never import one another by the ``agw.`` prefix protoc would
write. Both the translator (to build typed configs) and the proxy (to read them) import it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE_DIR = ROOT / "agwproto"
_PACKAGE_DOC = '"""Generated from proto/ by tools/gen_protos.py; do not edit."""\n'


def generate(into: Path) -> dict[str, bytes]:
    """Every generated file under ``into``, relative path -> content."""
    import grpc_tools
    from grpc_tools import protoc

    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={into}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    files = {str(p.relative_to(into)): p.read_bytes() for p in into.rglob("*") if p.is_file()}
    packages = {""} | {
        str(parent) for name in files for parent in Path(name).parents if str(parent) != "."
    }
    for package in packages:
        files[str(Path(package) / "__init__.py")] = _PACKAGE_DOC.encode()
    return dict(sorted(files.items()))


def existing() -> dict[str, bytes]:
    if not PACKAGE_DIR.exists():
        return {}
    return {
        str(p.relative_to(PACKAGE_DIR)): p.read_bytes()
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def stale_files() -> list[str]:
    """Files of agwproto/ that differ from, or are missing from, a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    current = existing()
    return sorted(
        name for name in fresh.keys() | current.keys() if fresh.get(name) != current.get(name)
    )


def write() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    for name in existing().keys() - fresh.keys():
        (PACKAGE_DIR / name).unlink()
    for name, content in fresh.items():
        target = PACKAGE_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when agwproto/ is stale")
    options = parser.parse_args(argv)
    if not options.check:
        write()
        return 0
    stale = stale_files()
    if stale:
        print("agwproto/ is stale; run tools/gen_protos.py. Differs:", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
