-- carbonmkt 0.1.0 -> 0.2.0, written by hand (doc/operations.md, "Upgrades").
--
-- Every change to the installed SQL (src/*.sql) since the frozen 0.1.0 script
-- (sql/carbonmkt--0.1.0.sql) is repeated here, so that ALTER EXTENSION carbonmkt UPDATE
-- on a populated 0.1.0 database reaches exactly the schema of a fresh 0.2.0 install
-- and keeps every row.  test/ops/upgrade.sh proves it in `make test`.
-- One section per capability; keep each change in its own section.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION carbonmkt UPDATE TO '0.2.0'" to load this file. \quit

-- == Operations: dump registration, restore, drop guard ==================================


-- == Security: fail-closed scope, four-eyes, anchored seal chain, plausibility ============


-- == Correctness: lock order, business time, messages ====================================


-- == One way in: one C posting engine, one API vocabulary =================================


-- == Rules: administration with history, one jurisdiction vocabulary =======================


-- == Performance: incremental verification, storage =======================================


-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========


-- == Dashboard and BI views ==================================================================


-- == End of 0.1.0 -> 0.2.0 ====================================================================
