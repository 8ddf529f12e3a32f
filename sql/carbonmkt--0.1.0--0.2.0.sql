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

-- Business time everywhere: the last defaults that read the wall clock.
ALTER TABLE carbonmkt.participant ALTER COLUMN created_at SET DEFAULT carbonmkt.clock_now();
ALTER TABLE carbonmkt.account ALTER COLUMN opened_at SET DEFAULT carbonmkt.clock_now();
ALTER TABLE carbonmkt.production ALTER COLUMN recorded_at SET DEFAULT carbonmkt.clock_now();

-- statement() and balance_as_of(): 42501 for another party's account; settlement reads all.

CREATE OR REPLACE FUNCTION carbonmkt._may_read(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE AS
$$ SELECT carbonmkt._is_member('carbonmkt_registry') OR (carbonmkt.caller_authority()).participant_id IS NOT NULL
       OR carbonmkt._is_member('carbonmkt_bi') OR carbonmkt._is_member('carbonmkt_exchange')
       OR carbonmkt._is_member('carbonmkt_settlement')
       OR EXISTS (SELECT 1 FROM carbonmkt.account a
                   WHERE a.account_id = p_account AND a.participant_id = carbonmkt.caller_participant()) $$;
COMMENT ON FUNCTION carbonmkt._may_read(bigint) IS
  'Internal: whether the login may read an account''s history (its owner, or the registry, authorities, exchange, settlement, BI: the roles whose row-level security policy staff_read shows every account).';

CREATE OR REPLACE FUNCTION carbonmkt._require_read(p_account bigint, p_what text) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    IF NOT carbonmkt._may_read(p_account) THEN
        -- the same answer whether or not the account exists: a participant learns nothing
        RAISE EXCEPTION 'role "%" may not read the % of account %', session_user, p_what, p_account
            USING ERRCODE = '42501',
                  HINT = 'A participant''s login reads only its own accounts; registry, authority, exchange, settlement and BI staff read every account.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.account a WHERE a.account_id = p_account) THEN
        RAISE EXCEPTION 'account % does not exist', p_account USING ERRCODE = 'CM001';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._require_read(bigint, text) IS
  'Internal: 42501 unless the login may read the account''s history (carbonmkt._may_read), then CM001 if it does not exist; statement() and balance_as_of() call it first.';

CREATE OR REPLACE FUNCTION carbonmkt.statement(account_id bigint, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (entry_id bigint, seq bigint, recorded_at timestamptz, business_date date,
               kind carbonmkt.entry_kind, asset text, block carbonmkt.ccer, amount bigint,
               held_change bigint, balance_after bigint, held_after bigint, counterparty bigint,
               posting_id bigint, memo text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_read(statement.account_id, 'statement');
    RETURN QUERY
    SELECT j.entry_id, j.seq, j.recorded_at, j.business_date, j.kind,
           carbonmkt.format_asset(j.instrument, j.vintage, j.project), j.block, j.amount,
           j.held_change, j.balance_after, j.held_after, j.counterparty, j.posting_id, j.memo
      FROM carbonmkt.journal j
     WHERE j.account_id = statement.account_id
       AND j.recorded_at >= from_time AND j.recorded_at < to_time
     ORDER BY j.seq;
END
$$;
COMMENT ON FUNCTION carbonmkt.statement(bigint, timestamptz, timestamptz) IS
  'An account''s journal entries recorded in [from_time, to_time), with the running balance and held quantity of each asset after each entry.  42501 for another party''s account (carbonmkt._may_read), CM001 for an unknown one.';

CREATE OR REPLACE FUNCTION carbonmkt.balance_as_of(account_id bigint, at_time timestamptz)
RETURNS TABLE (instrument carbonmkt.instrument, vintage int, project text, balance bigint, held bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_read(balance_as_of.account_id, 'balance');
    RETURN QUERY
    SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
           j.instrument, j.vintage, j.project, j.balance_after, j.held_after
      FROM carbonmkt.journal j
     WHERE j.account_id = balance_as_of.account_id AND j.recorded_at <= at_time
     ORDER BY j.instrument, j.vintage, j.project, j.seq DESC;
END
$$;
COMMENT ON FUNCTION carbonmkt.balance_as_of(bigint, timestamptz) IS
  'An account''s balance and held quantity of every asset at a past instant, from the journal.  42501 for another party''s account (carbonmkt._may_read), CM001 for an unknown one.';

REVOKE ALL ON FUNCTION carbonmkt._require_read(bigint, text) FROM PUBLIC;

-- Messages: the production trigger (a NULL quantity is CM203), the facility trigger's detail.

CREATE OR REPLACE FUNCTION carbonmkt._facility_check() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    p   carbonmkt.participant;
    c   carbonmkt.alloc_category;
BEGIN
    SELECT * INTO p FROM carbonmkt.participant WHERE participant_id = NEW.participant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % does not exist', NEW.participant_id USING ERRCODE = 'CM002';
    END IF;
    IF p.kind <> 'key_emitter' THEN
        RAISE EXCEPTION 'participant % is not a key emitting unit (重点排放单位)', p.participant_id
            USING ERRCODE = 'CM206', DETAIL = format('Its kind is %s.', p.kind),
                  HINT = 'Facilities belong to key emitting units.';
    END IF;
    SELECT * INTO c FROM carbonmkt.alloc_category WHERE code = NEW.category;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown facility category "%"', NEW.category
            USING ERRCODE = 'CM206', HINT = 'Categories are listed in carbonmkt.alloc_category.';
    END IF;
    IF c.sector <> p.sector THEN
        RAISE EXCEPTION 'category "%" belongs to sector %, but participant % is in sector %',
                        c.code, c.sector, p.participant_id, p.sector
            USING ERRCODE = 'CM206';
    END IF;
    IF c.method = 'power' AND (NEW.capacity_mw IS NULL OR NEW.cooling IS NULL) THEN
        RAISE EXCEPTION 'generating unit "%" of participant % needs its rated capacity and cooling type',
                        NEW.code, p.participant_id
            USING ERRCODE = 'CM206',
                  DETAIL = format('Capacity %s, cooling %s.', coalesce(NEW.capacity_mw::text || ' MW', 'missing'),
                                  coalesce(NEW.cooling, 'missing')),
                  HINT = 'The load factor needs the capacity (MW); F_cool needs the cooling type (water or air).';
    END IF;
    IF c.method <> 'power' AND (NEW.capacity_mw IS NOT NULL OR NEW.cooling IS NOT NULL) THEN
        RAISE EXCEPTION 'production line "%" (category %) takes no rated capacity or cooling type', NEW.code, c.code
            USING ERRCODE = 'CM206', HINT = 'Capacity and cooling type are for generating units (机组).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._facility_check() IS
  'Internal: BEFORE INSERT OR UPDATE trigger of carbonmkt.facility (CM206: owner not a key emitting unit, category of another sector, generating unit without capacity or cooling type).';

CREATE OR REPLACE FUNCTION carbonmkt._production_check() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    f           record;
    max_minutes int;
BEGIN
    SELECT x.facility_id, x.capacity_mw, c.method, c.code AS category
      INTO f FROM carbonmkt.facility x JOIN carbonmkt.alloc_category c ON c.code = x.category
     WHERE x.facility_id = NEW.facility_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'production data for unknown facility %', coalesce(NEW.facility_id::text, 'NULL')
            USING ERRCODE = 'CM201', HINT = 'Register the facility first (carbonmkt.register_facility).';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.allocation a JOIN carbonmkt.facility x ON x.participant_id = a.participant_id
                WHERE x.facility_id = NEW.facility_id AND a.year IN (NEW.year, OLD.year) AND a.stage = 'final') THEN
        RAISE EXCEPTION 'the % allocation of facility %''s participant is final: its production data can no longer change',
                        NEW.year, NEW.facility_id
            USING ERRCODE = 'CM209', HINT = 'Correct the allocation with carbonmkt.adjust_allocation(..., reason => ''correction'').';
    END IF;
    IF NEW.year IS NULL OR NEW.year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'production year % is out of range', coalesce(NEW.year::text, 'NULL')
            USING ERRCODE = 'CM202', DETAIL = 'Years must be between 2005 and 2100.';
    END IF;
    IF NEW.month IS NULL OR NEW.month NOT BETWEEN 1 AND 12 THEN
        RAISE EXCEPTION 'production month % is out of range', coalesce(NEW.month::text, 'NULL')
            USING ERRCODE = 'CM202', DETAIL = format('Facility %s, year %s: months are 1 to 12.', NEW.facility_id, NEW.year);
    END IF;
    IF num_nulls(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
                 NEW.heat_total_mj, NEW.output_t) > 0 THEN
        RAISE EXCEPTION 'production data for facility % in %-% has no %', NEW.facility_id, NEW.year,
                        lpad(NEW.month::text, 2, '0'),
                        concat_ws(', ', CASE WHEN NEW.power_supplied_kwh IS NULL THEN 'power_supplied_kwh' END,
                                  CASE WHEN NEW.generation_kwh IS NULL THEN 'generation_kwh' END,
                                  CASE WHEN NEW.operating_minutes IS NULL THEN 'operating_minutes' END,
                                  CASE WHEN NEW.heat_supplied_mj IS NULL THEN 'heat_supplied_mj' END,
                                  CASE WHEN NEW.heat_total_mj IS NULL THEN 'heat_total_mj' END,
                                  CASE WHEN NEW.output_t IS NULL THEN 'output_t' END)
            USING ERRCODE = 'CM203', HINT = 'Give 0 for a quantity the facility did not have (the default).';
    END IF;
    IF least(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
             NEW.heat_total_mj, NEW.output_t) < 0 THEN
        RAISE EXCEPTION 'negative production data for facility % in %-%', NEW.facility_id, NEW.year,
                        lpad(NEW.month::text, 2, '0')
            USING ERRCODE = 'CM203',
                  DETAIL = format('power supplied %s kWh, generation %s kWh, operating %s min, heat supplied %s MJ, total heat %s MJ, output %s t.',
                                  NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes,
                                  NEW.heat_supplied_mj, NEW.heat_total_mj, NEW.output_t);
    END IF;
    IF f.method = 'power' THEN
        IF NEW.output_t <> 0 THEN
            RAISE EXCEPTION 'generating unit % (category %) reports product output', NEW.facility_id, f.category
                USING ERRCODE = 'CM203', HINT = 'Generating units report power and heat; output_t is for production lines.';
        END IF;
        IF NEW.power_supplied_kwh > NEW.generation_kwh THEN
            RAISE EXCEPTION 'power supplied % kWh exceeds generation % kWh (facility %, %-%)',
                            NEW.power_supplied_kwh, NEW.generation_kwh, NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM203', DETAIL = 'Power supplied (供电量) is generation less auxiliary use.';
        END IF;
        max_minutes := extract(day FROM make_date(NEW.year, NEW.month, 1) + interval '1 month' - interval '1 day')::int * 1440;
        IF NEW.operating_minutes > max_minutes THEN
            RAISE EXCEPTION 'operating time % min exceeds the % min of %-%', NEW.operating_minutes, max_minutes,
                            NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM203', DETAIL = format('Facility %s.', NEW.facility_id);
        END IF;
        IF NEW.operating_minutes = 0 AND NEW.generation_kwh > 0 THEN
            RAISE EXCEPTION 'load factor of facility % in %-% is undefined: generation % kWh with zero operating minutes',
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0'), NEW.generation_kwh
                USING ERRCODE = 'CM205', DETAIL = 'The load factor is generation / (rated capacity x operating time) and lies in [0, 1].';
        END IF;
        IF NEW.generation_kwh::numeric * 60 > f.capacity_mw * 1000 * NEW.operating_minutes THEN
            RAISE EXCEPTION 'load factor % of facility % in %-% is outside [0, 1]',
                            round(NEW.generation_kwh::numeric * 60 / (f.capacity_mw * 1000 * NEW.operating_minutes), 6),
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0')
                USING ERRCODE = 'CM205',
                      DETAIL = format('Generation %s kWh in %s operating minutes at a rated capacity of %s MW.',
                                      NEW.generation_kwh, NEW.operating_minutes, f.capacity_mw);
        END IF;
        IF NEW.heat_supplied_mj > NEW.heat_total_mj THEN
            RAISE EXCEPTION 'heat ratio of facility % in %-% is outside [0, 1]: heat supplied % MJ, total heat % MJ',
                            NEW.facility_id, NEW.year, lpad(NEW.month::text, 2, '0'), NEW.heat_supplied_mj, NEW.heat_total_mj
                USING ERRCODE = 'CM205', DETAIL = 'The heat ratio (供热比) is heat supplied / total heat.';
        END IF;
    ELSIF greatest(NEW.power_supplied_kwh, NEW.generation_kwh, NEW.operating_minutes, NEW.heat_supplied_mj,
                   NEW.heat_total_mj) <> 0 THEN
        RAISE EXCEPTION 'production line % (category %) reports power or heat data', NEW.facility_id, f.category
            USING ERRCODE = 'CM203', HINT = 'Production lines report output_t only.';
    END IF;
    NEW.recorded_at := carbonmkt.clock_now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._production_check() IS
  'Internal: BEFORE INSERT OR UPDATE trigger of carbonmkt.production: CM201 unknown facility, CM202 year or month out of range, CM203 negative or inconsistent data, CM205 monthly load factor or heat ratio outside [0, 1].';

-- confirm_block by a third party; close_period on its deadline day; pilot/national overlap.

CREATE OR REPLACE FUNCTION carbonmkt.confirm_block(deal_id bigint, reference text DEFAULT NULL, participant_id bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, carbonmkt, pg_temp SET carbonmkt.acting_room = 'market' AS
$$
DECLARE
    me  bigint := carbonmkt._market_actor(participant_id);
    d   carbonmkt.block_deal;
    e   record;
BEGIN
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'block deal % does not exist', deal_id USING ERRCODE = 'CM313';
    END IF;
    IF me = d.proposer_id THEN
        RAISE EXCEPTION 'only the counterparty (participant %) confirms block deal %', d.counterparty_id, deal_id
            USING ERRCODE = 'CM313', DETAIL = format('Participant %s proposed it.', d.proposer_id);
    END IF;
    IF me <> d.counterparty_id THEN
        -- a third party: the deal exists, but its parties are not the caller's to know
        RAISE EXCEPTION 'participant % is not the counterparty of block deal %', me, deal_id
            USING ERRCODE = 'CM313', HINT = 'Only the participant the proposer named confirms a block deal.';
    END IF;
    e := carbonmkt._enter_order('block', (SELECT p.code FROM carbonmkt.product p WHERE p.product_id = d.product_id),
                                CASE d.side WHEN 'buy' THEN 'sell' ELSE 'buy' END, d.quantity, d.price_fen / 100.0,
                                NULL, reference, me, true);
    IF e.replay THEN
        IF d.counter_order IS DISTINCT FROM e.order_id THEN
            RAISE EXCEPTION 'client reference "%" was already used for a different order', reference USING ERRCODE = 'CM311';
        END IF;
        RETURN e.order_id;
    END IF;
    SELECT * INTO d FROM carbonmkt.block_deal x WHERE x.deal_id = confirm_block.deal_id FOR UPDATE;
    IF d.status <> 'proposed' OR d.business_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'block deal % is %', deal_id,
            CASE WHEN d.status = 'proposed' THEN 'from ' || to_char(d.business_date, 'YYYY-MM-DD') ELSE d.status END
            USING ERRCODE = 'CM313', HINT = 'Only a proposed deal of today can be confirmed.';
    END IF;
    UPDATE carbonmkt.market_order x SET status = 'open' WHERE x.order_id = e.order_id;
    UPDATE carbonmkt.block_deal x SET counter_order = e.order_id, status = 'confirmed', confirmed_at = carbonmkt.clock_now()
     WHERE x.deal_id = confirm_block.deal_id;
    RETURN e.order_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_block(bigint, text, bigint) IS
  'The named counterparty confirms a proposed block deal: its mirror order is checked like any order (session, band, funds or allowances, T+1, position limit) and held.  Returns the counterparty''s order id.';

CREATE OR REPLACE FUNCTION carbonmkt.open_period(period int, name text, first_year int, last_year int, deadline date,
                                      jurisdiction text DEFAULT 'national')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    other int;
    oj    text;
BEGIN
    PERFORM carbonmkt._require_national('open compliance periods');
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.jurisdiction j WHERE j.code = open_period.jurisdiction) THEN
        RAISE EXCEPTION 'unknown jurisdiction "%"', jurisdiction
            USING ERRCODE = '22023', HINT = 'Jurisdictions are listed in carbonmkt.jurisdiction.';
    END IF;
    IF first_year IS NULL OR last_year IS NULL OR last_year < first_year
       OR first_year < 2005 OR last_year > 2100 THEN
        RAISE EXCEPTION 'a compliance period needs years first_year <= last_year in 2005-2100: got % to %',
            coalesce(first_year::text, 'NULL'), coalesce(last_year::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF deadline IS NULL OR deadline <= make_date(last_year, 12, 31) THEN
        RAISE EXCEPTION 'the surrender deadline % must be after the period''s last year %',
            coalesce(to_char(deadline, 'YYYY-MM-DD'), 'NULL'), last_year
            USING ERRCODE = '22023';
    END IF;
    SELECT p.period INTO other FROM carbonmkt.compliance_period p
     WHERE p.jurisdiction = open_period.jurisdiction
       AND p.first_year <= open_period.last_year AND p.last_year >= open_period.first_year;
    IF FOUND THEN
        RAISE EXCEPTION 'years %-% overlap compliance period % of jurisdiction %', first_year, last_year, other, jurisdiction
            USING ERRCODE = '22023', DETAIL = 'A year''s emissions are due in one period only.';
    END IF;
    -- a unit takes part in one market per year: no period of another jurisdiction whose
    -- units intersect this one's (the national market and any pilot; Guangdong and Shenzhen)
    -- may cover the same years, or its units would owe the same emissions twice
    SELECT p.period, p.jurisdiction INTO other, oj
      FROM carbonmkt.compliance_period p
      JOIN carbonmkt.jurisdiction a ON a.code = p.jurisdiction
      JOIN carbonmkt.jurisdiction b ON b.code = open_period.jurisdiction
     WHERE p.jurisdiction <> open_period.jurisdiction
       AND p.first_year <= open_period.last_year AND p.last_year >= open_period.first_year
       AND (a.province IS NULL OR b.province IS NULL
            OR (a.province = b.province AND (a.city IS NULL OR b.city IS NULL OR a.city = b.city)))
     ORDER BY p.period LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'years %-% of jurisdiction % overlap compliance period % of jurisdiction %, which covers the same units',
            first_year, last_year, jurisdiction, other, oj
            USING ERRCODE = '22023',
                  DETAIL = 'A key emitting unit takes part in one carbon market for a year: its emissions would otherwise be due twice and counted twice in the completion views.',
                  HINT = 'Decree 775 (碳排放权交易管理暂行条例): units in the national market no longer take part in a local market for the same gas and sector.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.offset_rule r
                    WHERE r.jurisdiction = open_period.jurisdiction AND r.from_year <= open_period.first_year) THEN
        RAISE EXCEPTION 'no offset rule of jurisdiction % applies from %', jurisdiction, first_year
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.offset_rule first.';
    END IF;
    INSERT INTO carbonmkt.compliance_period AS p (period, jurisdiction, name, first_year, last_year, deadline,
                                                  opened_at, opened_by)
    VALUES (open_period.period, open_period.jurisdiction, open_period.name, open_period.first_year,
            open_period.last_year, open_period.deadline, carbonmkt.clock_now(), session_user);
    RETURN period;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'compliance period % already exists', period USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION carbonmkt.open_period(int, text, int, int, date, text) IS
  'Opens a compliance period (履约周期) of a jurisdiction for the given years with its surrender deadline; its rules are the rule rows that apply from its first year.  National authority or registry.';

CREATE OR REPLACE FUNCTION carbonmkt.close_period(period int)
RETURNS TABLE (units int, compliant int, shortfalls int, no_emissions int, shortfall_t bigint, fines_fen bigint,
               cut_t bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    per     carbonmkt._period_rules;
    ts      timestamptz := carbonmkt.clock_now();
    p_from  date;
    p_to    date;
    price   record;
    r       record;
    fine    bigint;
    cut     bigint;
    sid     bigint;
BEGIN
    PERFORM carbonmkt._require_national('close compliance periods');
    PERFORM 1 FROM carbonmkt.compliance_period p WHERE p.period = close_period.period FOR UPDATE;
    SELECT * INTO per FROM carbonmkt._period_rules p WHERE p.period = close_period.period;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'compliance period % does not exist', period USING ERRCODE = 'CM401';
    ELSIF per.status = 'closed' THEN
        RAISE EXCEPTION 'compliance period % (%) is already closed', period, per.name USING ERRCODE = 'CM402';
    END IF;
    IF carbonmkt.business_date(ts) <= per.deadline THEN
        RAISE EXCEPTION 'compliance period % cannot close until its deadline % has passed', period,
                        to_char(per.deadline, 'YYYY-MM-DD')
            USING ERRCODE = 'CM412',
                  DETAIL = format('Today is %s; surrenders are accepted up to and including the deadline day.',
                                  to_char(carbonmkt.business_date(ts), 'YYYY-MM-DD')),
                  HINT = format('The period can close from %s.', to_char(per.deadline + 1, 'YYYY-MM-DD'));
    END IF;
    IF per.fine_basis IS NULL THEN
        RAISE EXCEPTION 'no penalty rule of jurisdiction % applies to period %', per.jurisdiction, period
            USING ERRCODE = 'CM413', HINT = 'Add a row to carbonmkt.penalty_rule first.';
    END IF;
    IF per.fine_basis = 'price_multiple' THEN
        p_to := per.deadline;
        p_from := (per.deadline - make_interval(months => per.price_months))::date + 1;
        price := carbonmkt._average_price(per.jurisdiction, p_from, p_to);
        IF price.average_price_fen IS NULL THEN
            RAISE EXCEPTION 'no CEA price between % and % for the penalties of period %: the market did not trade and no reference price is recorded',
                to_char(p_from, 'YYYY-MM-DD'), to_char(p_to, 'YYYY-MM-DD'), period
                USING ERRCODE = 'CM411',
                      DETAIL = format('The %s rule sets fines at a multiple of the average price of the %s month(s) before the deadline.',
                                      per.jurisdiction, per.price_months),
                      HINT = 'Record the published price with carbonmkt.record_reference_price().';
        END IF;
    ELSE
        SELECT NULL::bigint AS average_price_fen, NULL::text AS price_source, NULL::int AS market_days,
               NULL::int AS reference_days INTO price;
    END IF;

    -- freeze every covered unit's figures
    INSERT INTO carbonmkt.obligation AS o (participant_id, period)
    SELECT f.participant_id, f.period FROM carbonmkt._obligation_figures f WHERE f.period = close_period.period
    ON CONFLICT ON CONSTRAINT obligation_pkey DO NOTHING;
    UPDATE carbonmkt.obligation o
       SET emissions_t = s.emissions_t, emissions_basis = s.emissions_basis, allocation_t = s.allocation_t,
           relief = s.relief, relief_t = s.relief_t, relief_reason = s.relief_reason, obligation_t = s.obligation_t,
           borrowed_t = s.borrowed_t, offset_cap_t = s.offset_cap_t, remaining_t = s.remaining_t,
           status = CASE WHEN s.obligation_t IS NULL THEN 'no_emissions'
                         WHEN s.remaining_t = 0 THEN 'compliant' ELSE 'shortfall' END::carbonmkt.compliance_status,
           compliance_code = CASE WHEN s.obligation_t IS NULL THEN 'C' WHEN s.emissions_basis = 'estimated' THEN 'D'
                                  WHEN s.remaining_t = 0 THEN 'A' ELSE 'B' END,
           frozen_at = ts
      FROM carbonmkt.obligation_status s
     WHERE s.period = close_period.period AND o.period = s.period AND o.participant_id = s.participant_id;

    -- sanctions for the shortfalls
    FOR r IN SELECT o.participant_id, o.remaining_t FROM carbonmkt.obligation o
              WHERE o.period = close_period.period AND o.status = 'shortfall' ORDER BY o.participant_id LOOP
        fine := CASE per.fine_basis WHEN 'none' THEN 0
                                    WHEN 'fixed' THEN per.fine_default_fen
                                    ELSE round(per.multiple_default * price.average_price_fen * r.remaining_t)::bigint END;
        cut := ceil(per.cut_multiple * r.remaining_t)::bigint;
        INSERT INTO carbonmkt.sanction AS x (participant_id, period, shortfall_t, fine_basis, price_from, price_to,
                                             average_price_fen, price_source, price_market_days, price_reference_days,
                                             multiple, fine_fen, cut_multiple, cut_t, cut_unless_corrected, cut_year,
                                             legal_basis, imposed_at, imposed_by)
        VALUES (r.participant_id, per.period, r.remaining_t, per.fine_basis, p_from, p_to, price.average_price_fen,
                price.price_source, price.market_days, price.reference_days,
                CASE WHEN per.fine_basis = 'price_multiple' THEN per.multiple_default END, fine,
                per.cut_multiple, cut, per.cut_unless_corrected, per.last_year + 1, per.penalty_source, ts, session_user)
        RETURNING x.sanction_id INTO sid;
        IF cut > 0 THEN
            INSERT INTO carbonmkt.allocation_adjustment (participant_id, year, tonnes, reason, period, sanction_id,
                                                         recorded_at, recorded_by)
            VALUES (r.participant_id, per.last_year + 1, cut, 'penalty_cut', per.period, sid, ts, session_user);
        END IF;
    END LOOP;

    UPDATE carbonmkt.compliance_period p SET status = 'closed', closed_at = ts, closed_by = session_user
     WHERE p.period = close_period.period;

    RETURN QUERY
    SELECT count(*)::int, (count(*) FILTER (WHERE o.status = 'compliant'))::int,
           (count(*) FILTER (WHERE o.status = 'shortfall'))::int,
           (count(*) FILTER (WHERE o.status = 'no_emissions'))::int,
           coalesce(sum(o.remaining_t) FILTER (WHERE o.status = 'shortfall'), 0)::bigint,
           coalesce((SELECT sum(x.fine_fen) FROM carbonmkt.sanction x WHERE x.period = close_period.period), 0)::bigint,
           coalesce((SELECT sum(x.cut_t) FROM carbonmkt.sanction x WHERE x.period = close_period.period), 0)::bigint
      FROM carbonmkt.obligation o WHERE o.period = close_period.period;
END
$$;
COMMENT ON FUNCTION carbonmkt.close_period(int) IS
  'Closes a compliance period after its deadline: freezes every covered unit''s figures, status and code; for each shortfall (未足额清缴) records a sanction by the period''s penalty_rule (fine: fixed default, or default multiple x the average CEA price of the months before the deadline x shortfall, the price from the market''s trades and, for days it did not trade, reference prices, the source recorded in the sanction; cut of next year''s allocation: cut multiple x shortfall, also in allocation_adjustment); afterwards only late surrenders that correct a sanctioned shortfall are accepted.  Returns the counts.  National authority or registry.';


-- == One way in: one C posting engine, one API vocabulary =================================


-- == Rules: administration with history, one jurisdiction vocabulary =======================


-- == Performance: incremental verification, storage =======================================


-- == Next phase: paid allocation, reserve, pledge and repo, voluntary cancellation ==========


-- == Dashboard and BI views ==================================================================


-- == End of 0.1.0 -> 0.2.0 ====================================================================
