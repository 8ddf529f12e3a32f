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
 ORDER BY 1::text;
