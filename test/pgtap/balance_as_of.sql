-- pgTAP: balance_as_of() from balance snapshots gives exactly the rows of its plain definition
-- (the latest entry of each asset in chain order among those recorded at or before the
-- instant, read from the whole journal) at every instant that matters: before the first
-- entry, exactly at every recorded_at, a microsecond before and after each (entries of one
-- transaction share an instant), long after the last, -infinity, infinity and NULL; with no
-- snapshot, after the snapshots seal_day() writes, with entries since, with snapshots of
-- several spans, and with recorded_at going back in chain order (the clock is set per
-- posting, randomly, as postings that read the clock before they wait for an account's lock
-- would record it).  Three units trade CEA of two vintages, CCER of a project and cash, with
-- holds; one unit keeps a CCER asset that never moves again (an asset dormant for years).
-- Every snapshot is also checked against the journal it summarises.  Rolled back at the end.
BEGIN;
SELECT plan(25);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2024-07-01 09:00:00+08';
SELECT setseed(0.31);

CREATE TEMP TABLE units ON COMMIT DROP AS
SELECT n, p AS participant_id, open_account(p, 'holding') AS holding_id, open_account(p, 'cash') AS cash_id
  FROM (SELECT n, register_participant('TAP as-of unit ' || n, 'institution',
                                       '9144030000AQF000' || n || credit_code_check_char('9144030000AQF000' || n)) AS p
          FROM generate_series(1, 3) n) s;
DO $$
BEGIN
    PERFORM issue_cea(1, 2024, 300000), issue_cea(1, 2025, 300000),
            issue_ccer(1, 'CCER:GD-OW-0042:2024:1-30000'), issue_ccer(1, 'CCER:FJ-FR-0007:2023:1-500');
    PERFORM transfer_cea(1, holding_id, 2024, 60000), transfer_cea(1, holding_id, 2025, 60000),
            transfer_ccer(1, holding_id, 'GD-OW-0042', 2024, 6000), deposit_cny(cash_id, 10000000)
       FROM units ORDER BY n;
    -- the dormant asset: unit 1 receives it once and it never moves again
    PERFORM transfer_ccer(1, holding_id, 'FJ-FR-0007', 2023, 500) FROM units WHERE n = 1;
END
$$;
-- the accounts compared: the units' and the national reserve (the issuer)
CREATE TEMP TABLE acc ON COMMIT DROP AS
SELECT holding_id AS account_id FROM units UNION SELECT cash_id FROM units UNION SELECT 1;

