
-------------------------------------------------------------------------------
-- registry, C core: unified social credit codes, the per-account SHA-256 journal
-- hash chain, the append-only guard, day-seal digests and chain verification.
-- C: src/registry.c.  Documentation: doc/registry.md (chain format: doc/registry-chain.md).
-------------------------------------------------------------------------------

-- Unified social credit code (统一社会信用代码, GB 32100-2015) ------------------

CREATE FUNCTION carbonmkt.credit_code_check_char(text) RETURNS text
	AS 'MODULE_PATHNAME', 'credit_code_check_char'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.credit_code_check_char(text) IS
  'The check character (18th) of a unified social credit code, computed by GB 32100-2015 from its first 17 characters.  Accepts 17 or 18 characters (trimmed, letters case-folded); SQLSTATE CM009 for a wrong length or a character outside 0-9 A-H J-N P-R T-U W-Y.';

CREATE FUNCTION carbonmkt.valid_credit_code(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'valid_credit_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.valid_credit_code(text) IS
  'True when the text (trimmed, letters case-folded) is a unified social credit code of GB 32100-2015: 18 characters of 0-9 A-H J-N P-R T-U W-Y with a correct check character.  Never raises an error.';

CREATE FUNCTION carbonmkt.check_credit_code(text) RETURNS text
	AS 'MODULE_PATHNAME', 'check_credit_code'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.check_credit_code(text) IS
  'Returns a unified social credit code trimmed and upper-cased, or raises SQLSTATE CM009 naming the problem: wrong length, invalid character (and its position) or wrong check character (GB 32100-2015).';

CREATE FUNCTION carbonmkt.participant_credit_code() RETURNS trigger
LANGUAGE plpgsql AS
$$
BEGIN
	NEW.credit_code := carbonmkt.check_credit_code(NEW.credit_code);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION carbonmkt.participant_credit_code() IS
  'BEFORE INSERT OR UPDATE trigger of carbonmkt.participant: normalises credit_code through carbonmkt.check_credit_code() (SQLSTATE CM009 when it is not a valid unified social credit code).';

CREATE TRIGGER participant_credit_code
	BEFORE INSERT OR UPDATE ON carbonmkt.participant
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.participant_credit_code();

-- Journal hash chain -----------------------------------------------------------

CREATE FUNCTION carbonmkt.journal_payload(carbonmkt.journal) RETURNS text
	AS 'MODULE_PATHNAME', 'journal_payload'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.journal_payload(carbonmkt.journal) IS
  'Canonical payload of a journal row that its hash covers: one line <field>=<n>:<value> per field (entry_id ... memo, in a fixed order), <field>=\N for NULL; n is the UTF-8 byte length of value.  STABLE because enum labels can be renamed.  See doc/registry-chain.md.';

CREATE FUNCTION carbonmkt.journal_hash(prev bytea, entry carbonmkt.journal) RETURNS bytea
	AS 'MODULE_PATHNAME', 'journal_hash'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.journal_hash(bytea, carbonmkt.journal) IS
  'SHA-256(prev || UTF-8 bytes of carbonmkt.journal_payload(entry)), the chain hash of a journal row given the previous hash; equals sha256(prev || convert_to(carbonmkt.journal_payload(entry), ''UTF8'')).';

CREATE FUNCTION carbonmkt.journal_chain() RETURNS trigger
	AS 'MODULE_PATHNAME', 'journal_chain'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.journal_chain() IS
  'BEFORE INSERT FOR EACH ROW trigger of carbonmkt.journal: locks the account row (FOR NO KEY UPDATE), sets seq = head_seq + 1, prev_hash = head_hash and hash = journal_hash(prev_hash, row), and advances the account''s head.  SQLSTATE CM001 for an unknown account.';

CREATE TRIGGER journal_chain
	BEFORE INSERT ON carbonmkt.journal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.journal_chain();

-- Append-only guard ------------------------------------------------------------

CREATE FUNCTION carbonmkt.forbid_change() RETURNS trigger
	AS 'MODULE_PATHNAME', 'forbid_change'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.forbid_change() IS
  'BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) trigger of the append-only tables: raises SQLSTATE CM011.  An optional trigger argument names a column an UPDATE may set once from NULL to a value when nothing else changes (posting.result).';

CREATE TRIGGER journal_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.journal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER journal_no_truncate
	BEFORE TRUNCATE ON carbonmkt.journal
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER posting_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.posting
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change('result');
CREATE TRIGGER posting_no_truncate
	BEFORE TRUNCATE ON carbonmkt.posting
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER day_seal_append_only
	BEFORE UPDATE OR DELETE ON carbonmkt.day_seal
	FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER day_seal_no_truncate
	BEFORE TRUNCATE ON carbonmkt.day_seal
	FOR EACH STATEMENT EXECUTE FUNCTION carbonmkt.forbid_change();

-- Day seals --------------------------------------------------------------------

CREATE FUNCTION carbonmkt.heads_digest(d date, OUT digest bytea, OUT accounts int, OUT entries bigint)
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS
$$
	WITH heads AS (
		SELECT DISTINCT ON (j.account_id) j.account_id, j.seq, j.hash
		FROM carbonmkt.journal j
		WHERE j.business_date <= d
		ORDER BY j.account_id, j.seq DESC
	)
	SELECT sha256(convert_to(coalesce(string_agg(h.account_id || ':' || h.seq || ':'
											   || encode(h.hash, 'hex') || E'\n', ''
											   ORDER BY h.account_id), ''), 'UTF8')),
		   count(*)::int,
		   (SELECT count(*) FROM carbonmkt.journal j WHERE j.business_date <= d)
	FROM heads h
$$;
COMMENT ON FUNCTION carbonmkt.heads_digest(date) IS
  'Chain heads as of the end of business day d: digest = SHA-256 over the lines <account_id>:<seq>:<lower-case hex of hash>\n of every account''s last entry (max seq) with business_date <= d, in account_id order; accounts = number of such accounts; entries = journal rows with business_date <= d.';

-- Verification -----------------------------------------------------------------

CREATE FUNCTION carbonmkt.verify_chains()
RETURNS TABLE (problem text, account_id bigint, entry_id bigint, detail text)
	AS 'MODULE_PATHNAME', 'verify_chains'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION carbonmkt.verify_chains() IS
  'Checks every journal chain (streamed in account_id, seq order), every account head and every day seal; one row per problem: seq_gap, prev_hash_mismatch, hash_mismatch, head_mismatch, seal_mismatch.  No rows when all is well.';
