#!/usr/bin/env bash
# Install what carbonmkt needs to build and test, if any of it is missing:
#   - Debian packages: PostgreSQL 15 and its server headers, pgTAP, libpq; Chromium and a
#     CJK font for the dashboard's browser test (test/browser/); Node.js with npm if no npm
#     is on the PATH.  As root: apt-get update and apt-get install.  Otherwise: prints the
#     command and fails.
#   - npm packages (package.json, package-lock.json): the chart library the dashboard
#     inlines (echarts) and the driver of Debian's Chromium for the browser test
#     (playwright-core, which downloads no browser), by `npm ci` into node_modules/
#     (ignored by git) when it is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
      libtap-parser-sourcehandler-pgtap-perl libpq-dev chromium fonts-wqy-microhei)
missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
# Debian's npm is a package of its own; a Node.js that brings npm along needs nothing more
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -ne 0 ]; then
	cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "carbonmkt: missing Debian packages: ${missing[*]}" >&2
		echo "Run as root:  $cmd" >&2
		exit 1
	fi
	echo "carbonmkt: installing ${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "carbonmkt: installing the npm packages of package-lock.json into node_modules/"
	npm ci --no-audit --no-fund --loglevel=error
fi