-- n random postings, each at a random instant of [t0, t0 + spread) drawn from a pool of
-- `pool` instants (so that many postings share one), in no order
CREATE FUNCTION pg_temp.postings(how_many int, t0 timestamptz, spread interval, pool int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    h   bigint[] := ARRAY(SELECT u.holding_id FROM units u ORDER BY u.n);
    c   bigint[] := ARRAY(SELECT u.cash_id FROM units u ORDER BY u.n);
    a   int;
    b   int;
    k   int;
    x   carbonmkt.hold;
    ok  bigint := 0;
BEGIN
    FOR i IN 1..how_many LOOP
        PERFORM set_config('carbonmkt.clock',
                           (t0 + spread * (floor(random() * pool) / pool))::text, true);
        a := 1 + floor(random() * 3)::int;
        b := 1 + (a + floor(random() * 2)::int) % 3;
        k := floor(random() * 100)::int;
        BEGIN
            IF k < 30 THEN
                PERFORM carbonmkt.transfer_cea(h[a], h[b], 2024 + floor(random() * 2)::int, 1 + floor(random() * 3000)::bigint);
            ELSIF k < 42 THEN
                IF random() < 0.6 THEN
                    PERFORM carbonmkt.hold(h[a], 'CEA', 1 + floor(random() * 3000)::bigint, 'order', 2024 + floor(random() * 2)::int);
                ELSE
                    PERFORM carbonmkt.hold(c[a], 'CNY', 1 + floor(random() * 500000)::bigint, 'order');
                END IF;
            ELSIF k < 50 THEN
                SELECT * INTO x FROM carbonmkt.hold y WHERE y.account_id = ANY (h || c) AND y.status = 'active'
                 ORDER BY random() LIMIT 1;
                CONTINUE WHEN NOT FOUND;
                PERFORM carbonmkt.release_hold(x.hold_id);
            ELSIF k < 60 THEN
                SELECT * INTO x FROM carbonmkt.hold y WHERE y.account_id = ANY (h || c) AND y.status = 'active'
                 ORDER BY random() LIMIT 1;
                CONTINUE WHEN NOT FOUND;
                a := coalesce(array_position(h, x.account_id), array_position(c, x.account_id));
                b := 1 + (a + floor(random() * 2)::int) % 3;
                PERFORM carbonmkt.transfer_from_hold(x.hold_id, CASE WHEN x.instrument = 'CNY' THEN c[b] ELSE h[b] END,
                                                     1 + floor(random() * x.remaining)::bigint);
            ELSIF k < 75 THEN
                PERFORM carbonmkt.transfer_ccer(h[a], h[b], 'GD-OW-0042', 2024, 1 + floor(random() * 800)::bigint);
            ELSIF k < 95 THEN
                PERFORM carbonmkt.transfer_cny(c[a], c[b], 1 + floor(random() * 800000)::bigint);
            ELSE
                PERFORM carbonmkt.retire_cea(h[a], 2024 + floor(random() * 2)::int, 1 + floor(random() * 500)::bigint);
            END IF;
            ok := ok + 1;
        EXCEPTION WHEN sqlstate 'CM004' OR sqlstate 'CM008' THEN
            NULL;                       -- not enough available: nothing posted
        END;
    END LOOP;
    RETURN ok;
END $$;

-- the instants that matter for the compared accounts' entries: each recorded_at, a
-- microsecond before and after it, before everything, after everything, the infinities, NULL
CREATE FUNCTION pg_temp.instants() RETURNS SETOF timestamptz LANGUAGE sql AS $$
    SELECT DISTINCT t FROM (
        SELECT j.recorded_at + d * interval '1 microsecond' AS t
          FROM carbonmkt.journal j CROSS JOIN (VALUES (-1), (0), (1)) v(d)
         WHERE j.account_id IN (SELECT account_id FROM acc)
        UNION ALL
        VALUES (timestamptz '2024-06-30 00:00+08'), ('2031-01-01 00:00+08'), ('-infinity'), ('infinity'), (NULL)) x
$$;
-- balance_as_of() and the plain definition, compared for every account and instant: the
-- pairs where their rows differ (in order)
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
      FROM acc a CROSS JOIN pg_temp.instants() i(t)
     WHERE ARRAY(SELECT b::text FROM carbonmkt.balance_as_of(a.account_id, i.t) b)
           IS DISTINCT FROM
           ARRAY(SELECT x::text FROM (
                   SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
                          j.instrument, j.vintage, j.project, j.balance_after, j.held_after
                     FROM carbonmkt.journal j
                    WHERE j.account_id = a.account_id AND j.recorded_at <= i.t
                    ORDER BY j.instrument, j.vintage, j.project, j.seq DESC) x)
$$;
-- the (account, instant) pairs compared
CREATE FUNCTION pg_temp.pairs() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM acc a CROSS JOIN pg_temp.instants() i(t)
$$;
-- snapshots that do not say what the journal says: the stretch they cover (from the previous
-- snapshot's seq + 1), its earliest recorded_at, the latest up to seq, and every asset's state
CREATE FUNCTION pg_temp.bad_snapshots() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
      FROM carbonmkt.balance_snapshot s
     WHERE s.from_seq IS DISTINCT FROM 1 + coalesce((SELECT max(p.seq) FROM carbonmkt.balance_snapshot p
                                                     WHERE p.account_id = s.account_id AND p.seq < s.seq), 0)
        OR s.first_recorded IS DISTINCT FROM (SELECT min(j.recorded_at) FROM carbonmkt.journal j
                                               WHERE j.account_id = s.account_id AND j.seq BETWEEN s.from_seq AND s.seq)
        OR s.through_recorded IS DISTINCT FROM (SELECT max(j.recorded_at) FROM carbonmkt.journal j
                                                 WHERE j.account_id = s.account_id AND j.seq <= s.seq)
        OR s.seq > (SELECT a.head_seq FROM carbonmkt.account a WHERE a.account_id = s.account_id)
        OR ARRAY(SELECT u::text FROM unnest(s.instruments, s.vintages, s.projects, s.balances, s.helds) u
                  ORDER BY 1)
           IS DISTINCT FROM
           ARRAY(SELECT x::text FROM (
                   SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
                          j.instrument, j.vintage, j.project, j.balance_after, j.held_after
                     FROM carbonmkt.journal j
                    WHERE j.account_id = s.account_id AND j.seq <= s.seq
                    ORDER BY j.instrument, j.vintage, j.project, j.seq DESC) x ORDER BY 1)
$$;
CREATE FUNCTION pg_temp.snapshots() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM carbonmkt.balance_snapshot s WHERE s.account_id IN (SELECT account_id FROM acc)
$$;

-- 1. Four days of postings, the clock at random instants in them; no snapshot yet ----------
SELECT cmp_ok(pg_temp.postings(400, '2024-07-01 09:00+08', '4 days', 60), '>', 300::bigint,
              'most of 400 random postings over four days were posted');
SELECT ok(EXISTS (SELECT 1 FROM carbonmkt.journal j JOIN carbonmkt.journal k
                    ON k.account_id = j.account_id AND k.seq > j.seq AND k.recorded_at < j.recorded_at
                   WHERE j.account_id IN (SELECT account_id FROM acc)),
          'recorded_at goes back in chain order (a later entry recorded at an earlier instant)');
SELECT ok(EXISTS (SELECT 1 FROM carbonmkt.journal j JOIN carbonmkt.journal k
                    ON k.account_id = j.account_id AND k.seq = j.seq + 1 AND k.recorded_at = j.recorded_at
                   WHERE j.account_id IN (SELECT account_id FROM acc)),
          'entries of an account share an instant');
SELECT is(pg_temp.snapshots(), 0::bigint, 'no snapshot before a seal: balance_as_of reads the whole journal');
SELECT cmp_ok(pg_temp.pairs(), '>', 1000::bigint, 'over a thousand (account, instant) pairs are compared');
SELECT is(pg_temp.mismatches(), 0::bigint, 'without snapshots: the same rows as the plain definition at every instant');

-- 2. The seal writes the snapshots the accounts are due (a span of 64 entries) -----------------
SET LOCAL carbonmkt.clock = '2024-07-10 09:00:00+08';
SELECT is(length(seal_day('2024-07-08')), 32, 'seal_day seals 2024-07-08');
SELECT cmp_ok(pg_temp.snapshots(), '>', 0::bigint, 'seal_day wrote balance snapshots');
SELECT ok(NOT EXISTS (SELECT 1 FROM carbonmkt.balance_snapshot s JOIN carbonmkt.account a USING (account_id)
                       WHERE a.head_seq - (SELECT max(z.seq) FROM carbonmkt.balance_snapshot z WHERE z.account_id = s.account_id)
                             >= greatest(64, cardinality(s.instruments)))
          AND NOT EXISTS (SELECT 1 FROM carbonmkt.account a
                           WHERE a.head_seq >= 64
                             AND NOT EXISTS (SELECT 1 FROM carbonmkt.balance_snapshot z WHERE z.account_id = a.account_id)),
          'after the seal no account has a full span of 64 entries without a snapshot');
SELECT is(pg_temp.bad_snapshots(), 0::bigint, 'every snapshot says what the journal says');
SELECT is(pg_temp.mismatches(), 0::bigint, 'after the seal: the same rows at every instant');

-- 3. Postings after the seal, not covered by any snapshot --------------------------------------
SELECT cmp_ok(pg_temp.postings(250, '2024-07-10 09:00+08', '2 days', 40), '>', 150::bigint,
              'postings after the seal');
SELECT is(pg_temp.mismatches(), 0::bigint, 'snapshots and the entries since: the same rows at every instant');

-- 4. Snapshots of a small span (several per day, stretches that overlap in time) --------------
SELECT cmp_ok(_snapshot_balances(3), '>', 50::bigint, 'snapshots every 3 entries');
SELECT ok(EXISTS (SELECT 1 FROM carbonmkt.balance_snapshot s
                   WHERE s.seq - s.from_seq + 1 > 3 AND s.seq - s.from_seq + 1 = cardinality(
                         (SELECT p.instruments FROM carbonmkt.balance_snapshot p
                           WHERE p.account_id = s.account_id AND p.seq = s.from_seq - 1))),
          'a snapshot spans as many entries as its account holds assets when they are more than the span');
SELECT ok(EXISTS (SELECT 1 FROM carbonmkt.balance_snapshot s JOIN carbonmkt.balance_snapshot n
                    ON n.account_id = s.account_id AND n.from_seq = s.seq + 1
                   WHERE n.first_recorded < s.through_recorded),
          'a snapshot''s stretch begins before everything up to the one before it was recorded');
-- more postings, at instants before and among those the snapshots cover
SELECT cmp_ok(pg_temp.postings(150, '2024-07-10 09:00+08', '3 days', 40), '>', 80::bigint,
              'postings at instants before and among the snapshots'' ones');
SELECT is(pg_temp.bad_snapshots(), 0::bigint, 'every snapshot still says what the journal says');
SELECT is(pg_temp.mismatches(), 0::bigint, 'snapshots of several spans: the same rows at every instant');

-- 5. The next seal --------------------------------------------------------------------------
SET LOCAL carbonmkt.clock = '2024-07-20 09:00:00+08';
SELECT is(length(seal_day('2024-07-13')), 32, 'seal_day seals 2024-07-13');
SELECT is(pg_temp.bad_snapshots(), 0::bigint, 'the snapshots after the second seal say what the journal says');
SELECT is(pg_temp.mismatches(), 0::bigint, 'after the second seal: the same rows at every instant');
-- the dormant asset comes from a snapshot written long after its only entry
SELECT ok(EXISTS (SELECT 1 FROM carbonmkt.balance_snapshot s, units u, carbonmkt.journal j
                   WHERE u.n = 1 AND s.account_id = u.holding_id AND 'FJ-FR-0007' = ANY (s.projects)
                     AND j.account_id = s.account_id AND j.project = 'FJ-FR-0007' AND s.from_seq > j.seq + 64)
          AND (SELECT b.balance FROM units u, balance_as_of(u.holding_id, '2024-07-19 00:00+08') b
                WHERE u.n = 1 AND b.project = 'FJ-FR-0007') = 500,
          'an asset that has not moved since its first entry is in the later snapshots, with its balance');

-- the snapshots are derived: without them balance_as_of reads the whole journal, and says the same
DELETE FROM carbonmkt.balance_snapshot;
SELECT is(pg_temp.mismatches(), 0::bigint, 'with the snapshots gone: the same rows at every instant');

SELECT throws_ok($$SELECT carbonmkt._snapshot_balances(0)$$, '22023', NULL, 'a span must be positive');

SELECT * FROM finish();
ROLLBACK;
