#!/usr/bin/env bash
# test/security/suggest-rows.sh: prints a row of test/security/matrix.tsv for every public
# function, table or view of carbonmkt that has none: a default sample call (arguments
# chosen by type and name from the ids of test/security/fixture.sql) and the outcomes
# observed under the 13 logins.  Review and adjust each row before appending it
# (doc/security.md, "The matrix").  Needs the extension installed (make install); runs on
# a throwaway cluster (test/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${CARBONMKT_PG_BINDIR:-}" ]; then
	exec test/cluster.sh "$0" "$@"
fi
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS carbonmkt_suggest" -c "CREATE DATABASE carbonmkt_suggest"
psql -X -q -d carbonmkt_suggest -c "CREATE EXTENSION carbonmkt"
PGOPTIONS="-c carbonmkt.clock=2025-03-01T10:00:00+08" psql -X -q -d carbonmkt_suggest -v ON_ERROR_STOP=1 \
	-f test/security/fixture.sql >/dev/null
PGOPTIONS="-c carbonmkt.clock=2025-03-01T10:00:00+08" psql -X -q -A -t -d carbonmkt_suggest -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
SET search_path = pg_catalog, pg_temp;
CREATE TEMP TABLE matrix (object text PRIMARY KEY, call text NOT NULL, expect text NOT NULL);
\copy matrix FROM 'test/security/matrix.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
CREATE TEMP TABLE login_kind (ord int PRIMARY KEY, login name NOT NULL);
INSERT INTO login_kind VALUES (1, 'cmsec_unit_a'), (2, 'cmsec_unit_b'), (3, 'cmsec_firm'), (4, 'cmsec_norole'),
  (5, 'cmsec_registry'), (6, 'cmsec_exchange'), (7, 'cmsec_settlement'), (8, 'cmsec_bi'), (9, 'cmsec_national'),
  (10, 'cmsec_gd'), (11, 'cmsec_hb'), (12, 'cmsec_sz'), (13, 'cmsec_loose');
CREATE FUNCTION pg_temp.try(p_login name, p_call text, p_relation boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    BEGIN
        EXECUTE format('SET SESSION AUTHORIZATION %I', p_login);
        EXECUTE p_call INTO v;
        RAISE EXCEPTION USING ERRCODE = 'ZZ999', MESSAGE = CASE WHEN p_relation THEN v ELSE 'ok' END;
    EXCEPTION WHEN others THEN
        v := CASE WHEN SQLSTATE = 'ZZ999' THEN SQLERRM ELSE SQLSTATE END;
    END;
    RETURN v;
END
$$;
CREATE TEMP TABLE gen AS
SELECT 'function ' || p.oid::regprocedure::text AS object,
       'SELECT carbonmkt.' || quote_ident(p.proname) || '(' || coalesce((
         SELECT string_agg(
           CASE
             WHEN t = 'bigint'::regtype THEN
               CASE WHEN n ~ 'acting_for' THEN 'NULL'
                    WHEN n ~ '^(to|to_account|to_.*|credit.*)$' THEN '7'
                    WHEN n ~ 'account|^from' THEN '5'
                    WHEN n ~ 'participant|unit|firm|buyer|seller' THEN '6'
                    WHEN n ~ 'price|fen' THEN '6000'
                    WHEN n ~ 'quantity|tonnes|_t$|volume|amount' THEN '10'
                    ELSE '1' END
             WHEN t = 'integer'::regtype THEN CASE WHEN n ~ 'year|vintage|period' THEN '2024' ELSE '1' END
             WHEN t = 'text'::regtype THEN
               CASE WHEN n ~ 'project' THEN '''GD-OW-0042''' WHEN n = 'decision' THEN '''approve'''
                    WHEN n ~ 'side' THEN '''buy''' ELSE '''x''' END
             WHEN t = 'character'::regtype THEN CASE WHEN n ~ 'city' THEN '''440300''' ELSE '''440000''' END
             WHEN t = 'numeric'::regtype THEN '1'
             WHEN t = 'boolean'::regtype THEN 'true'
             WHEN t = 'date'::regtype THEN '''2025-03-01''::date'
             WHEN t = 'timestamptz'::regtype THEN '''2025-03-01 10:00+08''::timestamptz'
             WHEN t = 'jsonb'::regtype THEN '''{}''::jsonb'
             WHEN t = 'name'::regtype THEN '''cmsec_norole''::name'
             WHEN t = 'carbonmkt.ccer'::regtype THEN '''CCER:GD-OW-0042:2024:1-1''::carbonmkt.ccer'
             WHEN t = 'carbonmkt.allowance'::regtype THEN 'carbonmkt.cea(2024, 1)'
             WHEN EXISTS (SELECT 1 FROM pg_type y WHERE y.oid = t AND y.typtype = 'e') THEN
               quote_literal((SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t ORDER BY e.enumsortorder LIMIT 1)) || '::' || t::regtype::text
             WHEN EXISTS (SELECT 1 FROM pg_type y WHERE y.oid = t AND y.typcategory = 'A') THEN '''{}''::' || t::regtype::text
             ELSE 'NULL::' || t::regtype::text END, ', ' ORDER BY i)
           FROM unnest(p.proargtypes::oid[], coalesce(p.proargnames, array_fill(''::text, ARRAY[p.pronargs])))
                WITH ORDINALITY x(t, n, i)
          WHERE i <= p.pronargs - p.pronargdefaults), '') || ')' AS call, false AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%'
   AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes) t WHERE t IN ('cstring'::regtype, 'internal'::regtype))
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END || 'carbonmkt.' || c.relname,
       'SELECT count(*) FROM carbonmkt.' || quote_ident(c.relname), has_table_privilege('public', c.oid, 'SELECT')
  FROM pg_class c WHERE c.relnamespace = 'carbonmkt'::regnamespace AND c.relkind IN ('r', 'v', 'm') AND c.relname NOT LIKE '\_%';
SELECT g.object || E'\t' || g.call || E'\t' ||
       (SELECT CASE WHEN t ~ '^(\S+)( \1)*$' THEN split_part(t, ' ', 1) ELSE t END
          FROM (SELECT string_agg(CASE WHEN g.public AND o ~ '^[0-9]+$' THEN 'ok' ELSE o END, ' ' ORDER BY l.ord) AS t
                  FROM login_kind l, LATERAL pg_temp.try(l.login, g.call, g.object !~ '^function ') o) s)
  FROM gen g WHERE g.object NOT IN (SELECT object FROM matrix) ORDER BY 1;
SQL
