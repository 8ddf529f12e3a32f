
-------------------------------------------------------------------------------
-- operations: what pg_dump keeps, how a restore writes it back, and the drop guard.
-- C: src/operations.c.  Documentation: doc/operations.md.
--
-- This file runs last (SQL_ORDER in the Makefile), when every room's tables exist.
--
--   A NEW TABLE OR SEQUENCE is registered here, in the list below, with
--   carbonmkt._dump_register() (and in the upgrade script, in its room's section, with
--   the same call).  sql/operations.sql fails for any table or sequence of the
--   extension that is neither registered nor on its commented exemption list.
-------------------------------------------------------------------------------

-- Seeded rows ------------------------------------------------------------------

-- CREATE EXTENSION seeds rule tables with the national defaults (regions, sectors, GWP
-- sets, benchmarks, market and compliance rules ...) and the registry with its two
-- system accounts.  A dump must carry only the rows a user changed or added, or a restore
-- (which runs CREATE EXTENSION first) would meet every seeded row twice.  Design:
--   1. a snapshot of every seeded row as the install script left it (seeded_row);
--   2. the dump filter of a seeded table keeps the rows not in the snapshot (changed or
--      added);
--   3. a restore (session_replication_role = replica, doc/operations.md) that meets a
--      dumped row whose key exists replaces the seeded row by the dumped one
--      (_restore_seeded_row, a trigger enabled ALWAYS), and refuses (CM903) when this
--      database changed that seeded row too.
CREATE TABLE carbonmkt.seeded_row (
    tab         name NOT NULL,     -- table of schema carbonmkt
    content     jsonb NOT NULL     -- to_jsonb() of the row as the install script left it
);
CREATE INDEX seeded_row_tab ON carbonmkt.seeded_row (tab);
COMMENT ON TABLE carbonmkt.seeded_row IS
  'Every row CREATE EXTENSION (or ALTER EXTENSION UPDATE from 0.1.0) seeded, as it was seeded: the dump filters of the seeded tables leave these rows out (doc/operations.md, "What a dump holds").  Not dumped itself: each install writes its own.';

CREATE FUNCTION carbonmkt._seeded_filter(tab regclass) RETURNS text
LANGUAGE sql STABLE STRICT AS
$$ SELECT format('WHERE NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = %L AND s.content = pg_catalog.to_jsonb(%I))',
                 c.relname, c.relname)
     FROM pg_catalog.pg_class c WHERE c.oid = tab $$;
COMMENT ON FUNCTION carbonmkt._seeded_filter(regclass) IS
  'Internal: the pg_dump filter of a seeded table: the rows that are not in carbonmkt.seeded_row as they are (changed or added by a user).';

CREATE FUNCTION carbonmkt._restore_seeded_row() RETURNS trigger
LANGUAGE plpgsql AS
$$
DECLARE
    cond    text;
    keytext text;
    cur     jsonb;
    dumped  jsonb := pg_catalog.to_jsonb(NEW);
BEGIN
    -- only a restore: everywhere else a duplicate key is the unique violation it is
    IF pg_catalog.current_setting('session_replication_role') <> 'replica' THEN
        RETURN NEW;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I = ($1).%I', a.attname, a.attname), ' AND '),
           pg_catalog.string_agg(pg_catalog.format('%s = %s', a.attname,
                                 dumped ->> a.attname::text), ', ')
      INTO cond, keytext
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = TG_RELID AND i.indisprimary;
    EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(t) FROM %s t WHERE %s', TG_RELID::regclass, cond)
       INTO cur USING NEW;
    IF cur IS NULL THEN
        RETURN NEW;                     -- a row a user added
    ELSIF cur = dumped THEN
        RETURN NULL;                    -- already as dumped
    ELSIF NOT EXISTS (SELECT FROM carbonmkt.seeded_row s WHERE s.tab = TG_TABLE_NAME AND s.content = cur) THEN
        RAISE EXCEPTION 'cannot restore the row with % of carbonmkt.%: this database changed it too', keytext, TG_TABLE_NAME
            USING ERRCODE = 'CM903',
                  DETAIL = pg_catalog.format('Here: %s.  In the dump: %s.', cur, dumped),
                  HINT = 'Restore into a database fresh from CREATE EXTENSION carbonmkt (doc/operations.md).';
    END IF;
    -- a seeded row as seeded: the dumped row replaces it
    EXECUTE pg_catalog.format('DELETE FROM %s t WHERE %s', TG_RELID::regclass, cond) USING NEW;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt._restore_seeded_row() IS
  'Internal: BEFORE INSERT trigger (enabled ALWAYS) of every seeded table.  In a restore (session_replication_role = replica) a dumped row whose primary key exists replaces the seeded row; the same row again is skipped; a row this database changed too is refused (CM903).  Otherwise it does nothing.';

