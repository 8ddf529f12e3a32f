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

-- -- The anchored seal chain (Chain engineer; doc/registry.md "Day seals", doc/security.md) --
-- Every day seal carries the previous seal's hash; its own hash is the day's anchor.
ALTER TABLE carbonmkt.day_seal ADD COLUMN prev_seal bytea, ADD COLUMN seal_hash bytea;
COMMENT ON TABLE carbonmkt.day_seal IS
  'One row per sealed business day: SHA-256 over every account''s chain head at the end of that day, chained to the previous seal; seal_hash is the day''s anchor for publication outside the database (doc/registry.md, Day seals).';

CREATE FUNCTION carbonmkt.seal_hash(business_date date, digest bytea, accounts int, entries bigint,
                                    prev_seal bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS
$$
	SELECT sha256(convert_to('carbonmkt day seal 1' || E'\n'
	                         || 'business_date=' || to_char(business_date, 'YYYY-MM-DD') || E'\n'
	                         || 'digest=' || encode(digest, 'hex') || E'\n'
	                         || 'accounts=' || accounts || E'\n'
	                         || 'entries=' || entries || E'\n'
	                         || 'prev_seal=' || encode(prev_seal, 'hex') || E'\n', 'UTF8'))
$$;
COMMENT ON FUNCTION carbonmkt.seal_hash(date, bytea, int, bigint, bytea) IS
  'The hash of a day seal, its anchor: SHA-256 over the six lines "carbonmkt day seal 1", business_date=YYYY-MM-DD, digest=<hex>, accounts=<n>, entries=<n>, prev_seal=<hex>, each ending in a newline (doc/registry.md, Day seals).';

-- the seals made by 0.1.0, chained in date order (their rows are otherwise unchanged)
ALTER TABLE carbonmkt.day_seal DISABLE TRIGGER day_seal_append_only;
DO $$
DECLARE
    s record;
    prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
    FOR s IN SELECT * FROM carbonmkt.day_seal ORDER BY business_date LOOP
        UPDATE carbonmkt.day_seal d
           SET prev_seal = prev,
               seal_hash = carbonmkt.seal_hash(s.business_date, s.digest, s.accounts, s.entries, prev)
         WHERE d.business_date = s.business_date
        RETURNING d.seal_hash INTO prev;
    END LOOP;
END
$$;
ALTER TABLE carbonmkt.day_seal ENABLE TRIGGER day_seal_append_only;
ALTER TABLE carbonmkt.day_seal ALTER COLUMN prev_seal SET NOT NULL, ALTER COLUMN seal_hash SET NOT NULL;

CREATE FUNCTION carbonmkt.day_seal_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    -- a restore writes both columns as they were; anything else gets them computed
    IF NEW.prev_seal IS NULL THEN
        NEW.prev_seal := coalesce((SELECT s.seal_hash FROM carbonmkt.day_seal s
                                    WHERE s.business_date < NEW.business_date
                                    ORDER BY s.business_date DESC LIMIT 1),
                                  decode(repeat('00', 32), 'hex'));
    END IF;
    IF NEW.seal_hash IS NULL THEN
        NEW.seal_hash := carbonmkt.seal_hash(NEW.business_date, NEW.digest, NEW.accounts, NEW.entries,
                                             NEW.prev_seal);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.day_seal_chain() IS
  'BEFORE INSERT trigger of carbonmkt.day_seal: links the seal to the previous one (prev_seal = its seal_hash, 32 zero bytes for the first) and computes seal_hash, unless the inserter gives them (a restore); verify_chains() checks both.';
REVOKE ALL ON FUNCTION carbonmkt.day_seal_chain() FROM PUBLIC;
CREATE TRIGGER day_seal_chain
	BEFORE INSERT ON carbonmkt.day_seal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.day_seal_chain();

CREATE FUNCTION carbonmkt.seal_anchor(business_date date) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    h bytea;
BEGIN
    SELECT s.seal_hash INTO h FROM carbonmkt.day_seal s WHERE s.business_date = seal_anchor.business_date;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'business day % is not sealed', to_char(seal_anchor.business_date, 'YYYY-MM-DD')
            USING ERRCODE = 'P0002',
                  HINT = 'Seal it first with carbonmkt.seal_day(); only a sealed day has an anchor.';
    END IF;
    RETURN to_char(seal_anchor.business_date, 'YYYY-MM-DD') || ' ' || encode(h, 'hex');
END
$$;
COMMENT ON FUNCTION carbonmkt.seal_anchor(date) IS
  'The anchor of a sealed business day for publication outside the database: "YYYY-MM-DD <64 hex digits of seal_hash>".  Keep every day''s anchor outside (a newspaper, a notary, another registry); verify_anchors() and verify_ledger(text[]) compare them with the database.  P0002 when the day is not sealed.';

CREATE FUNCTION carbonmkt.verify_anchors(anchors text[])
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    pattern constant text := '^\s*(\d{4}-\d{2}-\d{2})\s+(?:\\x)?([0-9A-Fa-f]{64})\s*$';
BEGIN
    IF anchors IS NULL THEN
        RAISE EXCEPTION 'anchors must not be NULL' USING ERRCODE = '22004',
              HINT = 'Pass the anchors kept outside the database, one "YYYY-MM-DD <64 hex digits>" per element.';
    END IF;
    FOR i IN 1 .. coalesce(array_length(anchors, 1), 0) LOOP
        IF regexp_match(anchors[i], pattern) IS NULL THEN
            RAISE EXCEPTION 'anchor % is not a day seal anchor: %', i, coalesce(quote_literal(left(anchors[i], 100)), 'NULL')
                USING ERRCODE = '22P02',
                      HINT = 'An anchor is "YYYY-MM-DD <64 hex digits>", as carbonmkt.seal_anchor() returns it.';
        END IF;
    END LOOP;
    RETURN QUERY
    WITH a AS (SELECT m[1]::date AS business_date, decode(lower(m[2]), 'hex') AS seal_hash, u.line
                 FROM unnest(anchors) WITH ORDINALITY u(t, line), LATERAL regexp_match(u.t, pattern) m),
    s AS (SELECT s.business_date, s.seal_hash,
                 carbonmkt.seal_hash(s.business_date, s.digest, s.accounts, s.entries, s.prev_seal) AS recomputed
            FROM carbonmkt.day_seal s),
    problems AS (
        -- two different anchors for one day: the outside record itself is inconsistent
        SELECT a1.business_date AS d, 1 AS o, 'anchor_conflict'::text AS p,
               format('anchors %s and %s for %s differ', a1.line, a2.line, to_char(a1.business_date, 'YYYY-MM-DD')) AS t
          FROM a a1 JOIN a a2 ON a1.business_date = a2.business_date AND a1.line < a2.line
                              AND a1.seal_hash <> a2.seal_hash
        UNION ALL
        -- a published day whose seal is gone (deleted, or never made here)
        SELECT a.business_date, 2, 'seal_missing',
               format('day %s was published with anchor %s but has no seal', to_char(a.business_date, 'YYYY-MM-DD'),
                      encode(a.seal_hash, 'hex'))
          FROM a WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.business_date = a.business_date)
        UNION ALL
        -- a published day whose seal (as recomputed from its row) is not the published one
        SELECT a.business_date, 3, 'anchor_mismatch',
               format('day %s was published with anchor %s; its seal now hashes to %s', to_char(a.business_date, 'YYYY-MM-DD'),
                      encode(a.seal_hash, 'hex'), encode(s.recomputed, 'hex'))
          FROM a JOIN s USING (business_date)
         WHERE a.seal_hash <> s.recomputed
        UNION ALL
        -- a seal between the first and the last published day that was never published
        SELECT s.business_date, 4, 'seal_unanchored',
               format('day %s is sealed but has no anchor, although earlier and later days have', to_char(s.business_date, 'YYYY-MM-DD'))
          FROM s
         WHERE s.business_date > (SELECT min(a.business_date) FROM a)
           AND s.business_date < (SELECT max(a.business_date) FROM a)
           AND NOT EXISTS (SELECT 1 FROM a WHERE a.business_date = s.business_date))
    SELECT DISTINCT ON (x.d, x.o) x.p, NULL::bigint, NULL::bigint, x.t FROM problems x ORDER BY x.d, x.o;
