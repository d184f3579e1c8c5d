#!/usr/bin/env bash
# Refresh constraints.txt: install genbench's test extra with the NEWEST versions pip resolves (no constraints), run
# the whole test suite against them, and only if it passes, write what was installed to constraints.txt.
#
#   bash scripts/refresh_constraints.sh [PYTEST ARGS...]
#
# The venv lives in a temporary folder (removed at the end) and uses the first `python3` on PATH; pip's own
# configuration still applies (a machine-wide cap or index stays in force). Takes the install time plus one
# test run (~10 minutes on 2 cores). Exit status: pytest's, and constraints.txt is left untouched unless it is 0.
# Review the change with `git diff constraints.txt` and commit it with the test result.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/genbench-constraints-XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q -e "$root[test]"
echo "refresh: installed newest versions; running the test suite" >&2
"$work/venv/bin/python" -m pytest "$@"

py=$("$work/venv/bin/python" -c 'import platform; print(platform.python_version(), platform.system(), platform.machine())')
{
  echo "# Tested versions: the README's install commands and .ci/run install with \`pip install -c constraints.txt\`,"
  echo "# so a new user gets what CI tested; pyproject.toml keeps genbench's own ranges wide for library users."
  echo "# Written by scripts/refresh_constraints.sh on $(date -u +%Y-%m-%d) after the whole test suite passed on these"
  echo "# versions (Python $py). Packages a platform does not need (the CUDA wheels on macOS) are simply not installed."
  "$work/venv/bin/pip" freeze --exclude-editable | grep -v -i '^genbench'
} > "$work/constraints.txt"
mv "$work/constraints.txt" "$root/constraints.txt"
echo "refresh: wrote $root/constraints.txt ($(grep -vc '^#' "$root/constraints.txt") pins)" >&2
