-- The API vocabulary (doc/api.md), checked on the catalog: the arguments of every public
-- function (carbonmkt.*, no leading underscore) against the names the vocabulary retired.
-- Every row here is a documented deviation or exception of doc/api.md; a new function that
-- names an argument the old way shows up here.
SET client_min_messages = warning;

CREATE TEMP VIEW public_arg AS
SELECT p.proname, p.oid::regprocedure::text AS signature, a.name, a.pos,
       p.proargtypes::oid[] @> ARRAY['carbonmkt.instrument'::regtype::oid] AS takes_instrument
  FROM pg_proc p
 CROSS JOIN LATERAL unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
       WITH ORDINALITY a(name, mode, pos)
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%'
   AND p.prokind = 'f' AND a.mode IN ('i', 'v') AND a.name <> '';

-- free text is memo (optional) or reason (required); a unit is a participant_id
SELECT signature, name AS retired_name FROM public_arg
 WHERE name IN ('note', 'notes', 'grounds', 'comment', 'remark', 'unit', 'compiled_for')
 ORDER BY 1, 2;

-- no p_ prefixes, no one-letter names, no tonnes called n
SELECT signature, name AS odd_name FROM public_arg
 WHERE name ~ '^p_' OR length(name) = 1 OR (name = 'n' AND signature ~ 'ccer')
 ORDER BY 1, 2;

-- the acting party is acting_for, last: participant_id elsewhere than first names a subject
-- only where the function has no other subject
SELECT signature, pos AS participant_id_at FROM public_arg
 WHERE name = 'participant_id' AND pos > 1
 ORDER BY 1;
SELECT signature, name AS acting_for_not_last FROM public_arg x
 WHERE name = 'acting_for'
   AND pos <> (SELECT max(y.pos) FROM public_arg y WHERE y.signature = x.signature)
 ORDER BY 1;

-- quantity only where the unit depends on the instrument (tonnes or fen): the function takes
-- an instrument or a hold (whose instrument it is)
SELECT signature, name AS quantity_of_tonnes FROM public_arg x
 WHERE name = 'quantity' AND NOT takes_instrument
   AND NOT EXISTS (SELECT 1 FROM public_arg y WHERE y.signature = x.signature AND y.name = 'hold_id')
 ORDER BY 1;

-- money that is posted or stored is fen (bigint): an argument named *_amount or *_cny is not
SELECT signature, name AS money_not_fen FROM public_arg
 WHERE name ~ '(_amount|_cny|^amount|^cny)$'
 ORDER BY 1;

-- every deprecated 0.1.0 form raises its notice and names its 0.2.0 form in its comment
SELECT p.oid::regprocedure AS deprecated, obj_description(p.oid, 'pg_proc') ~ '^Deprecated \(goes after 0\.2\.0\): carbonmkt\.' AS comment_names_successor,
       p.prosrc ~ 'RAISE NOTICE ''carbonmkt\.[a-z_]+\(\) is deprecated and goes after 0\.2\.0' AS raises_notice
  FROM pg_proc p
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND obj_description(p.oid, 'pg_proc') ~ '^Deprecated'
 ORDER BY p.oid::regprocedure::text;

