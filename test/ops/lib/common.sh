# test/ops/lib/common.sh: helpers shared by the scenarios of test/ops/ (sourced, not run).
#
#   ok COND-EXIT-STATUS MESSAGE   check: prints "ok - MESSAGE" or "not ok - MESSAGE"
#   cluster_start NAME [CONF...]  initdb + start a second, throwaway cluster in $work/NAME
#                                 (Unix socket in that directory only, no TCP); sets
#                                 <NAME>_HOST and <NAME>_PORT; stopped at exit
#   cluster_stop NAME [MODE]      pg_ctl stop (fast unless MODE)
#   ledger_digest [PSQL ARGS]     one line per registered table and sequence of the
#                                 extension: name, row count and md5 of its sorted rows (or
#                                 the sequence position), then chain heads and seals
#
# The scenarios run through test/cluster.sh (PGHOST, PGPORT, CARBONMKT_PG_BINDIR set).
set -euo pipefail
: "${CARBONMKT_PG_BINDIR:?run me through test/cluster.sh}"
bindir=$CARBONMKT_PG_BINDIR
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/carbonmkt-ops.XXXXXX")
chmod 755 "$work"
failures=0
started_clusters=()
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$work"
	as_pg=(runuser -u postgres --)
fi

ok() {
	local status=$1
	shift
	if [ "$status" -eq 0 ]; then
		echo "ok - $*"
	else
		echo "not ok - $*"
		failures=$((failures + 1))
	fi
}

# the exit status of a command, for ok
st() { "$@" >/dev/null 2>&1 && echo 0 || echo 1; }

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
qa() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

ops_cleanup() {
	local rc=$?
	trap - EXIT
	for n in "${started_clusters[@]}"; do
		[ -f "$work/$n/data/postmaster.pid" ] &&
			"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/$n/data" -m immediate -w stop >/dev/null 2>&1 || true
	done
	if [ "$rc" -ne 0 ] || [ "$failures" -ne 0 ]; then
		for n in "${started_clusters[@]}"; do
			[ -f "$work/$n/server.log" ] && { echo "--- server log of cluster $n (last 30 lines)"; tail -30 "$work/$n/server.log"; }
		done
	fi
	rm -rf "$work"
	[ "$failures" -eq 0 ] && exit "$rc"
	exit 1
}
trap ops_cleanup EXIT

cluster_port() {
	local p
	for _ in 1 2 3 4 5 6 7 8; do
		p=$((20000 + (RANDOM * 7 + $$) % 40000))
		[ -e "/tmp/.s.PGSQL.$p" ] || [ -e "/var/run/postgresql/.s.PGSQL.$p" ] || { echo "$p"; return; }
	done
	echo "$p"
}

cluster_conf() {
	local name=$1
	shift
	cat >>"$work/$name/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work/$name'
port = $(cluster_port)
timezone = 'Asia/Shanghai'
log_timezone = 'UTC'
lc_messages = 'C'
datestyle = 'iso, ymd'
shared_buffers = '64MB'
max_connections = 40
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
	for c in "$@"; do echo "$c" >>"$work/$name/data/postgresql.conf"; done
}

cluster_start_existing() {
	local name=$1
	"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/$name/data" -l "$work/$name/server.log" -w -t 120 start >/dev/null
	local port
	port=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$work/$name/data/postgresql.conf" | tail -1)
	printf -v "${name}_HOST" '%s' "$work/$name"
	printf -v "${name}_PORT" '%s' "$port"
	export "${name}_HOST" "${name}_PORT"
}

cluster_start() {
	local name=$1
	shift
	mkdir -p "$work/$name"
	[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$work/$name"
	"${as_pg[@]}" "$bindir/initdb" -D "$work/$name/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
		>"$work/$name/initdb.log" 2>&1 || { cat "$work/$name/initdb.log"; return 1; }
	cluster_conf "$name" "$@"
	started_clusters+=("$name")
	cluster_start_existing "$name"
}

cluster_stop() {
	"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/$1/data" -m "${2:-fast}" -w stop >/dev/null
}

# psql against cluster NAME: on NAME psql ARGS...
on() {
	local name=$1
	shift
	local h="${name}_HOST" p="${name}_PORT"
	PGHOST=${!h} PGPORT=${!p} "$@"
}

ledger_digest() {
	qa "$@" <<'SQL'
SET search_path = pg_catalog;
CREATE FUNCTION pg_temp.table_digest(r regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = r) = 'S' THEN
        EXECUTE format('SELECT last_value || '' '' || is_called FROM %s', r) INTO d;
    ELSE
        EXECUTE format('SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM %s t', r) INTO d;
    END IF;
    RETURN d;
END $$;
SELECT c.conf::regclass::text || ' ' || pg_temp.table_digest(c.conf)
  FROM pg_extension e, unnest(e.extconfig) AS c(conf)
 WHERE e.extname = 'carbonmkt' ORDER BY 1;
SELECT 'heads ' || encode(digest, 'hex') || ' ' || accounts || ' ' || entries FROM carbonmkt.heads_digest('2100-01-01');
SELECT 'seal ' || business_date || ' ' || encode(digest, 'hex') FROM carbonmkt.day_seal ORDER BY business_date;
SQL
}