END
$$;
COMMENT ON FUNCTION carbonmkt.verify_anchors(text[]) IS
  'Compares day seals with anchors kept outside the database ("YYYY-MM-DD <64 hex>", from seal_anchor()); one row per problem: anchor_conflict (two different anchors for one day), seal_missing (a published day has no seal: deleted), anchor_mismatch (the seal, recomputed from its row, differs from the published anchor: history or seals rewritten), seal_unanchored (a sealed day between published days that was never published).  Empty when all agree.  Use verify_ledger(anchors) to check the journal against the seals as well.';

-- verify_chains() and heads_digest() run with a pinned search_path: a caller's shadowing
-- operator (an `=` for bytea) or function (sha256) can no longer hide a mismatch.
ALTER FUNCTION carbonmkt.heads_digest(date) SET search_path = pg_catalog, carbonmkt, pg_temp;
ALTER FUNCTION carbonmkt.verify_chains() SET search_path = pg_catalog, carbonmkt, pg_temp;
COMMENT ON FUNCTION carbonmkt.verify_chains() IS
  'Checks every journal chain (streamed in account_id, seq order), every account head, every day seal and the seal chain; one row per problem: seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch, seal_mismatch, seal_link_mismatch, seal_hash_mismatch.  No rows when all is well.  Runs with a pinned search_path.';

