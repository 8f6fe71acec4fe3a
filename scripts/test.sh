#!/usr/bin/env bash
# The test suite. Needs Debian's postgresql and chromium packages (.ci/run installs them).
EXTRAS=test source "$(dirname "$0")/_venv.sh"
exec python -m pytest "$@"
