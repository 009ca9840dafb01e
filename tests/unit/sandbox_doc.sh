#!/usr/bin/env bash
# docs/security.md's table of allowed system calls per thread must be what
# the filter tables give (cocoon-sandbox-info): `sandbox_doc.sh BUILD_DIR`.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
doc=$root/docs/security.md
got=$("$1/cocoon-sandbox-info")
want=$(sed -n '/<!-- sandbox-counts/,/<!-- end sandbox-counts/p' "$doc" |
	awk -F'|' 'NR > 3 && NF > 3 {gsub(/ /, "", $2); gsub(/ /, "", $3); print $2 " " $3}')
if [ "$got" != "$want" ]; then
	echo "FAIL: docs/security.md's counts differ from cocoon-sandbox-info:" >&2
	diff <(echo "$want") <(echo "$got") >&2 || true
	exit 1
fi
echo PASS
