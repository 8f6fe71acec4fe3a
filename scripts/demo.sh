#!/usr/bin/env bash
# The demo: builds an embedded DuckDB source with four metrics and materializes every
# asset of their recent partitions into ./.dagster_home, so `dagster dev` shows them.
source "$(dirname "$0")/_venv.sh"
exec detectkit-dagster demo "$@"