-- Registration -------------------------------------------------------------------

CREATE FUNCTION carbonmkt._dump_register(tab regclass, seeded boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    seq regclass;
BEGIN
    IF (SELECT c.relnamespace <> 'carbonmkt'::regnamespace FROM pg_catalog.pg_class c WHERE c.oid = tab) THEN
        RAISE EXCEPTION '% is not a table of schema carbonmkt', tab USING ERRCODE = '22023';
    END IF;
    IF seeded THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = tab AND i.indisprimary) THEN
            RAISE EXCEPTION 'seeded table % has no primary key', tab
                USING ERRCODE = '22023', HINT = 'A restore replaces a seeded row by its primary key.';
        END IF;
        PERFORM pg_catalog.pg_extension_config_dump(tab, carbonmkt._seeded_filter(tab));
        EXECUTE pg_catalog.format('CREATE TRIGGER restore_seeded BEFORE INSERT ON %s '
                                  'FOR EACH ROW EXECUTE FUNCTION carbonmkt._restore_seeded_row()', tab);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restore_seeded', tab);
    ELSE
        PERFORM pg_catalog.pg_extension_config_dump(tab, '');
    END IF;
    -- the sequences behind its identity and serial columns: their positions
    FOR seq IN SELECT d.objid::regclass FROM pg_catalog.pg_depend d
                JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
               WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                 AND d.refobjid = tab AND d.deptype IN ('a', 'i')
               ORDER BY 1::text
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(seq, '');
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._dump_register(regclass, boolean) IS
  'Internal, for install and upgrade scripts: registers a table of the extension with pg_extension_config_dump so pg_dump keeps its rows, and the sequences of its identity/serial columns so it keeps their positions.  seeded: the table has rows CREATE EXTENSION seeds; only changed or added rows are dumped (carbonmkt._seeded_filter) and a restore replaces seeded rows (carbonmkt._restore_seeded_row).';

CREATE FUNCTION carbonmkt._seed_snapshot() RETURNS bigint
LANGUAGE plpgsql AS
$$
DECLARE
    t regclass;
    n bigint := 0;
    k bigint;
BEGIN
    FOR t IN SELECT tg.tgrelid::regclass FROM pg_catalog.pg_trigger tg
              WHERE tg.tgname = 'restore_seeded'
                AND tg.tgfoid = 'carbonmkt._restore_seeded_row()'::regprocedure
              ORDER BY 1::text
    LOOP
        EXECUTE pg_catalog.format('INSERT INTO carbonmkt.seeded_row (tab, content) '
                                  'SELECT %L, pg_catalog.to_jsonb(t) FROM %s t',
                                  (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = t), t);
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt._seed_snapshot() IS
  'Internal, for the install script: records every row of every seeded table in carbonmkt.seeded_row, as seeded.  Returns the number of rows.';

REVOKE ALL ON FUNCTION carbonmkt._seeded_filter(regclass), carbonmkt._restore_seeded_row(),
                       carbonmkt._dump_register(regclass, boolean), carbonmkt._seed_snapshot()
  FROM PUBLIC;

-- What pg_dump keeps: every table and sequence of the extension --------------------
-- (sql/operations.sql lists what is not here, with the reason)

