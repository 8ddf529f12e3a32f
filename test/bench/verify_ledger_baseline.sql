-- test/bench/verify_ledger_baseline.sql: the baseline of test/bench/verify_ledger.sql, the SQL
-- implementations of verify_ledger() and verify_ledger_since() as they were before the one-pass
-- C implementation (src/verify.c), verbatim but for their names (schema bench), SECURITY
-- DEFINER (the benchmark runs as the superuser) and the chain checks they call: a UNION ALL of
-- src/chain.c's verify_chains() / verify_chains_since() (bench.verify_chains_chain_c() and
-- bench.verify_chains_since_chain_c(), the C symbols 0.1.0 catalogs still use) and SQL checks
-- that each read the journal (or the new entries) again.  Not a benchmark itself (run.sh skips
-- *_baseline.sql); sql/verify_order.sql loads it too.
CREATE SCHEMA IF NOT EXISTS bench;
CREATE FUNCTION bench.verify_chains_chain_c()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS '$libdir/carbonmkt', 'verify_chains'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;
CREATE FUNCTION bench.verify_chains_since_chain_c(sealed_day date)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS '$libdir/carbonmkt', 'verify_chains_since'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, carbonmkt, pg_temp;

CREATE FUNCTION bench.verify_ledger_sql()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    -- 1. chains, heads and seals (C)
    SELECT v.problem, v.account_id, v.entry_id, v.detail FROM bench.verify_chains_chain_c() v
    UNION ALL
    -- 2. each entry's balance_after/held_after is the running sum of the asset's entries
    SELECT 'running_balance_mismatch', r.account_id, r.entry_id,
           format('%s: balance_after %s, held_after %s, rebuilt %s and %s', r.asset, r.balance_after,
                  r.held_after, r.run_balance, r.run_held)
      FROM (SELECT j.account_id, j.entry_id, j.balance_after, j.held_after,
                   carbonmkt.format_asset(j.instrument, j.vintage, j.project) AS asset,
                   sum(j.amount) OVER w AS run_balance, sum(j.held_change) OVER w AS run_held
              FROM carbonmkt.journal j
            WINDOW w AS (PARTITION BY j.account_id, j.instrument, j.vintage, j.project ORDER BY j.seq)) r
     WHERE r.balance_after <> r.run_balance OR r.held_after <> r.run_held
    UNION ALL
    -- 3. holdings rebuilt from the journal
    SELECT 'balance_mismatch', coalesce(h.account_id, j.account_id), NULL::bigint,
           format('%s: holding %s/%s held, journal %s/%s held',
                  carbonmkt.format_asset(coalesce(h.instrument, j.instrument), coalesce(h.vintage, j.vintage),
                                         coalesce(h.project, j.project)),
                  h.balance, h.held, j.balance, j.held)
      FROM carbonmkt.holding h
      FULL JOIN (SELECT x.account_id, x.instrument, x.vintage, x.project,
                        sum(x.amount) AS balance, sum(x.held_change) AS held
                   FROM carbonmkt.journal x GROUP BY 1, 2, 3, 4) j
             ON (h.account_id, h.instrument, h.vintage, h.project) = (j.account_id, j.instrument, j.vintage, j.project)
     WHERE h.balance IS DISTINCT FROM j.balance::bigint OR h.held IS DISTINCT FROM j.held::bigint
    UNION ALL
    -- 4. no negative balance or available, holds never exceed balances
    SELECT 'negative_or_overheld', h.account_id, NULL,
           format('%s: balance %s, held %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), h.balance, h.held)
      FROM carbonmkt.holding h WHERE h.balance < 0 OR h.held < 0 OR h.held > h.balance
    UNION ALL
    -- 5. held = what active holds still freeze
    SELECT 'held_mismatch', h.account_id, NULL,
           format('%s: held %s, active holds %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project),
                  h.held, coalesce(x.remaining, 0))
      FROM carbonmkt.holding h
      LEFT JOIN (SELECT y.account_id, y.instrument, y.vintage, y.project, sum(y.remaining) AS remaining
                   FROM carbonmkt.hold y WHERE y.status = 'active' GROUP BY 1, 2, 3, 4) x
             ON (h.account_id, h.instrument, h.vintage, h.project) = (x.account_id, x.instrument, x.vintage, x.project)
     WHERE h.held <> coalesce(x.remaining, 0)
    UNION ALL
    -- 6. CCER serial blocks cover exactly each CCER holding
    SELECT 'ccer_blocks_mismatch', coalesce(h.account_id, b.account_id), NULL,
           format('CCER %s %s: holding %s t, blocks %s t', coalesce(h.project, b.project), coalesce(h.vintage, b.vintage),
                  coalesce(h.balance, 0), coalesce(b.tonnes, 0))
      FROM (SELECT * FROM carbonmkt.holding WHERE instrument = 'CCER') h
      FULL JOIN (SELECT c.account_id, carbonmkt.project(c.block) AS project, carbonmkt.vintage(c.block) AS vintage,
                        sum(carbonmkt.tonnes(c.block)) AS tonnes
                   FROM carbonmkt.ccer_block c GROUP BY 1, 2, 3) b
             ON (h.account_id, h.project, h.vintage) = (b.account_id, b.project, b.vintage)
     WHERE coalesce(h.balance, 0) <> coalesce(b.tonnes, 0)
    UNION ALL
    -- 7. conservation: issued - retired - withdrawn = holdings outside the cancellation account
    SELECT 'conservation', NULL, NULL,
           format('%s: issued %s, retired %s, withdrawn %s, held outside cancellation %s',
                  carbonmkt.format_asset(c.instrument, c.vintage, c.project), c.issued, c.retired, c.withdrawn, c.holdings)
      FROM (SELECT j.instrument, j.vintage, j.project,
                   sum(j.amount) FILTER (WHERE j.kind = 'issue') AS issued,
                   coalesce(sum(j.amount) FILTER (WHERE j.kind = 'retire'), 0) AS retired,
                   coalesce(-sum(j.amount) FILTER (WHERE j.kind = 'withdraw'), 0) AS withdrawn,
                   coalesce(sum(j.amount) FILTER (WHERE a.kind <> 'cancellation'), 0) AS holdings
              FROM carbonmkt.journal j JOIN carbonmkt.account a USING (account_id)
             GROUP BY 1, 2, 3) c
     WHERE coalesce(c.issued, 0) - c.retired - c.withdrawn <> c.holdings
    UNION ALL
    -- 8. every entry belongs to a posting (journal.posting_id has no foreign key)
    SELECT 'unknown_posting', j.account_id, j.entry_id, format('posting %s does not exist', j.posting_id)
      FROM carbonmkt.journal j
     WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.posting p WHERE p.posting_id = j.posting_id)
    UNION ALL
    -- 9. units and cash are created only where issuance may land (account_kind_instrument.may_issue)
    SELECT 'issue_outside_issuance_account', j.account_id, j.entry_id,
           format('%s issued into account %s of kind %s, which cannot receive issuance of %s',
                  carbonmkt.format_quantity(j.instrument, j.amount), j.account_id, a.kind, j.instrument)
      FROM carbonmkt.journal j JOIN carbonmkt.account a USING (account_id)
     WHERE j.kind = 'issue'
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.account_kind_instrument k
                        WHERE k.kind = a.kind AND k.instrument = j.instrument AND k.may_issue)
