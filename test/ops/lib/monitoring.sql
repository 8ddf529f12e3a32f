-- test/ops/lib/monitoring.sql: what to watch on a registry (doc/operations.md,
-- "Monitoring"); read-only, so it runs on a BI replica too (test/ops/standby.sh runs it).
\timing off
-- journal growth: rows and size, and entries per business day of the last 7 days
SELECT count(*) AS journal_entries,
       pg_size_pretty(pg_total_relation_size('carbonmkt.journal')) AS journal_size,
       pg_size_pretty(pg_database_size(current_database())) AS database_size
  FROM carbonmkt.journal;
SELECT business_date, count(*) AS entries, count(DISTINCT posting_id) AS postings
  FROM carbonmkt.journal
 WHERE business_date > (SELECT max(business_date) - 7 FROM carbonmkt.journal)
 GROUP BY 1 ORDER BY 1;
-- seal lag: business days with entries after the last sealed day (0 when every day is sealed)
SELECT (SELECT max(business_date) FROM carbonmkt.day_seal) AS last_sealed_day,
       (SELECT max(business_date) FROM carbonmkt.journal) AS last_posting_day,
       (SELECT count(DISTINCT business_date) FROM carbonmkt.journal
         WHERE business_date > coalesce((SELECT max(business_date) FROM carbonmkt.day_seal), '-infinity')) AS unsealed_days;
-- verify time: how long a full verification takes (and that it finds nothing)
SELECT clock_timestamp() AS verify_started \gset
SELECT count(*) AS verify_problems FROM carbonmkt.verify_ledger();
SELECT round(extract(epoch FROM clock_timestamp() - :'verify_started'::timestamptz) * 1000) AS verify_ms;