-- verify_ledger() itself (issue entries only in issuance accounts) is replaced in the
-- Performance section below, which holds its final definition.
CREATE FUNCTION carbonmkt.verify_ledger(anchors text[])
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    SELECT * FROM carbonmkt.verify_ledger()
    UNION ALL
    SELECT * FROM carbonmkt.verify_anchors(anchors)
$$;
COMMENT ON FUNCTION carbonmkt.verify_ledger(text[]) IS
  'verify_ledger() and, against the anchors kept outside the database (seal_anchor()), verify_anchors(): together they catch a consistent rewrite of history (re-hashed journal, rebuilt holdings and heads, resealed days) and deleted seals.';
REVOKE ALL ON FUNCTION carbonmkt.verify_ledger(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.verify_ledger(text[])
   TO carbonmkt_registry, carbonmkt_authority, carbonmkt_bi;


-- >> security (generated part) >>
-- fail-closed staff scope: an authority login acts and sees only through its mapping
-- login -> participant (an authority) -> jurisdiction (doc/security.md)

CREATE OR REPLACE FUNCTION carbonmkt.caller_authority(OUT participant_id bigint, OUT kind carbonmkt.participant_kind,
                                           OUT province char(6), OUT city char(6))
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT p.participant_id, p.kind, p.province, p.city
     FROM carbonmkt.participant_login l
     JOIN carbonmkt.participant p ON p.participant_id = l.participant_id
    WHERE l.role_name = session_user
      AND p.kind IN ('national_authority', 'provincial_authority', 'city_authority')
      AND carbonmkt._is_member('carbonmkt_authority') $$;
COMMENT ON FUNCTION carbonmkt.caller_authority() IS
  'The authority (生态环境主管部门) the login acts for: its participant, kind (national/provincial/city) and jurisdiction, when the login is in carbonmkt_authority and mapped (map_login) to an authority; no values otherwise.  An unmapped authority login can do nothing and sees nothing (doc/security.md).';
CREATE OR REPLACE FUNCTION carbonmkt.caller_sees_staff_rows() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement') OR carbonmkt._is_member('carbonmkt_bi')
       OR (carbonmkt.caller_authority()).participant_id IS NOT NULL $$;
COMMENT ON FUNCTION carbonmkt.caller_sees_staff_rows() IS
  'Row-level security of the staff_read policies: true for the registry, the exchange, settlement and BI, and for an authority login mapped to an authority; false for an unmapped authority login (fail closed, doc/security.md).';
CREATE OR REPLACE FUNCTION carbonmkt.map_login(role_name name, participant_id bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_registry('map logins');
    IF role_name IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = map_login.role_name) THEN
        RAISE EXCEPTION 'map_login: login role "%" does not exist', coalesce(role_name::text, 'NULL')
            USING ERRCODE = 'CM905',
                  HINT = 'Create the login role first: a mapping to a role created later would hand that role the participant''s rights (doc/security.md).';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = map_login.participant_id) THEN
        RAISE EXCEPTION 'participant % does not exist', map_login.participant_id USING ERRCODE = 'CM002';
    END IF;
    INSERT INTO carbonmkt.participant_login AS l VALUES (map_login.role_name, map_login.participant_id)
    ON CONFLICT ON CONSTRAINT participant_login_pkey DO UPDATE SET participant_id = excluded.participant_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.map_login(name, bigint) IS
  'Maps a login role to the participant it acts for (row-level security and posting rights follow it).  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt.set_account_status(account_id bigint, status carbonmkt.account_status, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    b record;
