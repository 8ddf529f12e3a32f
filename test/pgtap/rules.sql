-- pgTAP invariants of the rule administration (fixed seed): ~300 random set_rule /
-- amend_rule / retire_rule calls by the national authority, a provincial authority, the
-- exchange and a key emitting unit, valid and invalid, each in its own subtransaction.
-- Then: every refused call changed nothing; every rule row has a history whose last entry
-- is the row itself; nobody but its administrator changed a rule; every shipped row has a
-- source; every jurisdiction code in a rule table is known.  Rolled back at the end.
BEGIN;
SELECT plan(8);
SET LOCAL search_path = carbonmkt, public;
SET LOCAL carbonmkt.clock = '2025-11-03 10:00:00+08';
SELECT setseed(0.15);

CREATE TEMP TABLE actor (n int, participant_id bigint, kind text) ON COMMIT DROP;
INSERT INTO actor
SELECT 1, register_participant('TAP MEE', 'national_authority', '11100000MB0134256' || credit_code_check_char('11100000MB0134256')), 'national'
UNION ALL
SELECT 2, register_participant('TAP GD', 'provincial_authority', '11440000MB2C9251X' || credit_code_check_char('11440000MB2C9251X'), '440000'), 'province'
UNION ALL
SELECT 3, register_participant('TAP exchange', 'exchange', '91310000MA1FL1MM6' || credit_code_check_char('91310000MA1FL1MM6'), '310000'), 'exchange'
UNION ALL
SELECT 4, register_participant('TAP unit', 'key_emitter', '91440300MA5F00001' || credit_code_check_char('91440300MA5F00001'),
                               '440000', '440300', 'power'), 'unit';

CREATE TEMP TABLE outcome (i int, actor int, call text, ok boolean, sqlstate text, changed boolean) ON COMMIT DROP;

CREATE FUNCTION pg_temp.digest() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t   text;
    acc text := '';
    d   text;
BEGIN
    FOR t IN SELECT rule_table FROM carbonmkt.rule_table ORDER BY 1 LOOP
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM carbonmkt.%I x', t) INTO d;
        acc := acc || d;
    END LOOP;
    RETURN md5(acc) || ':' || (SELECT count(*) FROM carbonmkt.rule_change);
END $$;

DO $$
DECLARE
    a       int;
    call    text;
    before  text;
    y       int;
    v       numeric;
    j       text;
    st      text;
BEGIN
    FOR i IN 1..300 LOOP
        a := 1 + floor(random() * 4)::int;
        y := 2024 + floor(random() * 6)::int;
        v := round((random() * 2.2 - 0.2)::numeric, 4);               -- sometimes <= 0, sometimes > 1
        j := (ARRAY['CN', '440000', '350000', 'xyz'])[1 + floor(random() * 4)::int];
        call := CASE floor(random() * 7)::int
            WHEN 0 THEN format('SELECT set_rule(''alloc_benchmark'', %L, ''tap'', acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'year', y, 'category', 'gas', 'benchmark', v), (SELECT participant_id FROM actor WHERE n = a))
            WHEN 1 THEN format('SELECT set_rule(''alloc_band'', %L, ''tap'', acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'year', y, 'sector', 'cement', 'max_gap', v - 0.5, 'max_surplus', v / 4),
                               (SELECT participant_id FROM actor WHERE n = a))
            WHEN 2 THEN format('SELECT set_rule(''offset_rule'', %L, ''tap'', acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'from_year', y, 'until_year', y + floor(random() * 3)::int,
                                                  'ratio', v / 2, 'basis', 'verified_emissions'), (SELECT participant_id FROM actor WHERE n = a))
            WHEN 3 THEN format('SELECT amend_rule(''alloc_benchmark'', %L, %L, ''tap'', acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'year', y, 'category', 'gas'), jsonb_build_object('benchmark', v),
                               (SELECT participant_id FROM actor WHERE n = a))
            WHEN 4 THEN format('SELECT retire_rule(''offset_rule'', %L, ''tap'', last_year => %s, acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'from_year', y), y + floor(random() * 2)::int,
                               (SELECT participant_id FROM actor WHERE n = a))
            WHEN 5 THEN format('SELECT set_rule(''market_rule'', %L, ''tap'', acting_for => %s)',
                               jsonb_build_object('jurisdiction', j, 'mode', 'block', 'valid_from', make_date(y, 1, 5),
                                                  'min_quantity', 100000, 'lot', 1, 'tick_fen', 1, 'band', v / 2, 'fee_rate', 0.0003),
                               (SELECT participant_id FROM actor WHERE n = a))
            ELSE format('SELECT retire_rule(''market_rule'', %L, ''tap'', last_day => %L, acting_for => %s)',
                        jsonb_build_object('jurisdiction', 'CN', 'mode', 'block', 'valid_from', '2021-07-16'),
                        make_date(y, 1 + floor(random() * 12)::int, 1), (SELECT participant_id FROM actor WHERE n = a)) END;
        before := pg_temp.digest();
        BEGIN
            EXECUTE call;
            INSERT INTO outcome VALUES (i, a, call, true, NULL, pg_temp.digest() <> before);
        EXCEPTION WHEN others THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
            INSERT INTO outcome VALUES (i, a, call, false, st, pg_temp.digest() <> before);
        END;
    END LOOP;
END $$;

SELECT cmp_ok((SELECT count(*) FROM outcome WHERE ok), '>=', 5::bigint, 'some calls succeeded');
SELECT is_empty($$SELECT i, call FROM outcome WHERE NOT ok AND changed$$, 'a refused call changed nothing');
SELECT is_empty($$SELECT i, sqlstate FROM outcome WHERE NOT ok AND sqlstate NOT IN ('CM501', 'CM502', 'CM503', 'CM505', 'CM506', '42501')$$,
                'every refusal is the API''s own error (CM5xx, 42501), never a raw constraint or type error');
SELECT is_empty($$SELECT i, call FROM outcome WHERE ok AND (actor = 4 OR (actor = 2 AND call NOT LIKE '%440000%')
                                                         OR (actor = 3 AND call NOT LIKE '%market_rule%')
                                                         OR (actor <> 3 AND call LIKE '%market_rule%'))$$,
                'only the administrator of a rule changed it (the matrix of doc/rules.md)');
-- the history is complete: the last change of every rule row is the row itself
SELECT is_empty($$
    SELECT r.rule_table, r.rule_key FROM rules_in_force('2025-06-30') r
     WHERE r.rule_table <> 'trading_calendar'
       AND r.rule IS DISTINCT FROM (SELECT c.new_value FROM rule_change c
                                     WHERE c.rule_table = r.rule_table AND c.rule_key = r.rule_key
                                     ORDER BY c.change_id DESC LIMIT 1)$$,
                'the last recorded change of every rule in force is the row itself');
SELECT is_empty($$SELECT change_id FROM rule_change WHERE action <> 'seed' AND (document IS NULL OR btrim(document) = '' OR changed_by IS NULL)$$,
                'every change records who and the document');
SELECT is_empty($$SELECT rule_table, rule_key FROM rule_change WHERE action = 'seed' AND coalesce(new_value ->> 'source', document) IS NULL$$,
                'every shipped row has a source');
SELECT is_empty($$
    SELECT c.rule_table, c.jurisdiction FROM rule_change c
     WHERE c.jurisdiction IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jurisdiction j WHERE j.code = c.jurisdiction)$$,
                'every rule row''s jurisdiction is a known code');

SELECT * FROM finish();
ROLLBACK;
