-- test/bench/seal_baseline.sql: the baseline of the daily seal, carbonmkt.heads_digest() and
-- carbonmkt.seal_day() as they were before the seal worked in time proportional to the accounts
-- and the entries dated after the day (issue 16, session 3): heads_digest read every entry up to
-- the day and sorted them by account.  Verbatim but for their names (schema bench) and the call
-- of the old heads_digest from the old seal_day.  Not a benchmark itself (run.sh skips
-- *_baseline.sql); test/bench/verify_ledger.sql, test/bench/registry_scale.sql and
-- sql/seal_digest.sql load it.
CREATE SCHEMA IF NOT EXISTS bench;

CREATE FUNCTION bench.heads_digest_old(business_date date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
	WITH heads AS (
		SELECT DISTINCT ON (j.account_id) j.account_id, j.seq, j.hash
		FROM carbonmkt.journal j
		WHERE j.business_date <= heads_digest_old.business_date
		ORDER BY j.account_id, j.seq DESC
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id), ''), 'UTF8')),
		   count(*)::int,
		   (SELECT count(*) FROM carbonmkt.journal j WHERE j.business_date <= heads_digest_old.business_date)
	FROM heads h
	WHERE carbonmkt._require_scope('compute the heads digest')
$$;

CREATE FUNCTION bench.seal_day_old(business_date date)
RETURNS bytea LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
DECLARE
    d record;
BEGIN
    PERFORM carbonmkt._require_registry('seal a business day');
    IF seal_day_old.business_date IS NULL OR NOT isfinite(seal_day_old.business_date) THEN
        RAISE EXCEPTION 'seal_day: business_date must be a finite date, got %', coalesce(seal_day_old.business_date::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF seal_day_old.business_date >= carbonmkt.business_date() THEN
        RAISE EXCEPTION 'business day % is not over yet', to_char(seal_day_old.business_date, 'YYYY-MM-DD')
            USING ERRCODE = '22023', DETAIL = format('Today is %s.', to_char(carbonmkt.business_date(), 'YYYY-MM-DD'));
    END IF;
    IF EXISTS (SELECT 1 FROM carbonmkt.day_seal s WHERE s.business_date >= seal_day_old.business_date) THEN
        RAISE EXCEPTION 'business day % or a later one is already sealed', to_char(seal_day_old.business_date, 'YYYY-MM-DD')
            USING ERRCODE = 'CM012';
    END IF;
    LOCK TABLE carbonmkt.day_seal IN EXCLUSIVE MODE;
    d := bench.heads_digest_old(seal_day_old.business_date);
    INSERT INTO carbonmkt.day_seal VALUES (seal_day_old.business_date, d.digest, d.accounts, d.entries,
                                           carbonmkt.clock_now(), session_user);
    RETURN d.digest;
END
$$;
