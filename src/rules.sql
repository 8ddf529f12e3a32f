
-------------------------------------------------------------------------------
-- rules (规则管理): the administration of every rule table of MRV, allocation, market
-- and compliance, with a history.  A rule is set for a jurisdiction and an effective
-- period (a year, a year range or a date range), amended, or retired; never deleted once
-- a computation used it.  Every change is validated (CM502 naming the rule and the
-- numbers, CM503 for overlapping periods, CM506 for a rule a computation used) and
-- authorised (the national authority for national rules, a provincial authority for its
-- province's rules, the exchange for the market's rules and calendar); every change,
-- by these functions or by a superuser's direct DML, is recorded in carbonmkt.rule_change
-- with who, when, the old and the new row, and the document it implements.
-- Documentation: doc/rules.md.  SQLSTATEs CM501-CM507.
-------------------------------------------------------------------------------

-- The rule tables ---------------------------------------------------------------------

CREATE VIEW carbonmkt.rule_table AS
SELECT v.rule_table, v.room, v.period_kind, v.administered_by, v.description
  FROM (VALUES
    ('alloc_benchmark', 'allocation', 'year', 'authority', 'benchmarks per category: B_power tCO2/MWh and B_heat tCO2/GJ, product intensity tCO2/t'),
    ('alloc_heat_factor', 'allocation', 'year', 'authority', 'heat-supply correction coefficient per fuel'),
    ('alloc_cooling_factor', 'allocation', 'year', 'authority', 'cooling correction factor per fuel and cooling'),
    ('alloc_load_piece', 'allocation', 'year', 'authority', 'the pieces of the load-factor correction F_load (set a year''s whole curve at once)'),
    ('alloc_year_rule', 'allocation', 'year', 'authority', 'rounding and pre-allocation rule'),
    ('alloc_band', 'allocation', 'year', 'authority', 'surplus/gap band of the performance method per sector'),
    ('alloc_cap', 'allocation', 'year', 'authority', 'total-quantity cap per sector, t'),
    ('market_rule', 'market', 'valid_from', 'exchange', 'order size, lot, price step, price band, fee rate, clearing rule per mode'),
    ('market_session', 'market', 'valid_from', 'exchange', 'trading sessions per mode'),
    ('trader_rule', 'market', 'valid_from', 'exchange', 'who may trade and announce, position limit per participant kind'),
    ('trading_calendar', 'market', 'calendar', 'exchange', 'trading days and holidays per year (load_trading_calendar, set_trading_day)'),
    ('offset_rule', 'compliance', 'from_year', 'authority', 'CCER offset ratio, basis and eligibility'),
    ('relief_rule', 'compliance', 'from_year', 'authority', 'gap cap, gas cap and borrowing'),
    ('penalty_rule', 'compliance', 'from_year', 'authority', 'fines and allocation cuts for a shortfall'),
    ('mrv_rule', 'mrv', 'from_year', 'authority', 'review sample, thresholds, deposit and report deadlines, GWP set'),
    ('mrv_sector_parameter', 'mrv', 'from_year', 'national', 'key parameters deposited monthly per sector'),
    ('mrv_sector_gas', 'mrv', 'none', 'national', 'gases reported per sector'),
    ('mrv_gwp_set', 'mrv', 'none', 'national', 'sets of global warming potentials'),
    ('mrv_gwp', 'mrv', 'none', 'national', 'global warming potential per gas and set'),
    ('ccer_project_type', 'compliance', 'none', 'national', 'CCER project types'),
    ('repo_rule', 'finance', 'valid_from', 'national', 'how a repo''s failed second leg is handled, longest term'),
    ('reserve_feed_rule', 'finance', 'year', 'national', 'share of the year''s caps set aside into the national reserve'),
    ('reserve_trigger', 'finance', 'valid_from', 'national', 'market adjustment triggers: price and supply, release, absorb (buy back) or withhold (planned auction volume)'),
    ('paid_allocation_rule', 'finance', 'from_year', 'authority', 'paid share of the allocation per sector, method, price, lock of free units')
  ) v(rule_table, room, period_kind, administered_by, description);
COMMENT ON VIEW carbonmkt.rule_table IS
  'The rule tables (规则表) and how they are administered (doc/rules.md): period_kind year (one row per jurisdiction and year), from_year (from_year .. until_year, NULL = open), valid_from (valid_from .. valid_until, dates), calendar (load_trading_calendar), none; administered_by authority (national authority for ''CN'', the provincial authority of the province for a provincial or pilot jurisdiction), national (national authority only), exchange.';

-- The history ---------------------------------------------------------------------------

CREATE TABLE carbonmkt.rule_change (
    change_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_table      text NOT NULL,
    jurisdiction    text,
    rule_key        jsonb NOT NULL,
    action          text NOT NULL CHECK (action IN ('seed', 'set', 'amend', 'retire', 'load', 'dml_insert', 'dml_update',
                                                    'dml_delete')),
    old_value       jsonb,
    new_value       jsonb,
    document        text NOT NULL,
    changed_by      name NOT NULL,
    acting_for      bigint,
    changed_at      timestamptz NOT NULL
);
CREATE INDEX rule_change_rule ON carbonmkt.rule_change (rule_table, rule_key);
COMMENT ON TABLE carbonmkt.rule_change IS
  'The history of every rule row (规则变更记录), append-only: the table and key, what happened (seed: shipped with the extension; set, amend, retire, load: by the administration functions; dml_*: a superuser''s direct change), the old and the new row, the document it implements (e.g. a notice number), the login, the participant it acted for, and when (carbonmkt.clock_now()).  Written by the trigger carbonmkt._rule_log on every rule table.';
