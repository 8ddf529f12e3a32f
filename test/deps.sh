#!/usr/bin/env bash
# Install the Debian packages carbonmkt needs to build and test, if any are missing.
# As root: runs apt-get update and apt-get install.  Otherwise: prints the command and fails.
set -euo pipefail

pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
      libtap-parser-sourcehandler-pgtap-perl libpq-dev)
missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "carbonmkt: missing Debian packages: ${missing[*]}" >&2
	echo "Run as root:  $cmd" >&2
	exit 1
fi
echo "carbonmkt: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