-- Every argument name: each input argument of every public function and procedure (named, not
-- a deprecated 0.1.0 form) has a name of the vocabulary (doc/api.md, "Every argument name";
-- test/ops/doc-vocabulary.sh keeps the two lists equal), and each name has its place in the
-- argument order: subject, instrument, asset, quantity, period (or year, or a business date),
-- the other arguments, jurisdiction, reference, memo, acting party.
CREATE TEMP TABLE vocabulary (name text PRIMARY KEY, grp text NOT NULL);
INSERT INTO vocabulary
SELECT unnest(names), grp FROM (VALUES
    ('subject', ARRAY['account_id', 'participant_id', 'facility_id', 'report_id', 'plan_id', 'appeal_id',
                      'hold_id', 'order_id', 'deal_id', 'auction_id', 'pledge_id', 'repo_id', 'decision_id',
                      'offer_id', 'product', 'from_account', 'to_account', 'mode', 'rule_table', 'rule_key',
                      'role_name']),
    ('instrument', ARRAY['instrument', 'side']),
    ('asset', ARRAY['vintage', 'project', 'block', 'first_serial', 'last_serial']),
    ('quantity', ARRAY['tonnes', 'quantity', 'fen']),
    ('period', ARRAY['period', 'year', 'business_date']),
    -- the other arguments: another party, named for its role
    ('other', ARRAY['counterparty_id', 'pledgee_id', 'buyer_id', 'firm', 'to_participant', 'compiled_by',
                    'host_participant', 'other_participants', 'beneficiary', 'take_order_id', 'clearing_account']),
    -- tonnes, fen and prices that say what they are
    ('other', ARRAY['verified_t', 'estimated_t', 'volume_t', 'output_t', 'fine_fen', 'secured_fen', 'notional_fen',
                    'price', 'average_price', 'reserve_price', 'reference_price', 'repurchase_price', 'fee_rate',
                    'multiple']),
    -- a required justification, the document a rule change rests on, notes one per element of a list
    ('other', ARRAY['reason', 'document', 'memos']),
    -- dates, times and years other than the period, the year and the business date
    ('other', ARRAY['at_time', 'from_time', 'to_time', 'from_date', 'to_date', 'on_date', 'price_date',
                    'auction_date', 'repurchase_date', 'effective_on', 'deadline', 'term_end', 'opens_at',
                    'closes_at', 'last_day', 'sealed_day', 'month', 'from_year', 'first_year', 'last_year',
                    'data_year', 'emissions_year', 'due_days']),
    -- the rooms' own terms (columns of their tables and the data they take)
    ('other', ARRAY['name', 'kind', 'label', 'status', 'credit_code', 'province', 'city', 'sector', 'code',
                    'category', 'capacity_mw', 'cooling', 'content', 'emissions', 'parameters', 'findings',
                    'decision', 'upheld', 'data_version', 'method', 'seed', 'rule', 'changes', 'holidays',
                    'weekend_trading_days', 'is_trading_day', 'gas_fired', 'levels', 'max_orders', 'postings',
                    'preview', 'skip_unconfirmed', 'anchors', 'certificate', 'computation', 'subject', 'scope',
                    'purpose', 'purpose_kind', 'methodology', 'project_type', 'power_supplied_kwh',
                    'generation_kwh', 'operating_minutes', 'heat_supplied_mj', 'heat_total_mj', 'source', 'digest',
                    'accounts', 'entries', 'prev_seal', 'hold_ids', 'spent', 'release_rest', 'credit_accounts',
                    'credit_instruments', 'credit_vintages', 'credit_projects']),
    ('jurisdiction', ARRAY['jurisdiction']),
    ('reference', ARRAY['reference']),
    ('memo', ARRAY['memo']),
    ('acting_for', ARRAY['acting_for'])) v(grp, names);

CREATE TEMP VIEW public_input AS
SELECT p.oid::regprocedure::text AS signature, x.name, x.n AS pos,
       x.n > p.pronargs - p.pronargdefaults AS has_default
  FROM pg_proc p
 CROSS JOIN LATERAL (
       SELECT a.name, row_number() OVER (ORDER BY a.ord) AS n
         FROM unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
              WITH ORDINALITY a(name, mode, ord)
        WHERE a.mode IN ('i', 'v', 'b')) x
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%'
   AND p.prokind IN ('f', 'p')
   AND coalesce(obj_description(p.oid, 'pg_proc'), '') !~ '^Deprecated';

-- a name outside the vocabulary: only the documented deviations of doc/api.md
SELECT signature, name AS not_in_vocabulary FROM public_input
 WHERE name <> '' AND name NOT IN (SELECT v.name FROM vocabulary v)
 ORDER BY 1, pos;

