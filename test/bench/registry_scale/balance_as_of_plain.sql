-- test/bench/registry_scale/balance_as_of_plain.sql -- included by registry_scale.sql
--
-- The baseline of balance_as_of(): its definition before issue 16 session 4, verbatim but for
-- its schema (bench): of every entry of the account recorded at or before the instant, the
-- latest of each asset in chain order, read from the account's whole history.
CREATE OR REPLACE FUNCTION bench.balance_as_of_plain(account_id bigint, at_time timestamptz)
RETURNS TABLE (instrument carbonmkt.instrument, vintage int, project text, balance bigint, held bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
BEGIN
    PERFORM carbonmkt._require_read(balance_as_of_plain.account_id, 'balance');
    RETURN QUERY
    SELECT DISTINCT ON (j.instrument, j.vintage, j.project)
           j.instrument, j.vintage, j.project, j.balance_after, j.held_after
      FROM carbonmkt.journal j
     WHERE j.account_id = balance_as_of_plain.account_id AND j.recorded_at <= at_time
     ORDER BY j.instrument, j.vintage, j.project, j.seq DESC;
END
$$;
