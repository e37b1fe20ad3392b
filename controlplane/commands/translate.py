"""``agw translate``: offline translation of YAML files, printed as canonical YAML."""

from __future__ import annotations

import argparse
import sys
from operator import itemgetter
from pathlib import Path
from typing import Any

import yaml

from translator.loader import load_paths
from translator.options import TranslateOptions, is_options_document, options_from_document
from translator.serialize import dump_yaml, to_data
from translator.translate import translate
from translator.xds.dump import resources_to_dicts


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate Gateway API YAML offline and print statuses, IR or xDS",
        description="Translate files or directories of Kubernetes YAML. A TranslationOptions "
        "document (apiVersion agw.dev/v1alpha1) among the inputs sets options.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    parser.add_argument("--output", choices=("statuses", "ir", "xds"), default="statuses")
    parser.add_argument(
        "--controller-name", default=None, help="GatewayClass controllerName to act for"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not path.exists():
            print(f"agw translate: {path}: no such file or directory", file=sys.stderr)
            return 2
    loaded = load_paths(args.paths)
    for problem in loaded.problems:
        print(f"agw translate: {problem}", file=sys.stderr)
    options = _options(args)
    result = translate(loaded.resource_set(), options)
    for gateway, messages in result.inconsistencies.items():
        for message in messages:
            print(f"agw translate: {gateway}: inconsistent: {message}", file=sys.stderr)
    output: Any
    if args.output == "statuses":
        output = [
            {"kind": key.kind, "namespace": key.namespace, "name": key.name, "status": status}
            for key, status in sorted(result.statuses.items(), key=itemgetter(0))
        ]
    elif args.output == "ir":
        output = to_data(result.ir)
    else:
        output = {
            gateway: resources_to_dicts(resources) for gateway, resources in result.xds.items()
        }
    sys.stdout.write(dump_yaml(output))
    return 1 if loaded.problems else 0


def _options(args: argparse.Namespace) -> TranslateOptions:
    options = TranslateOptions()
    for path in _yaml_files(args.paths):
        try:
            for doc in yaml.safe_load_all(path.read_text()):
                if is_options_document(doc):
                    options = options_from_document(doc)
        except yaml.YAMLError:
            continue  # the loader reports the syntax error
    if args.controller_name:
        options = TranslateOptions(
            args.controller_name, options.gateway_addresses, options.default_address
        )
    return options


def _yaml_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
            )
        else:
            files.append(path)
    return files