-- the argument order: each argument's group no earlier than the one before it (the first is
-- the subject, whatever it is named; SQL puts arguments with defaults after those without, so
-- an optional argument may follow a required one of a later group): only the documented
-- deviations of doc/api.md
WITH a AS (
    SELECT i.signature, i.pos, i.name, i.has_default,
           CASE WHEN i.pos = 1 THEN 0
                ELSE coalesce(array_position(ARRAY['subject', 'instrument', 'asset', 'quantity', 'period', 'other',
                                                   'jurisdiction', 'reference', 'memo', 'acting_for'], v.grp), 6) END AS rank
      FROM public_input i LEFT JOIN vocabulary v USING (name)
), o AS (
    SELECT a.*, lag(a.name) OVER w AS prev_name, lag(a.has_default) OVER w AS prev_default, lag(a.rank) OVER w AS prev_rank
      FROM a WINDOW w AS (PARTITION BY a.signature ORDER BY a.pos)
)
SELECT signature, prev_name || ' before ' || name AS out_of_order FROM o
 WHERE (has_default, rank) < (prev_default, prev_rank)
 ORDER BY 1, pos;

-- every name of the vocabulary is used (a name no function takes any more leaves the list)
SELECT v.name AS unused_name FROM vocabulary v
 WHERE NOT EXISTS (SELECT 1 FROM public_input i WHERE i.name = v.name)
 ORDER BY 1;

-- a client reference where a function posts on a caller's request: the public SQL and PL/pgSQL
-- functions that call a posting function and take no reference are the staff steps whose
-- repetition their subject's state refuses or makes a no-op, and the documented deviations
-- of doc/api.md (the C posting functions all take one: the engine's idempotency)
SELECT p.oid::regprocedure AS posts_without_reference
  FROM pg_proc p
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%' AND p.prokind IN ('f', 'p')
   AND p.prorettype <> 'trigger'::regtype AND p.provolatile = 'v'
   AND p.prolang IN (SELECT l.oid FROM pg_language l WHERE l.lanname IN ('sql', 'plpgsql'))
   AND p.prosrc ~ 'carbonmkt\.(hold|release_hold|transfer_[a-z_]+|issue_[a-z]+|deposit_cny|withdraw_cny|surrender_[a-z]+|retire_[a-z]+|settle_batch|_post[a-z_]*)\('
   AND NOT ('reference' = ANY (coalesce(p.proargnames, '{}')))
   AND coalesce(obj_description(p.oid, 'pg_proc'), '') !~ '^Deprecated'
 ORDER BY p.oid::regprocedure::text;

-- the types the vocabulary gives its names: tonnes and fen (and *_t, *_fen) bigint, prices CNY
-- numeric, periods, years and vintages int, the acting party bigint, free text and codes text
SELECT p.oid::regprocedure AS signature, a.name, format_type(a.t, NULL) AS wrong_type
  FROM pg_proc p
 CROSS JOIN LATERAL unnest(p.proargnames, coalesce(p.proallargtypes, p.proargtypes::oid[]),
                           coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs]::int[]))) a(name, t, mode)
 WHERE p.pronamespace = 'carbonmkt'::regnamespace AND p.proname NOT LIKE '\_%' AND a.mode IN ('i', 'v', 'b')
   AND ((a.name IN ('tonnes', 'quantity', 'fen') OR a.name ~ '(_t|_fen)$') AND a.t <> 'bigint'::regtype
        OR a.name ~ '(^|_)price$' AND a.t <> 'numeric'::regtype
        OR a.name IN ('period', 'year', 'vintage') AND a.t <> 'integer'::regtype
        OR a.name = 'acting_for' AND a.t <> 'bigint'::regtype
        OR a.name IN ('memo', 'reason', 'reference', 'jurisdiction', 'document') AND a.t NOT IN ('text'::regtype, 'carbonmkt.hold_reason'::regtype))
 ORDER BY p.oid::regprocedure::text, a.name;
