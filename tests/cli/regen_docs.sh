#!/usr/bin/env bash
# Rewrites the generated block of docs/cli.md with `refit help-md` (the test
# cli_docs fails until this is run after a change to an option, variable,
# exit code or report field).
# usage: regen_docs.sh REFIT
set -euo pipefail
doc="$(dirname "$0")/../../docs/cli.md"
gen=$("$1" help-md)
awk -v gen="$gen" '
  /^<!-- BEGIN refit help-md -->$/ { print; print gen; skip = 1; next }
  /^<!-- END refit help-md -->$/ { skip = 0 }
  !skip' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