$$;

CREATE FUNCTION bench.verify_ledger_since_sql(sealed_day date DEFAULT NULL)
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    WITH since AS MATERIALIZED (
        SELECT coalesce(sealed_day, (SELECT max(s.business_date) FROM carbonmkt.day_seal s), '-infinity'::date) AS d),
    n AS MATERIALIZED (
        SELECT j.* FROM carbonmkt.journal j, since WHERE j.business_date > since.d),
    -- each asset's entries among the new ones, and the balance it had before them
    first AS MATERIALIZED (
        SELECT DISTINCT ON (n.account_id, n.instrument, n.vintage, n.project)
               n.account_id, n.instrument, n.vintage, n.project, n.seq
          FROM n ORDER BY n.account_id, n.instrument, n.vintage, n.project, n.seq),
    base AS MATERIALIZED (
        SELECT f.account_id, f.instrument, f.vintage, f.project,
               coalesce(b.balance_after, 0) AS balance, coalesce(b.held_after, 0) AS held
          FROM first f
          LEFT JOIN LATERAL (SELECT p.balance_after, p.held_after FROM carbonmkt.journal p
                              WHERE p.account_id = f.account_id AND p.seq < f.seq
                                AND p.instrument = f.instrument AND p.vintage = f.vintage
                                AND p.project = f.project
                              ORDER BY p.seq DESC LIMIT 1) b ON true),
    touched AS (SELECT DISTINCT f.account_id FROM first f)
    -- 1. chains of the new entries, every head, the seals from that day on, the seal chain (C)
    SELECT v.problem, v.account_id, v.entry_id, v.detail FROM since, bench.verify_chains_since_chain_c(since.d) v
    UNION ALL
    -- 2. running balances of the new entries, continuing from each asset's last earlier entry
    SELECT 'running_balance_mismatch', r.account_id, r.entry_id,
           format('%s: balance_after %s, held_after %s, rebuilt %s and %s', r.asset, r.balance_after,
                  r.held_after, r.run_balance, r.run_held)
      FROM (SELECT n.account_id, n.entry_id, n.balance_after, n.held_after,
                   carbonmkt.format_asset(n.instrument, n.vintage, n.project) AS asset,
                   b.balance + sum(n.amount) OVER w AS run_balance, b.held + sum(n.held_change) OVER w AS run_held
              FROM n JOIN base b USING (account_id, instrument, vintage, project)
            WINDOW w AS (PARTITION BY n.account_id, n.instrument, n.vintage, n.project ORDER BY n.seq)) r
     WHERE r.balance_after <> r.run_balance OR r.held_after <> r.run_held
    UNION ALL
    -- 3. the holdings of every asset with new entries are their last entry's
    SELECT 'balance_mismatch', l.account_id, NULL::bigint,
           format('%s: holding %s/%s held, journal %s/%s held',
                  carbonmkt.format_asset(l.instrument, l.vintage, l.project),
                  h.balance, h.held, l.balance_after, l.held_after)
      FROM (SELECT DISTINCT ON (n.account_id, n.instrument, n.vintage, n.project) n.*
              FROM n ORDER BY n.account_id, n.instrument, n.vintage, n.project, n.seq DESC) l
      LEFT JOIN carbonmkt.holding h
             ON (h.account_id, h.instrument, h.vintage, h.project) = (l.account_id, l.instrument, l.vintage, l.project)
     WHERE h.balance IS DISTINCT FROM l.balance_after OR h.held IS DISTINCT FROM l.held_after
    UNION ALL
    -- 4. no negative balance or available, holds within balances: the touched accounts
    SELECT 'negative_or_overheld', h.account_id, NULL,
           format('%s: balance %s, held %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project), h.balance, h.held)
      FROM carbonmkt.holding h JOIN touched t USING (account_id)
     WHERE h.balance < 0 OR h.held < 0 OR h.held > h.balance
    UNION ALL
    -- 5. held = what active holds still freeze: the touched accounts
    SELECT 'held_mismatch', h.account_id, NULL,
           format('%s: held %s, active holds %s', carbonmkt.format_asset(h.instrument, h.vintage, h.project),
                  h.held, coalesce(x.remaining, 0))
      FROM carbonmkt.holding h JOIN touched t USING (account_id)
      LEFT JOIN LATERAL (SELECT sum(y.remaining) AS remaining FROM carbonmkt.hold y
                          WHERE y.account_id = h.account_id AND y.status = 'active'
                            AND (y.instrument, y.vintage, y.project) = (h.instrument, h.vintage, h.project)) x ON true
     WHERE h.held <> coalesce(x.remaining, 0)
    UNION ALL
    -- 6. CCER serial blocks cover exactly each CCER holding: the touched accounts
    SELECT 'ccer_blocks_mismatch', coalesce(h.account_id, b.account_id), NULL,
           format('CCER %s %s: holding %s t, blocks %s t', coalesce(h.project, b.project), coalesce(h.vintage, b.vintage),
                  coalesce(h.balance, 0), coalesce(b.tonnes, 0))
      FROM (SELECT x.* FROM carbonmkt.holding x JOIN touched t USING (account_id) WHERE x.instrument = 'CCER') h
      FULL JOIN (SELECT c.account_id, carbonmkt.project(c.block) AS project, carbonmkt.vintage(c.block) AS vintage,
                        sum(carbonmkt.tonnes(c.block)) AS tonnes
                   FROM carbonmkt.ccer_block c JOIN touched t USING (account_id) GROUP BY 1, 2, 3) b
             ON (h.account_id, h.project, h.vintage) = (b.account_id, b.project, b.vintage)
     WHERE coalesce(h.balance, 0) <> coalesce(b.tonnes, 0)
    UNION ALL
    -- 7. conservation, posting by posting: what a new posting moves balances per asset
    --    (only issue and withdraw entries create or destroy units and cash)
    SELECT 'posting_unbalanced', NULL, NULL,
           format('posting %s: its %s entries sum to %s', x.posting_id,
                  carbonmkt.format_asset(x.instrument, x.vintage, x.project), x.total)
      FROM (SELECT n.posting_id, n.instrument, n.vintage, n.project, sum(n.amount) AS total
              FROM n WHERE n.kind NOT IN ('issue', 'withdraw')
             GROUP BY 1, 2, 3, 4) x
     WHERE x.total <> 0
    UNION ALL
    -- 8. every new entry belongs to a posting
    SELECT 'unknown_posting', n.account_id, n.entry_id, format('posting %s does not exist', n.posting_id)
      FROM n
     WHERE NOT EXISTS (SELECT 1 FROM carbonmkt.posting p WHERE p.posting_id = n.posting_id)
    UNION ALL
    -- 9. new issue entries only where issuance may land
    SELECT 'issue_outside_issuance_account', n.account_id, n.entry_id,
           format('%s issued into account %s of kind %s, which cannot receive issuance of %s',
                  carbonmkt.format_quantity(n.instrument, n.amount), n.account_id, a.kind, n.instrument)
      FROM n JOIN carbonmkt.account a USING (account_id)
     WHERE n.kind = 'issue'
       AND NOT EXISTS (SELECT 1 FROM carbonmkt.account_kind_instrument k
                        WHERE k.kind = a.kind AND k.instrument = n.instrument AND k.may_issue)
$$;
