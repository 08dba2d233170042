#!/usr/bin/env bash
# Create (or reuse) the Python venv used by testdata/generate.py and
# scripts/peer/pypaimon_peer.py, at $REPO/.venv, with testdata/requirements.txt
# installed. Idempotent: an existing venv whose installed packages already match
# the pins exactly is left alone. Prints the venv's python path on stdout (last
# line); progress goes to stderr.
#
#   bash scripts/venv.sh                      # -> /path/to/repo/.venv/bin/python
#   PYTHON=python3.11 bash scripts/venv.sh    # choose the base interpreter
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
REQ="$REPO/testdata/requirements.txt"
BASE_PY="${PYTHON:-python3}"
VPY="$VENV/bin/python"

log() { echo "venv.sh: $*" >&2; }

# The pins as "name==version" lines, names normalised (PEP 503), sorted.
normalise() {
  grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' | sed 's/[[:space:]]//g' \
    | awk -F'==' '{ n = tolower($1); gsub(/[-_.]+/, "-", n); print n "==" $2 }' | LC_ALL=C sort
}

pins_match() {
  [ -x "$VPY" ] || return 1
  local want have
  want="$(normalise < "$REQ")"
  have="$("$VPY" -m pip freeze --disable-pip-version-check 2>/dev/null | normalise)" || return 1
  [ "$want" = "$have" ]
}

if pins_match; then
  log "$VENV is up to date"
  echo "$VPY"
  exit 0
fi

if [ ! -x "$VPY" ] || ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
  log "creating $VENV with $("$BASE_PY" --version 2>&1)"
  rm -rf "$VENV"
  if ! "$BASE_PY" -m venv "$VENV"; then
    log "error: '$BASE_PY -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    exit 1
  fi
fi

log "installing $REQ"
"$VPY" -m pip install --disable-pip-version-check --quiet -r "$REQ" >&2

if ! pins_match; then
  log "warning: installed packages differ from $REQ:"
  diff <(normalise < "$REQ") <("$VPY" -m pip freeze --disable-pip-version-check | normalise) >&2 || true
fi
"$VPY" -c 'import pypaimon, pyarrow, fastavro' || { log "error: pypaimon import failed"; exit 1; }
echo "$VPY"