CREATE TRIGGER rule_change_append_only BEFORE UPDATE OR DELETE ON carbonmkt.rule_change
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.rule_change', 'WHERE action <> ''seed''');

CREATE FUNCTION carbonmkt._rule_log() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    o   jsonb;
    n   jsonb;
    k   jsonb := '{}';
    c   text;
BEGIN
    IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN n := to_jsonb(NEW); END IF;
    FOREACH c IN ARRAY TG_ARGV LOOP
        k := k || jsonb_build_object(c, coalesce(n, o) -> c);
    END LOOP;
    INSERT INTO carbonmkt.rule_change (rule_table, jurisdiction, rule_key, action, old_value, new_value, document,
                                       changed_by, acting_for, changed_at)
    VALUES (TG_TABLE_NAME, coalesce(n, o) ->> 'jurisdiction', k,
            coalesce(nullif(current_setting('carbonmkt_rules.action', true), ''), 'dml_' || lower(TG_OP)),
            o, n,
            coalesce(nullif(current_setting('carbonmkt_rules.document', true), ''),
                     format('direct %s by %s, no document', TG_OP, session_user)),
            session_user, nullif(current_setting('carbonmkt_rules.actor', true), '')::bigint, carbonmkt.clock_now());
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_log() IS
  'Internal: the trigger of every rule table: records the change in carbonmkt.rule_change (the trigger arguments are the key columns; the action, document and participant come from the administration function that made it, else dml_*).';

-- Helpers -------------------------------------------------------------------------------

CREATE FUNCTION carbonmkt._rule_meta(p_table text) RETURNS carbonmkt.rule_table
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table;
BEGIN
    SELECT * INTO m FROM carbonmkt.rule_table t WHERE t.rule_table = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown rule table "%"', coalesce(p_table, 'NULL')
            USING ERRCODE = 'CM505', HINT = 'The rule tables are listed in carbonmkt.rule_table.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_meta(text) IS 'Internal: the rule_table row of a table name; CM505 for another name.';

CREATE FUNCTION carbonmkt._rule_columns(p_table text, p_key_only boolean DEFAULT false) RETURNS text[]
LANGUAGE sql STABLE AS
$$
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = ('carbonmkt.' || quote_ident(p_table))::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND (NOT p_key_only OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                       WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)))
$$;
COMMENT ON FUNCTION carbonmkt._rule_columns(text, boolean) IS 'Internal: the columns (or the primary key columns) of a rule table.';

CREATE FUNCTION carbonmkt._rule_key(p_table text, p_row jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS
$$ SELECT coalesce(jsonb_object_agg(c, p_row -> c), '{}') FROM unnest(carbonmkt._rule_columns(p_table, true)) c $$;
COMMENT ON FUNCTION carbonmkt._rule_key(text, jsonb) IS 'Internal: the primary key of a rule row as jsonb.';

CREATE FUNCTION carbonmkt._rule_name(p_table text, p_key jsonb) RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT p_table || ' (' || coalesce(string_agg(k || ' ' || coalesce(p_key ->> k, 'NULL'), ', ' ORDER BY o), '') || ')'
     FROM unnest(carbonmkt._rule_columns(p_table, true)) WITH ORDINALITY u(k, o) $$;
COMMENT ON FUNCTION carbonmkt._rule_name(text, jsonb) IS
  'Internal: a rule row''s name for messages, e.g. "alloc_benchmark (jurisdiction CN, year 2024, category gas)".';

CREATE FUNCTION carbonmkt._rule_invalid(p_table text, p_row jsonb, p_what text, p_detail text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, p_row)), p_what
        USING ERRCODE = 'CM502', DETAIL = coalesce(p_detail, ''),
              HINT = 'Nothing was changed.  The rule tables and their limits are described in doc/rules.md.';
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_invalid(text, jsonb, text, text) IS 'Internal: raises CM502 naming the rule row and what is wrong with it.';

CREATE FUNCTION carbonmkt._num(p_table text, p_row jsonb, p_col text) RETURNS numeric
LANGUAGE plpgsql STABLE AS
$$
BEGIN
    RETURN (p_row ->> p_col)::numeric;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION '%: % must be a number: got "%"', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, p_row)),
        p_col, p_row ->> p_col USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
END
$$;
COMMENT ON FUNCTION carbonmkt._num(text, jsonb, text) IS 'Internal: a numeric field of a rule row; CM502 naming the rule when it is not a number.';

-- Who may change a rule: the national authority for national rules ('CN' and the
-- national reference tables), the provincial authority of the province for a province's
-- or a pilot's rules (a city pilot: its province's or its city's authority), the exchange
-- for the market's rules and calendar.  Staff (superuser, carbonmkt_registry) act for one
-- of them with acting_for.
CREATE FUNCTION carbonmkt._rule_actor(p_table text, p_jurisdiction text, p_acting_for bigint)
RETURNS carbonmkt.participant LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    j   carbonmkt.jurisdiction;
    me  carbonmkt.participant;
    ok  boolean;
    who text;
BEGIN
    IF p_jurisdiction IS NOT NULL THEN
        j := carbonmkt.check_jurisdiction(p_jurisdiction);
    END IF;
    IF m.administered_by = 'exchange' THEN
        me := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_exchange');
        ok := me.kind = 'exchange';
        who := 'the exchange (全国碳排放权交易机构)';
    ELSE
        me := carbonmkt._mrv_actor(p_acting_for, 'carbonmkt_authority');
        IF m.administered_by = 'national' OR j.code = 'CN' OR j.code IS NULL THEN
            ok := me.kind = 'national_authority';
            who := 'the national authority (生态环境部)';
        ELSE
            ok := (me.kind = 'provincial_authority' AND me.province = j.province)
                  OR (me.kind = 'city_authority' AND j.kind = 'city' AND me.city = j.city);
            who := format('the provincial authority of %s', j.province)
                   || CASE WHEN j.kind = 'city' THEN format(' or the city authority of %s', j.city) ELSE '' END;
        END IF;
    END IF;
    IF NOT ok THEN
        RAISE EXCEPTION 'participant % (%) may not change % rules%', me.participant_id, me.kind, p_table,
            CASE WHEN p_jurisdiction IS NOT NULL THEN format(' of jurisdiction %s', p_jurisdiction) ELSE '' END
            USING ERRCODE = '42501',
                  DETAIL = format('Rules of %s%s are changed by %s.', p_table,
                                  CASE WHEN p_jurisdiction IS NOT NULL THEN ' for ' || p_jurisdiction ELSE '' END, who),
                  HINT = 'Who may change which rule is the matrix in doc/rules.md.';
    END IF;
    RETURN me;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_actor(text, text, bigint) IS
  'Internal: the participant changing a rule of a table and jurisdiction; 42501 unless it is the national authority (national rules and reference tables), the provincial authority of the jurisdiction''s province (a city pilot: also its city authority), or the exchange (market_rule, market_session, trader_rule, trading_calendar).';

-- Validation of one row (CM502), with the units and the numbers ------------------------------

CREATE FUNCTION carbonmkt._rule_validate(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    x       numeric;
    y       numeric;
    z       numeric;
    unit    text;
    bad     text;
BEGIN
    SELECT string_agg(k, ', ') INTO bad
      FROM jsonb_object_keys(r) k WHERE k <> ALL (carbonmkt._rule_columns(p_table));
    IF bad IS NOT NULL THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, format('no such column: %s', bad),
            format('The columns of %s are %s.', p_table, array_to_string(carbonmkt._rule_columns(p_table), ', ')));
    END IF;
    IF r ? 'source' AND btrim(coalesce(r ->> 'source', '')) = '' THEN
        PERFORM carbonmkt._rule_invalid(p_table, r, 'a rule row needs its source');
    END IF;
    IF p_table = 'alloc_benchmark' THEN
        SELECT CASE WHEN c.method = 'power' THEN 'tCO2/MWh' ELSE 'tCO2/' || c.output_unit END INTO unit
          FROM carbonmkt.alloc_category c WHERE c.code = r ->> 'category';
        IF NOT FOUND THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown category "%s"', r ->> 'category'),
                'The categories are the rows of carbonmkt.alloc_category.');
        END IF;
        x := carbonmkt._num(p_table, r, 'benchmark');
        IF x IS NULL OR x <= 0 OR x >= 10 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('benchmark must be more than 0 and less than 10 %s: got %s', unit, coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'heat_benchmark');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('heat benchmark B_heat must be more than 0 and less than 1 tCO2/GJ: got %s', x));
        END IF;
    ELSIF p_table = 'alloc_heat_factor' THEN
        x := carbonmkt._num(p_table, r, 'coefficient');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the heat coefficient (F_heat = 1 - coefficient x heat ratio) must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cooling_factor' THEN
        x := carbonmkt._num(p_table, r, 'factor');
        IF x IS NULL OR x <= 0 OR x > 2 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the cooling factor F_cool must be more than 0 and at most 2: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_load_piece' THEN
        x := carbonmkt._num(p_table, r, 'lower_bound');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a piece''s lower bound of the load factor must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'kind', '') NOT IN ('linear', 'power') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be linear or power: got %s', coalesce(r ->> 'kind', 'NULL')));
        END IF;
        IF (r ->> 'kind') = 'linear' AND (r ->> 'a' IS NULL OR r ->> 'b' IS NULL OR r ->> 'pivot' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a linear piece a + b x (pivot - 100F) needs a, b and pivot');
        END IF;
        IF (r ->> 'kind') = 'power' AND (r ->> 'base' IS NULL OR r ->> 'c' IS NULL OR r ->> 'd' IS NULL
                                         OR carbonmkt._num(p_table, r, 'base') <= 0) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a power piece base ^ (c - d x F) needs base > 0, c and d');
        END IF;
    ELSIF p_table = 'alloc_year_rule' THEN
        IF coalesce(r ->> 'rounding', '') NOT IN ('half_up', 'down', 'up') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('rounding must be half_up, down or up: got %s', coalesce(r ->> 'rounding', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'preallocation_share');
        IF (x IS NULL) <> (r ->> 'preallocation_basis' IS NULL) OR (x IS NULL) <> (r ->> 'basis_year' IS NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'a pre-allocation rule needs preallocation_share, preallocation_basis and basis_year together');
        END IF;
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation share must be more than 0 and at most 1: got %s', x));
        END IF;
        IF x IS NOT NULL AND ((r ->> 'basis_year')::int > (r ->> 'year')::int OR (r ->> 'basis_year')::int < (r ->> 'year')::int - 3) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the pre-allocation basis year must be one of the 3 years before %s or %s itself: got %s',
                                                               r ->> 'year', r ->> 'year', r ->> 'basis_year'));
        END IF;
    ELSIF p_table = 'alloc_band' THEN
        x := carbonmkt._num(p_table, r, 'max_gap');
        y := carbonmkt._num(p_table, r, 'max_surplus');
        IF x IS NULL OR y IS NULL OR x < 0 OR y < 0 OR x > 1 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the band [1 - max_gap, 1 + max_surplus] x verified emissions = [%s, %s] must contain its centre 1 and stay within [0, 2]: max_gap %s, max_surplus %s',
                       coalesce((1 - x)::text, 'NULL'), coalesce((1 + y)::text, 'NULL'), coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'alloc_cap' THEN
        x := carbonmkt._num(p_table, r, 'cap_t');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a cap must be a positive whole number of tonnes: got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'market_rule' THEN
        x := carbonmkt._num(p_table, r, 'min_quantity');
        y := carbonmkt._num(p_table, r, 'below_quantity');
        IF x IS NULL OR x < 1 OR (y IS NOT NULL AND y <= x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('order sizes must satisfy 1 <= min_quantity < below_quantity: got %s t and %s t', coalesce(x::text, 'NULL'), coalesce(y::text, 'none')));
        END IF;
        IF coalesce(carbonmkt._num(p_table, r, 'lot'), 0) < 1 OR coalesce(carbonmkt._num(p_table, r, 'tick_fen'), 0) < 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the lot (t) and the price step (fen) must be at least 1: got %s t and %s fen', coalesce(r ->> 'lot', 'NULL'), coalesce(r ->> 'tick_fen', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'band');
        IF x IS NOT NULL AND (x <= 0 OR x >= 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the price band must be more than 0%% and less than 100%% of the previous close: got %s%%', trim_scale(x * 100)));
        END IF;
        x := carbonmkt._num(p_table, r, 'fee_rate');
        IF x IS NULL OR x < 0 OR x > 0.01 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the fee rate per side must be in [0, 0.01] (1%%): got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF ((r ->> 'mode') = 'auction') <> (r ->> 'clearing_rule' IS NOT NULL) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, 'one-way bidding (mode auction), and only it, needs a clearing rule (uniform or pay_as_bid)');
        END IF;
    ELSIF p_table = 'market_session' THEN
        IF (r ->> 'opens')::time >= (r ->> 'closes')::time THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a session must open before it closes: %s to %s', r ->> 'opens', r ->> 'closes'));
        END IF;
    ELSIF p_table = 'trader_rule' THEN
        x := carbonmkt._num(p_table, r, 'max_position');
        IF x IS NOT NULL AND x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a position limit must be positive: got %s t', x));
        END IF;
    ELSIF p_table = 'offset_rule' THEN
        x := carbonmkt._num(p_table, r, 'ratio');
        IF x IS NULL OR x < 0 OR x > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the offset ratio must be in [0, 1]: got %s', coalesce(x::text, 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'local_share_min');
        IF x IS NOT NULL AND (x <= 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the minimum local share must be more than 0 and at most 1: got %s', x));
        END IF;
    ELSIF p_table = 'relief_rule' THEN
        x := carbonmkt._num(p_table, r, 'gap_cap_share');
        IF x IS NOT NULL AND (x < 0 OR x > 1) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the gap cap share must be in [0, 1]: got %s', x));
        END IF;
        x := carbonmkt._num(p_table, r, 'borrowing_min_gap_share');
        y := carbonmkt._num(p_table, r, 'borrowing_max_share');
        IF (x IS NULL) <> (y IS NULL) OR x < 0 OR x > 1 OR y <= 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('borrowing needs both a minimum gap share in [0, 1] and a maximum share in (0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'penalty_rule' THEN
        IF (r ->> 'fine_basis') = 'fixed' THEN
            x := carbonmkt._num(p_table, r, 'fine_min_fen');
            y := carbonmkt._num(p_table, r, 'fine_default_fen');
            z := carbonmkt._num(p_table, r, 'fine_max_fen');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x < 0 OR NOT (x <= y AND y <= z) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a fixed fine needs 0 <= fine_min_fen <= fine_default_fen <= fine_max_fen: got %s, %s, %s fen',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
        ELSIF (r ->> 'fine_basis') = 'price_multiple' THEN
            x := carbonmkt._num(p_table, r, 'multiple_min');
            y := carbonmkt._num(p_table, r, 'multiple_default');
            z := carbonmkt._num(p_table, r, 'multiple_max');
            IF x IS NULL OR y IS NULL OR z IS NULL OR x <= 0 OR NOT (x <= y AND y <= z)
               OR coalesce(carbonmkt._num(p_table, r, 'price_months'), 0) NOT BETWEEN 1 AND 24 THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price-multiple fine needs 0 < multiple_min <= multiple_default <= multiple_max and price_months in 1-24: got %s, %s, %s and %s months',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL'), coalesce(r ->> 'price_months', 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'cut_multiple');
        IF x IS NOT NULL AND (x < 0 OR x > 10) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the allocation cut multiple must be in [0, 10]: got %s', x));
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        x := carbonmkt._num(p_table, r, 'review_sample_share');
        y := carbonmkt._num(p_table, r, 'deviation_threshold');
        -- NULL: a number not set (refused where needed until an authority sets it)
        IF x < 0 OR x > 1 OR y < 0 OR y > 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('the review sample share and the deviation threshold must be in [0, 1]: got %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_sector_gas' THEN
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.sector q WHERE q.code = r ->> 'sector') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown sector "%s"', coalesce(r ->> 'sector', 'NULL')),
                'The sectors are the rows of carbonmkt.sector.');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.mrv_gas g WHERE g.gas = r ->> 'gas') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown gas "%s"', coalesce(r ->> 'gas', 'NULL')),
                format('The gases are %s (carbonmkt.mrv_gas).', (SELECT string_agg(g.gas, ', ' ORDER BY g.gas) FROM carbonmkt.mrv_gas g)));
        END IF;
        x := carbonmkt._num(p_table, r, 'from_year');
        IF x IS NULL OR x < 2005 OR x > 2100 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the first reporting year must be a year within 2005-2100: got %s', coalesce(r ->> 'from_year', 'NULL')));
        END IF;
    ELSIF p_table = 'mrv_gwp' THEN
        x := carbonmkt._num(p_table, r, 'gwp');
        IF x IS NULL OR x <= 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('a GWP must be positive (tCO2e per t of the gas): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'repo_rule' THEN
        IF coalesce(r ->> 'on_failure', '') NOT IN ('close_out', 'retry_then_close_out') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('on_failure must be close_out or retry_then_close_out: got %s', coalesce(r ->> 'on_failure', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'grace_days');
        y := carbonmkt._num(p_table, r, 'max_term_days');
        IF coalesce(x, 0) < 0 OR coalesce(x, 0) > 30 OR y IS NULL OR y < 1 OR y > 3650 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('grace_days must be in 0-30 and max_term_days in 1-3650: got %s and %s',
                                                               coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_feed_rule' THEN
        x := carbonmkt._num(p_table, r, 'cap_share');
        IF x IS NULL OR x < 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the share of the caps set aside must be in [0, 1): got %s', coalesce(x::text, 'NULL')));
        END IF;
    ELSIF p_table = 'reserve_trigger' THEN
        IF coalesce(r ->> 'kind', '') NOT IN ('price_high', 'price_low', 'supply_high', 'supply_low')
           OR coalesce(r ->> 'action', '') NOT IN ('release', 'absorb', 'withhold') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('kind must be price_high, price_low, supply_high or supply_low and action release, absorb or withhold: got %s and %s',
                                                               coalesce(r ->> 'kind', 'NULL'), coalesce(r ->> 'action', 'NULL')));
        END IF;
        IF ((r ->> 'kind') IN ('price_high', 'supply_low')) <> ((r ->> 'action') = 'release') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('a %s trigger cannot %s: a high price or a short supply releases units, a low price or a long supply absorbs or withholds them',
                       r ->> 'kind', r ->> 'action'));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.product p WHERE p.code = r ->> 'product') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown product "%s"', coalesce(r ->> 'product', 'NULL')),
                                            'The products are the rows of carbonmkt.product (carbonmkt.list_product).');
        END IF;
        IF (r ->> 'kind') LIKE 'price%' THEN
            x := carbonmkt._num(p_table, r, 'lookback_days');
            y := carbonmkt._num(p_table, r, 'reference_days');
            z := carbonmkt._num(p_table, r, 'multiple');
            IF x IS NULL OR x < 1 OR x > 250 OR y IS NULL OR y < 1 OR y > 750 OR z IS NULL OR z <= 0 OR r ? 'threshold_t' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a price trigger needs lookback_days in 1-250, reference_days in 1-750, a positive multiple and no threshold_t: got %s, %s, %s',
                           coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(z::text, 'NULL')));
            END IF;
            IF ((r ->> 'kind') = 'price_high' AND z <= 1) OR ((r ->> 'kind') = 'price_low' AND z >= 1) THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a %s trigger''s multiple must be %s 1: got %s', r ->> 'kind',
                           CASE r ->> 'kind' WHEN 'price_high' THEN 'above' ELSE 'below' END, z));
            END IF;
        ELSE
            x := carbonmkt._num(p_table, r, 'threshold_t');
            IF x IS NULL OR x <= 0 OR r ? 'multiple' OR r ? 'lookback_days' OR r ? 'reference_days' THEN
                PERFORM carbonmkt._rule_invalid(p_table, r,
                    format('a supply trigger needs a positive threshold_t (t) and no price window: got %s', coalesce(x::text, 'NULL')));
            END IF;
        END IF;
        x := carbonmkt._num(p_table, r, 'quantity_t');
        y := carbonmkt._num(p_table, r, 'reserve_price_multiple');
        IF x IS NULL OR x <= 0 OR y IS NULL OR y <= 0 OR coalesce(carbonmkt._num(p_table, r, 'cooldown_days'), 0) < 0 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r,
                format('quantity_t and reserve_price_multiple must be positive and cooldown_days not negative: got %s, %s and %s',
                       coalesce(x::text, 'NULL'), coalesce(y::text, 'NULL'), coalesce(r ->> 'cooldown_days', '0')));
        END IF;
    ELSIF p_table = 'paid_allocation_rule' THEN
        x := carbonmkt._num(p_table, r, 'paid_share');
        IF x IS NULL OR x <= 0 OR x >= 1 THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('the paid share must be more than 0 and less than 1: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF coalesce(r ->> 'method', '') NOT IN ('auction', 'fixed_price') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('method must be auction or fixed_price: got %s', coalesce(r ->> 'method', 'NULL')));
        END IF;
        x := carbonmkt._num(p_table, r, 'price_fen');
        IF x IS NULL OR x <= 0 OR x <> trunc(x) THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('price_fen (fixed price or reserve price, fen per t) must be a positive whole number: got %s', coalesce(x::text, 'NULL')));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM carbonmkt.sector q WHERE q.code = r ->> 'sector') THEN
            PERFORM carbonmkt._rule_invalid(p_table, r, format('unknown sector "%s"', coalesce(r ->> 'sector', 'NULL')));
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_validate(text, jsonb) IS
  'Internal: checks one rule row (as jsonb) against the limits of its table (doc/rules.md); CM502 naming the rule, the limit and the number.';

-- The curve of F_load must be continuous and never increase with the load factor.
CREATE FUNCTION carbonmkt._load_curve_check(p_jurisdiction text, p_year int) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    f       numeric;
    prev    numeric;
    lprev   numeric;
    p       carbonmkt.alloc_load_piece;
    v       numeric;
    w       numeric;
    n       int := 0;
BEGIN
    FOR p IN SELECT * FROM carbonmkt.alloc_load_piece x WHERE x.jurisdiction = p_jurisdiction AND x.year = p_year
              ORDER BY x.lower_bound LOOP
        n := n + 1;
        IF n = 1 AND p.lower_bound <> 0 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): the first piece must start at load factor 0: got %',
                p_jurisdiction, p_year, p.lower_bound
                USING ERRCODE = 'CM502', HINT = 'Set a year''s pieces together: set_rule(''alloc_load_piece'', {"jurisdiction", "year", "pieces": [...]}).';
        END IF;
        -- the value at the lower bound, from this piece and from the one before it
        v := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * p.lower_bound)
                         ELSE power(p.base, p.c - p.d * p.lower_bound) END;
        IF prev IS NOT NULL AND abs(prev - v) > 0.0005 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load jumps at load factor %: % below, % above',
                p_jurisdiction, p_year, p.lower_bound, round(prev, 4), round(v, 4)
                USING ERRCODE = 'CM502', DETAIL = 'Neighbouring pieces must meet at their common bound.';
        END IF;
        -- within the piece: never increasing with F (checked at both ends and the middle)
        w := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * p.lower_bound - 0.5)
                         ELSE power(p.base, p.c - p.d * (p.lower_bound + 0.005)) END;
        IF w > v + 0.0000001 THEN
            RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load rises with the load factor above %: % at %, % at %',
                p_jurisdiction, p_year, p.lower_bound, round(v, 4), p.lower_bound, round(w, 4), p.lower_bound + 0.005
                USING ERRCODE = 'CM502', DETAIL = 'The load-factor correction must not increase as the load factor rises (monotone pieces).';
        END IF;
        lprev := p.lower_bound;
        -- the value at the next bound from this piece: evaluated when the next piece is read
        prev := NULL;
        SELECT min(x.lower_bound) INTO f FROM carbonmkt.alloc_load_piece x
         WHERE x.jurisdiction = p_jurisdiction AND x.year = p_year AND x.lower_bound > p.lower_bound;
        IF f IS NOT NULL THEN
            prev := CASE p.kind WHEN 'linear' THEN p.a + p.b * (p.pivot - 100 * f) ELSE power(p.base, p.c - p.d * f) END;
            IF prev > v + 0.0000001 THEN
                RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): F_load rises with the load factor between % and %: % to %',
                    p_jurisdiction, p_year, p.lower_bound, f, round(v, 4), round(prev, 4)
                    USING ERRCODE = 'CM502', DETAIL = 'The load-factor correction must not increase as the load factor rises (monotone pieces).';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._load_curve_check(text, int) IS
  'Internal: CM502 unless the load-factor pieces of a jurisdiction and year start at 0, meet at their bounds (within 0.0005) and never increase with the load factor.';

-- Overlaps (CM503) and rules a computation used (CM506) ---------------------------------------

CREATE FUNCTION carbonmkt._rule_group_cols(p_table text) RETURNS text[]
LANGUAGE sql STABLE AS
$$ SELECT array_agg(c ORDER BY o) FROM unnest(carbonmkt._rule_columns(p_table, true)) WITH ORDINALITY u(c, o)
    WHERE c NOT IN ('from_year', 'valid_from', 'opens') $$;
COMMENT ON FUNCTION carbonmkt._rule_group_cols(text) IS
  'Internal: the key columns that name a rule apart from its effective period (for overlaps): the primary key without from_year, valid_from (and a session''s opening time).';

CREATE FUNCTION carbonmkt._rule_overlap(p_table text, r jsonb, p_self jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    cond    text;
    o       jsonb;
BEGIN
    SELECT string_agg(format('t.%I IS NOT DISTINCT FROM (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)',
                             c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_group_cols(p_table)) c;
    IF m.period_kind = 'from_year' THEN
        EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s AND ($2 IS NULL OR to_jsonb(t) <> $2)
                          AND t.from_year <= coalesce(($1 ->> ''until_year'')::int, 2100)
                          AND coalesce(t.until_year, 2100) >= ($1 ->> ''from_year'')::int
                        ORDER BY t.from_year LIMIT 1', p_table, cond)
           INTO o USING r, p_self;
        IF o IS NOT NULL THEN
            RAISE EXCEPTION '%: years %-% overlap the rule in force %-%', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)),
                r ->> 'from_year', coalesce(r ->> 'until_year', '(open)'), o ->> 'from_year', coalesce(o ->> 'until_year', '(open)')
                USING ERRCODE = 'CM503',
                      DETAIL = 'Effective periods of one rule must not overlap; nothing was changed.',
                      HINT = CASE WHEN (o ->> 'from_year')::int < (r ->> 'from_year')::int
                                  THEN format('End the rule in force first: carbonmkt.retire_rule(%L, %L, document, last_year => %s).',
                                              p_table, carbonmkt._rule_key(p_table, o), (r ->> 'from_year')::int - 1)
                                  ELSE format('Change that rule with carbonmkt.amend_rule(%L, %L, ...), or set this one for other years.',
                                              p_table, carbonmkt._rule_key(p_table, o)) END;
        END IF;
    ELSIF m.period_kind = 'valid_from' THEN
        EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s AND ($2 IS NULL OR to_jsonb(t) <> $2)
                          AND t.valid_from <> ($1 ->> ''valid_from'')::date
                          AND t.valid_from <= coalesce(($1 ->> ''valid_until'')::date, ''infinity'')
                          AND coalesce(t.valid_until, ''infinity'') >= ($1 ->> ''valid_from'')::date
                        ORDER BY t.valid_from LIMIT 1', p_table, cond)
           INTO o USING r, p_self;
        IF o IS NOT NULL THEN
            RAISE EXCEPTION '%: days % to % overlap the rule in force % to %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)),
                r ->> 'valid_from', coalesce(r ->> 'valid_until', '(open)'), o ->> 'valid_from', coalesce(o ->> 'valid_until', '(open)')
                USING ERRCODE = 'CM503',
                      DETAIL = 'Effective periods of one rule must not overlap; nothing was changed.',
                      HINT = CASE WHEN (o ->> 'valid_from')::date < (r ->> 'valid_from')::date
                                  THEN format('End the rule in force first: carbonmkt.retire_rule(%L, %L, document, last_day => %L).',
                                              p_table, carbonmkt._rule_key(p_table, o), (r ->> 'valid_from')::date - 1)
                                  ELSE format('Change that rule with carbonmkt.amend_rule(%L, %L, ...), or set this one for other days.',
                                              p_table, carbonmkt._rule_key(p_table, o)) END;
        END IF;
        IF p_table = 'market_session' THEN
            SELECT to_jsonb(t) INTO o FROM carbonmkt.market_session t
             WHERE t.jurisdiction = r ->> 'jurisdiction' AND t.mode::text = r ->> 'mode'
               AND t.valid_from = (r ->> 'valid_from')::date AND (p_self IS NULL OR to_jsonb(t) <> p_self)
               AND t.opens < (r ->> 'closes')::time AND t.closes > (r ->> 'opens')::time;
            IF o IS NOT NULL THEN
                RAISE EXCEPTION '%: session % to % overlaps the session % to %',
                    carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)), r ->> 'opens', r ->> 'closes',
                    o ->> 'opens', o ->> 'closes'
                    USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.';
            END IF;
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_overlap(text, jsonb, jsonb) IS
  'Internal: CM503 when a rule row''s effective period (from_year .. until_year, valid_from .. valid_until) overlaps another row of the same rule (p_self: the row being amended).';

-- Whether a computation used the years or days of a rule row: p_from .. p_to are the
-- years (or, for market rules, whether any day up to today is affected).
CREATE FUNCTION carbonmkt._rule_in_use(p_table text, r jsonb, p_from int, p_to int) RETURNS text
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    m   carbonmkt.rule_table := carbonmkt._rule_meta(p_table);
    j   text := r ->> 'jurisdiction';
    x   record;
BEGIN
    IF m.room = 'allocation' THEN
        SELECT run_id, kind, year INTO x FROM carbonmkt.allocation_run a
         WHERE a.jurisdiction = j AND a.year BETWEEN p_from AND p_to ORDER BY run_id LIMIT 1;
        IF FOUND THEN
            RETURN format('allocation run %s (%s, %s) used it', x.run_id, x.kind, x.year);
        END IF;
    ELSIF m.room = 'compliance' AND m.period_kind = 'from_year' THEN
        SELECT period, status, first_year INTO x FROM carbonmkt.compliance_period p
         WHERE p.jurisdiction = j AND p.first_year BETWEEN p_from AND p_to ORDER BY period LIMIT 1;
        IF FOUND THEN
            RETURN format('compliance period %s (%s, from %s) uses it', x.period, x.status, x.first_year);
        END IF;
    ELSIF p_table = 'paid_allocation_rule' THEN
        SELECT e.participant_id, e.year INTO x FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant pt USING (participant_id)
         WHERE e.year BETWEEN p_from AND p_to AND pt.sector = r ->> 'sector' ORDER BY e.year, e.participant_id LIMIT 1;
        IF FOUND THEN
            RETURN format('the paid allocation of %s was applied under it (participant %s first)', x.year, x.participant_id);
        END IF;
    ELSIF p_table = 'mrv_sector_gas' THEN
        -- the gases a sector reports in the years of its reports
        SELECT rp.report_id, rp.year INTO x FROM carbonmkt.mrv_report rp JOIN carbonmkt.participant pt USING (participant_id)
         WHERE rp.year BETWEEN p_from AND p_to AND pt.sector = r ->> 'sector' ORDER BY rp.year, rp.report_id LIMIT 1;
        IF FOUND THEN
            RETURN format('emission report %s of %s (sector %s) was filed with the gases of its year', x.report_id, x.year, r ->> 'sector');
        END IF;
    ELSIF p_table = 'mrv_rule' THEN
        SELECT rp.report_id, rp.year INTO x FROM carbonmkt.mrv_report rp JOIN carbonmkt.participant pt USING (participant_id)
         WHERE rp.year BETWEEN p_from AND p_to
           AND (j = 'CN' OR pt.province = (SELECT jj.province FROM carbonmkt.jurisdiction jj WHERE jj.code = j))
         ORDER BY rp.report_id LIMIT 1;
        IF FOUND THEN
            RETURN format('emission report %s of %s was assessed under it', x.report_id, x.year);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_in_use(text, jsonb, int, int) IS
  'Internal: why a rule row of the given years is in use (an allocation run of its jurisdiction and year, a compliance period starting in its years, an emission report of its years; for mrv_sector_gas an emission report of its sector in those years; for paid_allocation_rule an entitlement applied), or NULL.';

-- The administration functions -----------------------------------------------------------------

CREATE FUNCTION carbonmkt._rule_begin(p_action text, p_document text, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS
$$
BEGIN
    IF p_document IS NULL OR btrim(p_document) = '' THEN
        RAISE EXCEPTION 'a rule change needs the document it implements (e.g. the notice number)'
            USING ERRCODE = 'CM502', HINT = 'Pass document => ''...''; it is recorded in carbonmkt.rule_change.';
    END IF;
    PERFORM set_config('carbonmkt_rules.action', p_action, true),
            set_config('carbonmkt_rules.document', p_document, true),
            set_config('carbonmkt_rules.actor', coalesce(p_actor::text, ''), true);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_begin(text, text, bigint) IS
  'Internal: checks the document and tells the history trigger (carbonmkt._rule_log) the action, the document and the participant of the changes that follow in this transaction.';

CREATE FUNCTION carbonmkt._rule_end() RETURNS void
LANGUAGE sql AS
$$ SELECT set_config('carbonmkt_rules.action', '', true), set_config('carbonmkt_rules.document', '', true),
          set_config('carbonmkt_rules.actor', '', true) $$;
COMMENT ON FUNCTION carbonmkt._rule_end() IS 'Internal: clears what _rule_begin told the history trigger.';

CREATE FUNCTION carbonmkt._rule_insert(p_table text, r jsonb) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    cols    text;
BEGIN
    SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(r) k;
    EXECUTE format('INSERT INTO carbonmkt.%I (%s) SELECT %s FROM jsonb_populate_record(NULL::carbonmkt.%I, $1)',
                   p_table, cols, cols, p_table) USING r;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION '%: exists already', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r))
            USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.',
                  HINT = 'Change it with carbonmkt.amend_rule(), or set the rule for other years or days.';
    WHEN check_violation OR not_null_violation OR foreign_key_violation OR invalid_text_representation
         OR datatype_mismatch OR numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
         OR invalid_parameter_value OR string_data_right_truncation THEN
        RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, carbonmkt._rule_key(p_table, r)), SQLERRM
            USING ERRCODE = 'CM502', DETAIL = format('The row was %s; nothing was changed.', r);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_insert(text, jsonb) IS
  'Internal: inserts one rule row given as jsonb (only its keys; defaults for the rest); CM503 when it exists, CM502 for a value its table refuses.';

CREATE FUNCTION carbonmkt.set_rule(rule_table text, rule jsonb, document text, acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    j       text := rule ->> 'jurisdiction';
    y1      int;
    y2      int;
    yr      int;
    r       jsonb;
    todo    jsonb[] := '{}';
    piece   jsonb;
    why     text;
    n       int := 0;
BEGIN
    IF rule IS NULL OR jsonb_typeof(rule) <> 'object' THEN
        RAISE EXCEPTION 'a rule of % is a jsonb object of its columns: got %', rule_table, coalesce(rule::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'the trading calendar is loaded with carbonmkt.load_trading_calendar() and changed with carbonmkt.set_trading_day()'
            USING ERRCODE = 'CM502';
    END IF;
    IF 'jurisdiction' = ANY (carbonmkt._rule_columns(rule_table)) THEN
        PERFORM carbonmkt.check_jurisdiction(j);
    END IF;
    me := carbonmkt._rule_actor(rule_table, j, acting_for);
    PERFORM carbonmkt._rule_begin('set', document, me.participant_id);
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT rule ? 'source' THEN
        rule := rule || jsonb_build_object('source', document);
    END IF;

    -- the rows: one per year for the year tables (year, or from_year .. to_year)
    IF m.period_kind = 'year' THEN
        y1 := coalesce(rule ->> 'year', rule ->> 'from_year')::int;
        y2 := coalesce(rule ->> 'to_year', rule ->> 'year', rule ->> 'from_year')::int;
        IF y1 IS NULL OR y2 < y1 OR y1 < 2005 OR y2 > 2100 THEN
            RAISE EXCEPTION '% rules are set for a year or for from_year .. to_year within 2005-2100: got % to %',
                rule_table, coalesce(y1::text, 'NULL'), coalesce(y2::text, 'NULL')
                USING ERRCODE = 'CM502';
        END IF;
        rule := rule - 'year' - 'from_year' - 'to_year';
        FOR yr IN y1 .. y2 LOOP
            SELECT a.run_id || ' (' || a.kind || ')' INTO why FROM carbonmkt.allocation_run a
             WHERE a.jurisdiction = j AND a.year = yr AND a.kind = 'final' ORDER BY a.run_id LIMIT 1;
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '% rules of jurisdiction % for % cannot be added: the allocation of % is final (run %)',
                    rule_table, j, yr, yr, why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.';
            END IF;
            IF rule_table = 'alloc_load_piece' THEN
                IF jsonb_typeof(rule -> 'pieces') IS DISTINCT FROM 'array' THEN
                    RAISE EXCEPTION 'alloc_load_piece rules are set a year''s whole curve at once: {"jurisdiction", "year", "pieces": [{"lower_bound", "kind", ...}, ...]}'
                        USING ERRCODE = 'CM502';
                END IF;
                IF EXISTS (SELECT 1 FROM carbonmkt.alloc_load_piece x WHERE x.jurisdiction = j AND x.year = yr) THEN
                    RAISE EXCEPTION 'alloc_load_piece (jurisdiction %, year %): the year''s curve exists already', j, yr
                        USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.', HINT = 'Change a piece with carbonmkt.amend_rule().';
                END IF;
                FOR piece IN SELECT value FROM jsonb_array_elements(rule -> 'pieces') LOOP
                    todo := todo || ((rule - 'pieces') || piece || jsonb_build_object('year', yr));
                END LOOP;
            ELSE
                todo := todo || (rule || jsonb_build_object('year', yr));
            END IF;
        END LOOP;
    ELSE
        todo := ARRAY[rule];
    END IF;

    FOREACH r IN ARRAY todo LOOP
        PERFORM carbonmkt._rule_validate(rule_table, r);
        IF m.period_kind = 'from_year' THEN
            IF r ->> 'from_year' IS NULL THEN
                RAISE EXCEPTION '% rules need from_year (and until_year, NULL = until replaced)', rule_table USING ERRCODE = 'CM502';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
            why := carbonmkt._rule_in_use(rule_table, r, (r ->> 'from_year')::int, coalesce((r ->> 'until_year')::int, 2100));
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '%: cannot be set for years already under way: %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.', HINT = 'Set the rule from a later year.';
            END IF;
        ELSIF m.period_kind = 'valid_from' THEN
            IF r ->> 'valid_from' IS NULL OR (r ->> 'valid_from')::date <= carbonmkt.business_date() THEN
                RAISE EXCEPTION '%: a market rule takes effect after today (%): got valid_from %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), to_char(carbonmkt.business_date(), 'YYYY-MM-DD'),
                    coalesce(r ->> 'valid_from', 'NULL')
                    USING ERRCODE = 'CM506', DETAIL = 'Days already traded keep their rules; nothing was changed.';
            END IF;
            PERFORM carbonmkt._rule_overlap(rule_table, r);
        ELSIF rule_table = 'mrv_sector_gas' THEN
            -- a gas added from a year whose reports were filed without it
            why := carbonmkt._rule_in_use(rule_table, r, (r ->> 'from_year')::int, 2100);
            IF why IS NOT NULL THEN
                RAISE EXCEPTION '%: cannot be set for years already reported: %',
                    carbonmkt._rule_name(rule_table, carbonmkt._rule_key(rule_table, r)), why
                    USING ERRCODE = 'CM506', DETAIL = 'Nothing was changed.', HINT = 'Set the gas from a year not reported yet.';
            END IF;
        END IF;
        PERFORM carbonmkt._rule_insert(rule_table, r);
        n := n + 1;
    END LOOP;
    IF rule_table = 'alloc_load_piece' THEN
        FOR yr IN y1 .. y2 LOOP
            PERFORM carbonmkt._load_curve_check(j, yr);
        END LOOP;
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint) IS
  'Sets a new rule: rule is a jsonb object of the table''s columns; the year tables take year or from_year and to_year (one row per year; alloc_load_piece takes the year''s whole curve as "pieces"), the from_year tables from_year and until_year (NULL = until replaced), the market tables valid_from (after today) and valid_until.  document is what it implements (e.g. a notice number; also the row''s source unless given).  Validated (CM502), no overlap with the rule''s other periods (CM503), not for years a computation used (CM506); who may call it: doc/rules.md.  Returns the rows set.';

CREATE FUNCTION carbonmkt._rule_row(p_table text, p_key jsonb) RETURNS jsonb
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    o       jsonb;
    missing text;
BEGIN
    SELECT string_agg(c, ', ') INTO missing FROM unnest(carbonmkt._rule_columns(p_table, true)) c
     WHERE p_key IS NULL OR NOT p_key ? c;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'a rule of % is named by its key: % missing', p_table, missing
            USING ERRCODE = 'CM502', DETAIL = format('The key of %s is %s.', p_table,
                                                    array_to_string(carbonmkt._rule_columns(p_table, true), ', '));
    END IF;
    SELECT string_agg(format('t.%I = (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)', c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_columns(p_table, true)) c;
    EXECUTE format('SELECT to_jsonb(t) FROM carbonmkt.%I t WHERE %s FOR UPDATE', p_table, cond) INTO o USING p_key;
    IF o IS NULL THEN
        RAISE EXCEPTION 'no rule %', carbonmkt._rule_name(p_table, p_key)
            USING ERRCODE = 'CM505', HINT = 'See carbonmkt.rules_in_force() and carbonmkt.rule_history.';
    END IF;
    RETURN o;
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_row(text, jsonb) IS 'Internal: the rule row of a key, locked; CM505 when there is none.';

CREATE FUNCTION carbonmkt._rule_update(p_table text, p_key jsonb, p_new jsonb) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    cols    text;
BEGIN
    SELECT string_agg(format('t.%I = (SELECT x.%I FROM jsonb_populate_record(NULL::carbonmkt.%I, $1) x)', c, c, p_table), ' AND ')
      INTO cond FROM unnest(carbonmkt._rule_columns(p_table, true)) c;
    SELECT string_agg(quote_ident(c), ', ') INTO cols FROM unnest(carbonmkt._rule_columns(p_table)) c;
    EXECUTE format('UPDATE carbonmkt.%I t SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::carbonmkt.%I, $2)) WHERE %s',
                   p_table, cols, cols, p_table, cond) USING p_key, p_new;
EXCEPTION
    WHEN check_violation OR not_null_violation OR foreign_key_violation OR invalid_text_representation
         OR datatype_mismatch OR numeric_value_out_of_range OR invalid_datetime_format OR datetime_field_overflow
         OR invalid_parameter_value OR string_data_right_truncation THEN
        RAISE EXCEPTION '%: %', carbonmkt._rule_name(p_table, p_key), SQLERRM
            USING ERRCODE = 'CM502', DETAIL = format('The row would be %s; nothing was changed.', p_new);
END
$$;
COMMENT ON FUNCTION carbonmkt._rule_update(text, jsonb, jsonb) IS 'Internal: replaces a rule row (by key) with a jsonb row; CM502 for a value its table refuses.';

CREATE FUNCTION carbonmkt.amend_rule(rule_table text, rule_key jsonb, changes jsonb, document text,
                                     acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
    k       text;
    fill    boolean;
BEGIN
    IF m.period_kind = 'calendar' THEN
        RAISE EXCEPTION 'a trading day is changed with carbonmkt.set_trading_day()' USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
        RAISE EXCEPTION 'amend_rule needs the changed columns as a jsonb object: got %', coalesce(changes::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    SELECT string_agg(c, ', ') INTO k FROM jsonb_object_keys(changes) c
     WHERE c = ANY (carbonmkt._rule_columns(rule_table, true)) AND changes -> c IS DISTINCT FROM o -> c;
    IF k IS NOT NULL THEN
        RAISE EXCEPTION '%: the key (%) of a rule is not amended', carbonmkt._rule_name(rule_table, rule_key), k
            USING ERRCODE = 'CM502', HINT = 'Set a rule with the new key (set_rule) and retire this one (retire_rule).';
    END IF;
    -- filling numbers the sources do not give: columns shipped NULL whose users refuse while
    -- they are NULL (doc/rules.md, "Missing rules"), so no computation used the row without them
    fill := NOT EXISTS (SELECT 1 FROM jsonb_object_keys(changes) c
                         WHERE c <> ALL (CASE rule_table
                                           WHEN 'market_rule' THEN ARRAY['fee_rate']
                                           WHEN 'mrv_rule' THEN ARRAY['review_sample_share', 'deviation_threshold', 'deposit_due_days',
                                                                      'deposit_missing_tolerance', 'deposit_late_tolerance',
                                                                      'anomaly_threshold']
                                           ELSE '{}'::text[] END)
                            OR coalesce(o -> c, 'null'::jsonb) <> 'null'::jsonb
                            OR coalesce(changes -> c, 'null'::jsonb) = 'null'::jsonb);
    n := o || changes;
    IF 'source' = ANY (carbonmkt._rule_columns(rule_table)) AND NOT changes ? 'source' THEN
        n := n || jsonb_build_object('source', CASE WHEN fill
                                                    THEN format('%s; %s: %s', o ->> 'source',
                                                                (SELECT string_agg(c, ', ' ORDER BY c) FROM jsonb_object_keys(changes) c),
                                                                document)
                                                    ELSE document END);
    END IF;
    PERFORM carbonmkt._rule_validate(rule_table, n);
    IF m.period_kind = 'year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
    ELSIF m.period_kind = 'from_year' THEN
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'from_year')::int, coalesce((o ->> 'until_year')::int, 2100));
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF m.period_kind = 'valid_from' THEN
        IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
            why := format('it is in force since %s (today is %s)', o ->> 'valid_from', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
        END IF;
        PERFORM carbonmkt._rule_overlap(rule_table, n, o);
    ELSIF rule_table = 'mrv_sector_gas' AND (n ->> 'from_year') IS DISTINCT FROM (o ->> 'from_year') THEN
        -- a new first year changes the gases of the years between the old and the new one
        why := carbonmkt._rule_in_use(rule_table, o, least((o ->> 'from_year')::int, (n ->> 'from_year')::int),
                                      greatest((o ->> 'from_year')::int, (n ->> 'from_year')::int) - 1);
    END IF;
    IF why IS NOT NULL AND NOT fill THEN
        RAISE EXCEPTION '%: cannot be amended: %', carbonmkt._rule_name(rule_table, rule_key), why
            USING ERRCODE = 'CM506',
                  DETAIL = 'A rule a computation used is never changed; nothing was changed.',
                  HINT = 'End it (retire_rule) and set the new value for the following years or days (set_rule).';
    END IF;
    PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    IF rule_table = 'alloc_load_piece' THEN
        PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint) IS
  'Amends a rule row named by its key (jsonb of the primary key columns) with the changed columns (not the key); validated like set_rule (CM502, CM503); refused for a rule a computation used (CM506: an allocation run of its year, a compliance period starting in its years, an emission report of its years, a market rule already in force, a gas''s first year moved across reported years of its sector), except filling a number the sources do not give (market_rule.fee_rate, the NULL numbers of mrv_rule: refused while NULL, so never used), whose document is added to the row''s source.  Returns the new row.';

CREATE FUNCTION carbonmkt.retire_rule(rule_table text, rule_key jsonb, document text, last_year int DEFAULT NULL,
                                      last_day date DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    m       carbonmkt.rule_table := carbonmkt._rule_meta(rule_table);
    me      carbonmkt.participant;
    o       jsonb;
    n       jsonb;
    why     text;
BEGIN
    IF m.period_kind IN ('none', 'calendar') THEN
        RAISE EXCEPTION 'rows of % are amended, never retired', rule_table USING ERRCODE = 'CM502';
    END IF;
    IF rule_key ? 'jurisdiction' THEN
        PERFORM carbonmkt.check_jurisdiction(rule_key ->> 'jurisdiction');
    END IF;
    o := carbonmkt._rule_row(rule_table, rule_key);
    me := carbonmkt._rule_actor(rule_table, o ->> 'jurisdiction', acting_for);
    PERFORM carbonmkt._rule_begin('retire', document, me.participant_id);
    IF m.period_kind = 'year' THEN
        -- a year's row: removed while no computation used it
        why := carbonmkt._rule_in_use(rule_table, o, (o ->> 'year')::int, (o ->> 'year')::int);
        IF why IS NOT NULL THEN
            RAISE EXCEPTION '%: cannot be retired: %', carbonmkt._rule_name(rule_table, rule_key), why
                USING ERRCODE = 'CM506', DETAIL = 'A rule a computation used is kept; nothing was changed.';
        END IF;
        EXECUTE format('DELETE FROM carbonmkt.%I t WHERE to_jsonb(t) = $1', rule_table) USING o;
        IF rule_table = 'alloc_load_piece' THEN
            PERFORM carbonmkt._load_curve_check(o ->> 'jurisdiction', (o ->> 'year')::int);
        END IF;
        n := NULL;
    ELSIF m.period_kind = 'from_year' THEN
        IF last_year IS NULL OR last_year < (o ->> 'from_year')::int
           OR last_year >= coalesce((o ->> 'until_year')::int, 2101) THEN
            RAISE EXCEPTION '%: the last year must be within the rule''s years %-%: got %',
                carbonmkt._rule_name(rule_table, rule_key), o ->> 'from_year',
                coalesce((o ->> 'until_year')::int - 1, 2100), coalesce(last_year::text, 'NULL')
                USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
        END IF;
        why := carbonmkt._rule_in_use(rule_table, o, last_year + 1, coalesce((o ->> 'until_year')::int, 2100));
        IF why IS NOT NULL THEN
            RAISE EXCEPTION '%: cannot end in %: %', carbonmkt._rule_name(rule_table, rule_key), last_year, why
                USING ERRCODE = 'CM506', DETAIL = 'A rule a computation used is kept; nothing was changed.';
        END IF;
        n := o || jsonb_build_object('until_year', last_year);
        PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
    ELSE
        IF last_day IS NULL OR last_day < (o ->> 'valid_from')::date - 1
           OR last_day >= coalesce((o ->> 'valid_until')::date + 1, 'infinity') THEN
            RAISE EXCEPTION '%: the last day must be within the rule''s days % to %: got %',
                carbonmkt._rule_name(rule_table, rule_key), o ->> 'valid_from', coalesce(o ->> 'valid_until', '(open)'),
                coalesce(to_char(last_day, 'YYYY-MM-DD'), 'NULL')
                USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
        END IF;
        IF last_day < carbonmkt.business_date() AND last_day >= (o ->> 'valid_from')::date THEN
            RAISE EXCEPTION '%: cannot end on % before today (%)', carbonmkt._rule_name(rule_table, rule_key),
                to_char(last_day, 'YYYY-MM-DD'), to_char(carbonmkt.business_date(), 'YYYY-MM-DD')
                USING ERRCODE = 'CM506', DETAIL = 'Days already traded keep their rules; nothing was changed.';
        END IF;
        IF last_day < (o ->> 'valid_from')::date THEN
            -- never in force: withdrawn
            IF (o ->> 'valid_from')::date <= carbonmkt.business_date() THEN
                RAISE EXCEPTION '%: in force since %, it cannot be withdrawn', carbonmkt._rule_name(rule_table, rule_key),
                    o ->> 'valid_from' USING ERRCODE = 'CM506';
            END IF;
            EXECUTE format('DELETE FROM carbonmkt.%I t WHERE to_jsonb(t) = $1', rule_table) USING o;
            n := NULL;
        ELSE
            n := o || jsonb_build_object('valid_until', last_day);
            PERFORM carbonmkt._rule_update(rule_table, rule_key, n);
        END IF;
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.retire_rule(text, jsonb, text, int, date, bigint) IS
  'Retires a rule: a from_year rule ends with last_year (until_year), a market rule with last_day (valid_until, today at the earliest; a rule not yet in force is withdrawn), a year row is removed while no allocation run of its year used it.  CM506 when a computation used the years or days it would lose.  Returns the new row (NULL when removed).';

-- The trading calendar ---------------------------------------------------------------------------

CREATE FUNCTION carbonmkt.load_trading_calendar(jurisdiction text, year int, holidays date[], document text,
                                                memos text[] DEFAULT NULL, weekend_trading_days date[] DEFAULT '{}',
                                                acting_for bigint DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant;
    d       date;
    dup     date;
    n       int := 0;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
    me := carbonmkt._rule_actor('trading_calendar', jurisdiction, acting_for);
    PERFORM carbonmkt._rule_begin('load', document, me.participant_id);
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'trading_calendar: the year must be within 2005-2100: got %', coalesce(year::text, 'NULL')
            USING ERRCODE = 'CM502';
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                WHERE y.jurisdiction = load_trading_calendar.jurisdiction AND y.year = load_trading_calendar.year) THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): the year''s calendar is loaded already', jurisdiction, year
            USING ERRCODE = 'CM503', DETAIL = 'Nothing was changed.', HINT = 'Change a day with carbonmkt.set_trading_day().';
    END IF;
    IF holidays IS NULL OR array_position(holidays, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): holidays must be a list of dates without NULL (empty: none)',
            jurisdiction, year USING ERRCODE = 'CM502';
    END IF;
    IF memos IS NOT NULL AND cardinality(memos) <> cardinality(holidays) THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): % notes for % holidays', jurisdiction, year,
            cardinality(memos), cardinality(holidays) USING ERRCODE = 'CM502';
    END IF;
    SELECT x INTO dup FROM unnest(holidays || coalesce(weekend_trading_days, '{}')) x GROUP BY x HAVING count(*) > 1
     ORDER BY x LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): day % is listed twice', jurisdiction, year, to_char(dup, 'YYYY-MM-DD')
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    SELECT x INTO d FROM unnest(holidays || coalesce(weekend_trading_days, '{}')) x
     WHERE extract(year FROM x) <> load_trading_calendar.year ORDER BY x LIMIT 1;
    IF d IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): day % is not in %', jurisdiction, year, to_char(d, 'YYYY-MM-DD'), year
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    SELECT x INTO d FROM unnest(coalesce(weekend_trading_days, '{}')) x WHERE extract(isodow FROM x) < 6 ORDER BY x LIMIT 1;
    IF d IS NOT NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, year %): % is a weekday, not a weekend trading day', jurisdiction, year,
            to_char(d, 'YYYY-MM-DD')
            USING ERRCODE = 'CM502', DETAIL = 'Nothing was changed.';
    END IF;
    INSERT INTO carbonmkt.trading_calendar_year (jurisdiction, year, source, loaded_by, loaded_at)
    VALUES (jurisdiction, year, document, session_user, carbonmkt.clock_now());
    INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
    SELECT load_trading_calendar.jurisdiction, h.d, false, h.note
      FROM unnest(holidays, coalesce(memos, array_fill(NULL::text, ARRAY[cardinality(holidays)]))) h(d, note)
     WHERE extract(isodow FROM h.d) < 6;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
    SELECT load_trading_calendar.jurisdiction, w, true, 'weekend trading day'
      FROM unnest(coalesce(weekend_trading_days, '{}')) w;
    PERFORM carbonmkt._rule_end();
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint) IS
  'The exchange loads a year''s trading calendar: its holidays (with notes; weekend holidays are not stored: the exchange never trades on weekends) and any weekend trading days, citing the document (e.g. the State Council''s holiday notice).  Refused: a year loaded already (CM503), a day listed twice, a day of another year, a weekday as weekend trading day (CM502).  Until a year is loaded its dates are refused (CM507).  Returns the weekday holidays stored.';

CREATE FUNCTION carbonmkt.set_trading_day(jurisdiction text, business_date date, is_trading_day boolean, document text,
                                          memo text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    me      carbonmkt.participant;
    regular boolean;
BEGIN
    PERFORM carbonmkt.check_jurisdiction(jurisdiction);
    me := carbonmkt._rule_actor('trading_calendar', jurisdiction, acting_for);
    PERFORM carbonmkt._rule_begin('amend', document, me.participant_id);
    IF set_trading_day.business_date IS NULL OR is_trading_day IS NULL THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %): a day and whether it trades are needed', jurisdiction USING ERRCODE = 'CM502';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.trading_calendar_year y
                    WHERE y.jurisdiction = set_trading_day.jurisdiction AND y.year = extract(year FROM set_trading_day.business_date)) THEN
        RAISE EXCEPTION 'no trading calendar for % (jurisdiction %)', extract(year FROM set_trading_day.business_date), jurisdiction
            USING ERRCODE = 'CM507', HINT = 'Load the year first with carbonmkt.load_trading_calendar().';
    END IF;
    IF set_trading_day.business_date <= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'trading_calendar (jurisdiction %, business_date %): only days after today (%) can be changed',
            jurisdiction, to_char(set_trading_day.business_date, 'YYYY-MM-DD'), to_char(carbonmkt.business_date(), 'YYYY-MM-DD') USING ERRCODE = 'CM506';
    END IF;
    regular := extract(isodow FROM set_trading_day.business_date) < 6;
    DELETE FROM carbonmkt.trading_calendar c WHERE c.jurisdiction = set_trading_day.jurisdiction AND c.business_date = set_trading_day.business_date;
    IF is_trading_day <> regular THEN
        INSERT INTO carbonmkt.trading_calendar AS c (jurisdiction, business_date, is_trading_day, note)
        VALUES (jurisdiction, set_trading_day.business_date, is_trading_day, coalesce(memo, CASE WHEN is_trading_day THEN 'weekend trading day' END));
    END IF;
    PERFORM carbonmkt._rule_end();
    RETURN is_trading_day;
END
$$;
COMMENT ON FUNCTION carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) IS
  'The exchange makes a future day of a loaded year a holiday or a trading day (e.g. an extra holiday announced late), citing the document.  CM507 for a year without a calendar, CM506 for today or a past day.';

-- Rules in force, history, and the rules a computation used ---------------------------------------

CREATE FUNCTION carbonmkt.rules_in_force(on_date date DEFAULT NULL, of_jurisdiction text DEFAULT NULL)
RETURNS TABLE (rule_table text, jurisdiction text, rule_key jsonb, rule jsonb, in_force_from date, in_force_until date,
               change_id bigint, document text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    d   date := coalesce(on_date, carbonmkt.business_date());
    y   int := extract(year FROM coalesce(on_date, carbonmkt.business_date()));
    m   carbonmkt.rule_table;
    j   text := of_jurisdiction;
    w   text;
BEGIN
    IF j IS NOT NULL THEN
        PERFORM carbonmkt.check_jurisdiction(j);
    END IF;
    FOR m IN SELECT * FROM carbonmkt.rule_table ORDER BY room, rule_table LOOP
        w := CASE m.period_kind
               WHEN 'year' THEN format('t.year = %s', y)
               WHEN 'from_year' THEN format('t.from_year <= %s AND coalesce(t.until_year, 2100) >= %s', y, y)
               WHEN 'valid_from' THEN format('t.valid_from <= %L AND coalesce(t.valid_until, ''infinity'') >= %L', d, d)
               WHEN 'calendar' THEN format('t.business_date = %L', d)
               ELSE 'true' END;
        IF 'jurisdiction' = ANY (carbonmkt._rule_columns(m.rule_table)) AND j IS NOT NULL THEN
            w := w || format(' AND t.jurisdiction = %L', j);
        END IF;
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, to_jsonb(t) ->> ''jurisdiction'', carbonmkt._rule_key(%L, to_jsonb(t)), to_jsonb(t),
                    %s, %s, h.change_id, h.document
               FROM carbonmkt.%I t
               LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                                   WHERE c.rule_table = %L AND c.rule_key = carbonmkt._rule_key(%L, to_jsonb(t))
                                   ORDER BY c.change_id DESC LIMIT 1) h ON true
              WHERE %s ORDER BY 3',
            m.rule_table, m.rule_table,
            CASE m.period_kind WHEN 'year' THEN 'make_date(t.year, 1, 1)' WHEN 'from_year' THEN 'make_date(t.from_year, 1, 1)'
                               WHEN 'valid_from' THEN 't.valid_from' WHEN 'calendar' THEN 't.business_date' ELSE 'NULL::date' END,
            CASE m.period_kind WHEN 'year' THEN 'make_date(t.year, 12, 31)' WHEN 'from_year' THEN 'make_date(t.until_year, 12, 31)'
                               WHEN 'valid_from' THEN 't.valid_until' WHEN 'calendar' THEN 't.business_date' ELSE 'NULL::date' END,
            m.rule_table, m.rule_table, m.rule_table, w);
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.rules_in_force(date, text) IS
  'Every rule row in force on a date (default: today''s business date), optionally of one jurisdiction: the year rows of its year, the from_year rows covering its year, the market rows covering the day, the day''s calendar exception, the reference tables; with the period, the last change (rule_change) and its document.  The market''s sessions are those of the latest valid_from (market_session).';

CREATE VIEW carbonmkt.rule_history AS
SELECT c.change_id, c.rule_table, c.jurisdiction, c.rule_key, c.action, c.old_value, c.new_value, c.document,
       c.changed_by, c.acting_for, p.name AS acting_for_name, c.changed_at
  FROM carbonmkt.rule_change c LEFT JOIN carbonmkt.participant p ON p.participant_id = c.acting_for;
COMMENT ON VIEW carbonmkt.rule_history IS
  'The history of every rule (规则变更记录): who (login and participant), when, the old and the new row, the document.  Filter by rule_table and rule_key (e.g. rule_key @> ''{"jurisdiction": "CN", "category": "gas"}'').';

CREATE FUNCTION carbonmkt.rules_used(computation text, id bigint)
RETURNS TABLE (rule_table text, rule_key jsonb, rule jsonb, change_id bigint, document text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    run     carbonmkt.allocation_run;
    per     carbonmkt._period_rules;
    per_id  int;
BEGIN
    IF computation = 'allocation_run' THEN
        SELECT * INTO run FROM carbonmkt.allocation_run r WHERE r.run_id = id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'allocation run % does not exist', id USING ERRCODE = 'CM505';
        END IF;
        RETURN QUERY
        WITH snap AS (
            SELECT CASE s.key WHEN 'year_rule' THEN 'alloc_year_rule' WHEN 'benchmark' THEN 'alloc_benchmark'
                              WHEN 'heat_factor' THEN 'alloc_heat_factor' WHEN 'cooling_factor' THEN 'alloc_cooling_factor'
                              WHEN 'load_piece' THEN 'alloc_load_piece' WHEN 'band' THEN 'alloc_band'
                              WHEN 'cap' THEN 'alloc_cap' END AS t,
                   CASE jsonb_typeof(s.value) WHEN 'array' THEN s.value ELSE jsonb_build_array(s.value) END AS v
              FROM jsonb_each(run.rules) s
             WHERE s.key IN ('year_rule', 'benchmark', 'heat_factor', 'cooling_factor', 'load_piece', 'band', 'cap')
               AND jsonb_typeof(s.value) IN ('array', 'object'))
        SELECT snap.t, carbonmkt._rule_key(snap.t, e.value), e.value, h.change_id, h.document
          FROM snap CROSS JOIN LATERAL jsonb_array_elements(snap.v) e
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = snap.t AND c.rule_key = carbonmkt._rule_key(snap.t, e.value)
                                AND c.new_value = e.value
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         ORDER BY 1, 2::text;
    ELSIF computation IN ('period', 'sanction') THEN
        per_id := id;
        IF computation = 'sanction' THEN
            SELECT s.period INTO per_id FROM carbonmkt.sanction s WHERE s.sanction_id = id;
        END IF;
        SELECT * INTO per FROM carbonmkt._period_rules r WHERE r.period = per_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION '% % does not exist', computation, id USING ERRCODE = 'CM505';
        END IF;
        RETURN QUERY
        SELECT x.t, carbonmkt._rule_key(x.t, x.v), x.v, h.change_id, h.document
          FROM (SELECT 'offset_rule'::text AS t, to_jsonb(o) AS v FROM carbonmkt.offset_rule o
                 WHERE computation = 'period' AND o.jurisdiction = per.jurisdiction AND o.from_year = per.offset_rule_year
                UNION ALL
                SELECT 'relief_rule', to_jsonb(o) FROM carbonmkt.relief_rule o
                 WHERE computation = 'period' AND o.jurisdiction = per.jurisdiction AND o.from_year = per.relief_rule_year
                UNION ALL
                SELECT 'penalty_rule', to_jsonb(o) FROM carbonmkt.penalty_rule o
                 WHERE o.jurisdiction = per.jurisdiction AND o.from_year = per.penalty_rule_year) x
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = x.t AND c.rule_key = carbonmkt._rule_key(x.t, x.v)
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         ORDER BY 1;
    ELSIF computation = 'order' THEN
        RETURN QUERY
        SELECT 'market_rule'::text, carbonmkt._rule_key('market_rule', to_jsonb(r)), to_jsonb(r), h.change_id, h.document
          FROM carbonmkt.market_order o JOIN carbonmkt.product p ON p.product_id = o.product_id
         CROSS JOIN LATERAL carbonmkt.market_rule_at(o.mode, o.business_date, p.jurisdiction) r
          LEFT JOIN LATERAL (SELECT c.change_id, c.document FROM carbonmkt.rule_change c
                              WHERE c.rule_table = 'market_rule' AND c.rule_key = carbonmkt._rule_key('market_rule', to_jsonb(r))
                              ORDER BY c.change_id DESC LIMIT 1) h ON true
         WHERE o.order_id = id;
    ELSE
        RAISE EXCEPTION 'unknown computation "%"', coalesce(computation, 'NULL')
            USING ERRCODE = 'CM505', HINT = 'Computations: allocation_run, period (its obligations), sanction, order.';
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt.rules_used(text, bigint) IS
  'The rule rows a computation used, with the change (rule_change) that made each row what it used and its document: allocation_run (the rows its run recorded: year rule, benchmarks, correction factors, load pieces, band, cap), period (the offset, relief and penalty rules of a compliance period: its obligations), sanction (the penalty rule), order (the market rule of its mode and day: size, band, step, fee).  A rule a computation used is never amended (CM506), so the row shown is the row used.';

-- The history trigger on every rule table, and the history of the shipped rows ---------------------

DO $$
DECLARE
    t   text;
    k   text[];
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table LOOP
        k := carbonmkt._rule_columns(t, true);
        EXECUTE format('CREATE TRIGGER rule_history AFTER INSERT OR UPDATE OR DELETE ON carbonmkt.%I
                          FOR EACH ROW EXECUTE FUNCTION carbonmkt._rule_log(%s)',
                       t, (SELECT string_agg(quote_literal(c), ', ') FROM unnest(k) c));
        EXECUTE format('INSERT INTO carbonmkt.rule_change (rule_table, jurisdiction, rule_key, action, new_value, document,
                                                           changed_by, changed_at)
                        SELECT %L, to_jsonb(t) ->> ''jurisdiction'', carbonmkt._rule_key(%L, to_jsonb(t)), ''seed'', to_jsonb(t),
                               coalesce(to_jsonb(t) ->> ''source'',
                                        (SELECT y.source FROM carbonmkt.trading_calendar_year y
                                          WHERE y.jurisdiction = to_jsonb(t) ->> ''jurisdiction''
                                            AND y.year = extract(year FROM (to_jsonb(t) ->> ''business_date'')::date)),
                                        ''shipped with carbonmkt, no source (doc/rules.md)''),
                               ''carbonmkt'', ''2025-01-01 00:00:00+08''
                          FROM carbonmkt.%I t ORDER BY 3', t, t, t);
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON carbonmkt.%I FROM PUBLIC', t);
    END LOOP;
END
$$;

-- Dump: the years the exchange loaded (the shipped 2025 row is recreated by CREATE EXTENSION)
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.trading_calendar_year',
                                           'WHERE NOT (jurisdiction = ''CN'' AND year = 2025 AND loaded_by = ''carbonmkt'')');

-- Access -------------------------------------------------------------------------------------
-- The rules are public; every change goes through the functions above (who may call
-- what is checked inside them: doc/rules.md).

GRANT SELECT ON carbonmkt.rule_table, carbonmkt.rule_change, carbonmkt.rule_history, carbonmkt.trading_calendar_year TO PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint), carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint),
                       carbonmkt.retire_rule(text, jsonb, text, int, date, bigint),
                       carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint),
                       carbonmkt.set_trading_day(text, date, boolean, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION carbonmkt.set_rule(text, jsonb, text, bigint), carbonmkt.amend_rule(text, jsonb, jsonb, text, bigint),
                          carbonmkt.retire_rule(text, jsonb, text, int, date, bigint)
   TO carbonmkt_authority, carbonmkt_exchange, carbonmkt_registry;
GRANT EXECUTE ON FUNCTION carbonmkt.load_trading_calendar(text, int, date[], text, text[], date[], bigint),
                          carbonmkt.set_trading_day(text, date, boolean, text, text, bigint)
   TO carbonmkt_exchange, carbonmkt_registry;