BEGIN
    PERFORM carbonmkt._require_registry('change account status');
    IF status IS NULL THEN
        RAISE EXCEPTION 'set_account_status: argument status must not be NULL'
            USING ERRCODE = 'CM904', HINT = 'An account is open, frozen or closed.';
    END IF;
    IF status <> 'open' AND EXISTS (SELECT 1 FROM carbonmkt.account a
                                     WHERE a.account_id = set_account_status.account_id AND a.kind = 'cancellation') THEN
        RAISE EXCEPTION 'the cancellation account % cannot be %', account_id, status
            USING ERRCODE = 'CM003',
                  DETAIL = 'Every surrender and cancellation credits it; retired units never leave it anyway.';
    END IF;
    b := carbonmkt._begin_posting('set_account_status', NULL,
                                  format('set_account_status(%s,%s,%s)', account_id, status, memo));
    UPDATE carbonmkt.account a SET status = set_account_status.status WHERE a.account_id = set_account_status.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'CM001';
    END IF;
    RETURN b.posting_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_account_status(bigint, carbonmkt.account_status, text) IS
  'Opens, freezes or closes an account; the change is recorded as a posting.  Registry only.';
CREATE OR REPLACE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, BI).';

CREATE OR REPLACE FUNCTION carbonmkt.caller_scope(OUT sees_all boolean, OUT province char(6), OUT city char(6),
                                       OUT participant_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    k   carbonmkt.participant_kind;
    pv  char(6);
    ct  char(6);
BEGIN
    sees_all := false;
    participant_id := carbonmkt.caller_participant();
    IF carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_bi') THEN
        sees_all := true;
        RETURN;
    END IF;
    IF carbonmkt._is_member('carbonmkt_authority') THEN
        -- fail closed: an authority login sees only through its mapping to an authority
        SELECT a.kind, a.province, a.city INTO k, pv, ct FROM carbonmkt.caller_authority() a;
        IF k = 'provincial_authority' THEN
            province := pv;
        ELSIF k = 'city_authority' THEN
            city := ct;
        ELSIF k = 'national_authority' THEN
            sees_all := true;
        ELSE
            participant_id := NULL;
        END IF;
        RETURN;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_participant') THEN
        participant_id := NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.caller_scope() IS
  'Which key emitting units the login sees in the compliance views: all (registry, BI, national authority), its province (provincial authority), its city (city authority), or only itself (a participant''s login).  An authority login not mapped to an authority sees nothing (fail closed).';
CREATE OR REPLACE FUNCTION carbonmkt._require_authority_over(p_participant bigint, p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    s record;
    u carbonmkt.participant;
BEGIN
    SELECT * INTO u FROM carbonmkt.participant WHERE participant_id = p_participant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    IF carbonmkt._is_member('carbonmkt_registry') THEN
        RETURN;
    END IF;
    SELECT * INTO s FROM carbonmkt.caller_authority();
    IF s.kind = 'national_authority' OR (s.kind = 'provincial_authority' AND u.province = s.province)
       OR (s.kind = 'city_authority' AND u.city = s.city) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'role "%" may not % for participant %', session_user, p_action, p_participant
        USING ERRCODE = '42501',
              DETAIL = format('Participant %s (%s) is in province %s.', p_participant, u.name, u.province),
              HINT = 'This needs the national authority, or the provincial (city) authority of the unit (carbonmkt_authority), or the registry.';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_authority_over(bigint, text) IS
  'Internal: raises 42501 unless the login is the registry, the national authority, or the provincial or city authority of the participant.';
CREATE OR REPLACE FUNCTION carbonmkt._require_national(p_action text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF carbonmkt._is_member('carbonmkt_registry')
       OR (carbonmkt.caller_authority()).kind IS NOT DISTINCT FROM 'national_authority' THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'only the national authority may %', p_action
        USING ERRCODE = '42501',
              HINT = 'This needs carbonmkt_authority acting for the national authority (生态环境部), or the registry.';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_national(text) IS
  'Internal: raises 42501 unless the login is the registry or the national authority.';
CREATE OR REPLACE FUNCTION carbonmkt.record_reference_price(price_date date, average_price_fen bigint, source text,
                                                 volume_t bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_exchange')
            OR (carbonmkt.caller_authority()).kind IS NOT DISTINCT FROM 'national_authority') THEN
        RAISE EXCEPTION 'only the exchange, the national authority or the registry may record reference prices'
            USING ERRCODE = '42501';
    END IF;
    IF price_date IS NULL OR average_price_fen IS NULL OR average_price_fen <= 0 THEN
        RAISE EXCEPTION 'a reference price needs a date and a positive price in fen: got %, %',
            coalesce(to_char(price_date, 'YYYY-MM-DD'), 'NULL'), coalesce(average_price_fen::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF volume_t < 0 THEN
        RAISE EXCEPTION 'volume must not be negative: %', volume_t USING ERRCODE = '22023';
    END IF;
    IF source IS NULL OR btrim(source) = '' THEN
        RAISE EXCEPTION 'a reference price needs its source' USING ERRCODE = '22023';
    END IF;
    INSERT INTO carbonmkt.reference_price AS r VALUES (price_date, average_price_fen, volume_t, source, session_user,
                                                       carbonmkt.clock_now())
    ON CONFLICT ON CONSTRAINT reference_price_pkey DO UPDATE
       SET average_price_fen = excluded.average_price_fen, volume_t = excluded.volume_t, source = excluded.source,
           recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_reference_price(date, bigint, text, bigint) IS
  'Records (or corrects) the average CEA price of a day in fen per tonne, with its source and optionally the volume.  Exchange, national authority or registry.';

ALTER POLICY staff_read ON carbonmkt.participant USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.account USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.holding USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.hold USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.journal USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.posting USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.ccer_block USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.facility USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.facility_event USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.production USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation_posting USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.allocation_run USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.market_order USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.trade USING ((SELECT carbonmkt.caller_sees_staff_rows()));
ALTER POLICY staff_read ON carbonmkt.block_deal USING ((SELECT carbonmkt.caller_sees_staff_rows()));
-- << security (generated part) <<


-- == Correctness: lock order, business time, messages ====================================


-- == One way in: one C posting engine, one API vocabulary =================================


-- == Rules: administration with history, one jurisdiction vocabulary =======================


-- == Performance: incremental verification, storage =======================================

-- -- verify_ledger (Chain engineer; doc/registry.md "Verification", doc/performance.md) --
CREATE OR REPLACE FUNCTION carbonmkt.verify_ledger()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
    -- 1. chains, heads and seals (C)
    SELECT v.problem, v.account_id, v.entry_id, v.detail FROM carbonmkt.verify_chains() v
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
COMMENT ON FUNCTION carbonmkt.verify_ledger() IS
  'Recomputes every hash chain, day seal and the seal chain, rebuilds balances from the journal and checks the invariants (conservation, no negative balance, holds within balances, CCER blocks cover holdings, every entry belongs to a posting, issue entries only in accounts that may receive issuance); one row per problem, empty when all is well.';

-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========


-- == Dashboard and BI views ==================================================================


-- == End of 0.1.0 -> 0.2.0 ====================================================================
