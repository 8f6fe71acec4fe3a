"""Command line: `detectkit-dagster <command>`, one module per command.

Each command module exposes `register(subparsers)`, which adds its parser and sets `func`
to a callable taking the parsed arguments and returning the exit code. A `DetectkitError`
out of a command (a bad file, not a project, no such metric) is printed in one line, exit code 1.
"""

from __future__ import annotations

import argparse

from ..errors import DetectkitError
from . import autotune, demo, init, label, pools, report, run, test_alert, validate
from .common import fail

COMMANDS = (init, validate, run, report, test_alert, autotune, label, pools, demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="detectkit-dagster", description="Metric monitoring with anomaly detection on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DetectkitError as exc:
        return fail(exc)
