#!/usr/bin/env bash
# test/cluster.sh COMMAND [ARGS...]
#
# Runs COMMAND against a throwaway PostgreSQL cluster: initdb in a fresh temporary
# directory (as the postgres user when invoked as root), a server that listens on a
# Unix socket in that directory only (listen_addresses = ''), on a port not in use.
# PGHOST, PGPORT, PGUSER and PGDATABASE point at it while COMMAND runs; the server is
# stopped and the directory removed afterwards, also when COMMAND fails or is interrupted.
# COMMAND's exit status is returned.  CARBONMKT_SERVER_LOG names the server log.
# Tests run with fsync, synchronous_commit and full_page_writes off (nothing here must
# survive a crash); CARBONMKT_DURABLE=1 keeps PostgreSQL's durable defaults (all three on),
# which make bench uses so that benchmark figures are the ones a DBA will see.
# CARBONMKT_CLUSTER_DIR=DIR keeps the cluster: a new DIR is initialised and left in place
# (server stopped) afterwards; an existing DIR (a kept cluster) is started again as it is,
# its postgresql.conf unchanged (registry_scale measures a built registry again this way).
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-$(ls /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
bindir=$("$PG_CONFIG" --bindir)

keep=0 reuse=0
if [ -n "${CARBONMKT_CLUSTER_DIR:-}" ]; then
	keep=1
	tmp=$(realpath -m "$CARBONMKT_CLUSTER_DIR")
	if [ -f "$tmp/data/PG_VERSION" ]; then
		reuse=1
	else
		mkdir "$tmp"
	fi
else
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-cluster.XXXXXX")
fi
chmod 755 "$tmp"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$tmp"
	as_pg=(runuser -u postgres --)
fi

started=0
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ "$started" -eq 1 ]; then
		"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m fast -w stop >>"$tmp/ctl.log" 2>&1 ||
			"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >>"$tmp/ctl.log" 2>&1 || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$tmp/server.log" ] && [ -n "${CARBONMKT_KEEP_LOG:-}" ]; then
		cp "$tmp/server.log" "$CARBONMKT_KEEP_LOG" || true
	fi
	[ "$keep" -eq 1 ] || rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$reuse" -eq 0 ]; then
"${as_pg[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 \
	--locale=C --no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; exit 1; }

if [ -n "${CARBONMKT_DURABLE:-}" ]; then
	durability="# durable defaults: fsync, synchronous_commit, full_page_writes on (CARBONMKT_DURABLE)"
else
	durability="fsync = off
synchronous_commit = off
full_page_writes = off"
fi
cat >>"$tmp/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$tmp'
$durability
shared_buffers = '512MB'
work_mem = '64MB'
maintenance_work_mem = '256MB'
max_connections = 120
max_locks_per_transaction = 256
timezone = 'Asia/Shanghai'
log_timezone = 'UTC'
lc_messages = 'C'
datestyle = 'iso, ymd'
deadlock_timeout = '100ms'
CONF
fi

# A port with no socket or lock file anywhere we can see; retry if start-up fails.
for attempt in 1 2 3 4 5; do
	port=$((20000 + (RANDOM * 7 + $$ + attempt * 131) % 40000))
	[ -e "/tmp/.s.PGSQL.$port" ] || [ -e "/var/run/postgresql/.s.PGSQL.$port" ] && continue
	if "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -o "-p $port" -l "$tmp/server.log" -w -t 60 start \
		>"$tmp/ctl.log" 2>&1; then
		started=1
		break
	fi
done
if [ "$started" -ne 1 ]; then
	echo "carbonmkt: could not start a throwaway cluster" >&2
	cat "$tmp/ctl.log" "$tmp/server.log" >&2 2>/dev/null || true
	exit 1
fi

export PGHOST="$tmp" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
export PGTZ=Asia/Shanghai LC_ALL=C LANG=C
export CARBONMKT_SERVER_LOG="$tmp/server.log" CARBONMKT_PG_BINDIR="$bindir"
set +e
"$@"
rc=$?
set -e
exit "$rc"
