"""Command line: `detectkit-dagster <command>`, one module per command.

Each command module exposes `register(subparsers)`, which adds its parser and sets `func`
to a callable taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse

from . import autotune, demo, label, validate

COMMANDS = (validate, demo, autotune, label)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="detectkit-dagster", description="Metric monitoring with anomaly detection on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)
