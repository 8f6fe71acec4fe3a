#!/usr/bin/env bash
# The test suite. Needs Debian's postgresql, clickhouse-server, mariadb-server and chromium packages
# (.ci/run installs them).
EXTRAS=test source "$(dirname "$0")/_venv.sh"
exec python -m pytest "$@"
