"""What every stage's subcommands share: argument types and how a command is declared."""

from __future__ import annotations

import argparse
import json
from typing import Callable


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default (argparse's own formatter, named once for every command)."""


def add_command(sub, name: str, help: str, func: Callable, *, gpu: bool = False) -> argparse.ArgumentParser:
    """A subcommand running ``func(args)``; ``gpu`` commands claim a device first (core.gpu_slots)."""
    parser = sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)
    parser.set_defaults(func=func, gpu=gpu)
    return parser


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no interactive progress bar; progress goes out as periodic plain lines (a log file gets those anyway)")


def json_object(text: str) -> dict:
    return _json(text, dict, "a JSON object")


def json_list(text: str) -> list:
    return _json(text, list, "a JSON list")


def _json(text: str, kind: type, what: str):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise argparse.ArgumentTypeError(f"expected {what}")
    return value