-- registry
SELECT carbonmkt._dump_register('carbonmkt.region', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.sector', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.participant');
SELECT carbonmkt._dump_register('carbonmkt.participant_login');
SELECT carbonmkt._dump_register('carbonmkt.account_kind_instrument', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.account', seeded => true);   -- the two system accounts
SELECT carbonmkt._dump_register('carbonmkt.holding');
SELECT carbonmkt._dump_register('carbonmkt.ccer_block');
SELECT carbonmkt._dump_register('carbonmkt.hold');
SELECT carbonmkt._dump_register('carbonmkt.posting');
SELECT carbonmkt._dump_register('carbonmkt.journal');
SELECT carbonmkt._dump_register('carbonmkt.day_seal');
SELECT carbonmkt._dump_register('carbonmkt.balance_snapshot');
-- mrv
SELECT carbonmkt._dump_register('carbonmkt.confirmed_emission');
SELECT carbonmkt._dump_register('carbonmkt.mrv_gas', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_gwp_set', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_gwp', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sector_gas', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sector_parameter', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.mrv_sample_seed');
SELECT carbonmkt._dump_register('carbonmkt.mrv_plan');
SELECT carbonmkt._dump_register('carbonmkt.mrv_deposit');
SELECT carbonmkt._dump_register('carbonmkt._mrv_deposit_months');
SELECT carbonmkt._dump_register('carbonmkt._mrv_deposit_parameter_year');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report_gas');
SELECT carbonmkt._dump_register('carbonmkt.mrv_verification');
SELECT carbonmkt._dump_register('carbonmkt.mrv_review');
SELECT carbonmkt._dump_register('carbonmkt.mrv_appeal');
SELECT carbonmkt._dump_register('carbonmkt.mrv_national_naming');
SELECT carbonmkt._dump_register('carbonmkt.mrv_reopening');
SELECT carbonmkt._dump_register('carbonmkt.mrv_report_event');
-- allocation
SELECT carbonmkt._dump_register('carbonmkt.alloc_category', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_benchmark', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_heat_factor', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_cooling_factor', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_load_piece', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_year_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_band', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.alloc_cap');
SELECT carbonmkt._dump_register('carbonmkt.facility');
SELECT carbonmkt._dump_register('carbonmkt.facility_event');
SELECT carbonmkt._dump_register('carbonmkt.production');
SELECT carbonmkt._dump_register('carbonmkt.allocation_run');
SELECT carbonmkt._dump_register('carbonmkt.allocation');
SELECT carbonmkt._dump_register('carbonmkt.allocation_posting');
SELECT carbonmkt._dump_register('carbonmkt.allocation_adjustment');
-- market
SELECT carbonmkt._dump_register('carbonmkt.market_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.market_session', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.trading_calendar', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.trader_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.product');
SELECT carbonmkt._dump_register('carbonmkt.product_day');
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.market_order_id_seq', '');   -- shared by order kinds
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.market_priority_seq', '');  -- time priority of listed orders
SELECT carbonmkt._dump_register('carbonmkt.auction');
SELECT carbonmkt._dump_register('carbonmkt.market_order');
SELECT carbonmkt._dump_register('carbonmkt.trade');
SELECT carbonmkt._dump_register('carbonmkt.block_deal');
SELECT carbonmkt._dump_register('carbonmkt.market_day_stats');
SELECT carbonmkt._dump_register('carbonmkt.trading_month_stats');
SELECT carbonmkt._dump_register('carbonmkt.trading_sector_month');
-- compliance
SELECT carbonmkt._dump_register('carbonmkt.jurisdiction', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.compliance_period');
SELECT carbonmkt._dump_register('carbonmkt.offset_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.relief_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.penalty_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.ccer_project_type', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.ccer_project');
SELECT carbonmkt._dump_register('carbonmkt.unit_class');
SELECT carbonmkt._dump_register('carbonmkt.hardship');
SELECT carbonmkt._dump_register('carbonmkt.obligation');
SELECT carbonmkt._dump_register('carbonmkt.surrender_detail');
SELECT carbonmkt._dump_register('carbonmkt.borrowing');
SELECT carbonmkt._dump_register('carbonmkt.sanction');
SELECT carbonmkt._dump_register('carbonmkt.reference_price');
-- security (doc/security.md): plausibility limits and the credit code's organisation types
SELECT carbonmkt._dump_register('carbonmkt.plausibility_limit', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.credit_code_org_type', seeded => true);
-- rules (doc/rules.md): rule_change registers itself with its filter; its sequence here
SELECT pg_catalog.pg_extension_config_dump('carbonmkt.rule_change_change_id_seq', '');
-- finance (doc/finance.md)
SELECT carbonmkt._dump_register('carbonmkt.voluntary_retirement');
SELECT carbonmkt._dump_register('carbonmkt.pledge');
SELECT carbonmkt._dump_register('carbonmkt.pledge_offer');
SELECT carbonmkt._dump_register('carbonmkt.repo_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.repo');
SELECT carbonmkt._dump_register('carbonmkt.repo_leg');
SELECT carbonmkt._dump_register('carbonmkt.reserve_feed_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.reserve_trigger', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.reserve_decision');
SELECT carbonmkt._dump_register('carbonmkt.reserve_auction_plan');
SELECT carbonmkt._dump_register('carbonmkt.reserve_withholding');
SELECT carbonmkt._dump_register('carbonmkt.paid_allocation_rule', seeded => true);
SELECT carbonmkt._dump_register('carbonmkt.paid_entitlement');
SELECT carbonmkt._dump_register('carbonmkt.paid_sale');

-- the snapshot of what was seeded (after every room's INSERTs: this file runs last)
SELECT carbonmkt._seed_snapshot();

-- The drop guard ---------------------------------------------------------------------
-- DROP EXTENSION carbonmkt (with or without CASCADE), DROP SCHEMA carbonmkt CASCADE and
-- TRUNCATE of a ledger table are refused while the journal holds entries (CM901), unless a
-- superuser sets carbonmkt.allow_ledger_drop for the one transaction.  Enabled ALWAYS, so a
-- session in replica mode (a restore) does not pass by them either.

CREATE FUNCTION carbonmkt._drop_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'carbonmkt_drop_guard'
	LANGUAGE C;
COMMENT ON FUNCTION carbonmkt._drop_guard() IS
  'Internal: ddl_command_start event trigger carbonmkt_drop_guard: DROP EXTENSION carbonmkt and DROP SCHEMA carbonmkt are refused while the journal holds entries (CM901), unless carbonmkt.allow_ledger_drop is on (superuser, SET LOCAL).';
REVOKE ALL ON FUNCTION carbonmkt._drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER carbonmkt_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION carbonmkt._drop_guard();
ALTER EVENT TRIGGER carbonmkt_drop_guard ENABLE ALWAYS;

-- TRUNCATE: forbid_change() as a BEFORE TRUNCATE trigger is the guard (src/registry.c);
-- journal, posting and day_seal have theirs in src/registry.sql.
CREATE TRIGGER participant_no_truncate BEFORE TRUNCATE ON carbonmkt.participant
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER participant_login_no_truncate BEFORE TRUNCATE ON carbonmkt.participant_login
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON carbonmkt.account
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER holding_no_truncate BEFORE TRUNCATE ON carbonmkt.holding
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER ccer_block_no_truncate BEFORE TRUNCATE ON carbonmkt.ccer_block
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER hold_no_truncate BEFORE TRUNCATE ON carbonmkt.hold
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
ALTER TABLE carbonmkt.participant ENABLE ALWAYS TRIGGER participant_no_truncate;
ALTER TABLE carbonmkt.participant_login ENABLE ALWAYS TRIGGER participant_login_no_truncate;
ALTER TABLE carbonmkt.account ENABLE ALWAYS TRIGGER account_no_truncate;
ALTER TABLE carbonmkt.holding ENABLE ALWAYS TRIGGER holding_no_truncate;
ALTER TABLE carbonmkt.ccer_block ENABLE ALWAYS TRIGGER ccer_block_no_truncate;
ALTER TABLE carbonmkt.hold ENABLE ALWAYS TRIGGER hold_no_truncate;
ALTER TABLE carbonmkt.journal ENABLE ALWAYS TRIGGER journal_no_truncate;
ALTER TABLE carbonmkt.posting ENABLE ALWAYS TRIGGER posting_no_truncate;
ALTER TABLE carbonmkt.day_seal ENABLE ALWAYS TRIGGER day_seal_no_truncate;
