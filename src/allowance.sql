
-------------------------------------------------------------------------------
-- allowance: a quantity of CEA (碳排放配额) of one vintage, in whole tonnes CO2e.
-- C: src/allowance.c.  Documentation: doc/types.md (allowance).
-------------------------------------------------------------------------------

CREATE TYPE carbonmkt.allowance;

CREATE FUNCTION carbonmkt.allowance_in(cstring) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.allowance_out(carbonmkt.allowance) RETURNS cstring
	AS 'MODULE_PATHNAME', 'allowance_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.allowance_recv(internal) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.allowance_send(carbonmkt.allowance) RETURNS bytea
	AS 'MODULE_PATHNAME', 'allowance_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE carbonmkt.allowance (
	INTERNALLENGTH = 16,
	INPUT = carbonmkt.allowance_in,
	OUTPUT = carbonmkt.allowance_out,
	RECEIVE = carbonmkt.allowance_recv,
	SEND = carbonmkt.allowance_send,
	ALIGNMENT = double,
	STORAGE = plain
);
COMMENT ON TYPE carbonmkt.allowance IS
	'CEA (碳排放配额): whole tonnes CO2e of one vintage, written CEA<vintage>:<tonnes>t';

COMMENT ON FUNCTION carbonmkt.allowance_in(cstring) IS
	'text input of allowance: [CEA[-]]<vintage>(:|space)[+|-]<tonnes>[t|tCO2e]';
COMMENT ON FUNCTION carbonmkt.allowance_out(carbonmkt.allowance) IS
	'text output of allowance: CEA<vintage>:<tonnes>t';
COMMENT ON FUNCTION carbonmkt.allowance_recv(internal) IS
	'binary input of allowance: int4 vintage, int8 tonnes';
COMMENT ON FUNCTION carbonmkt.allowance_send(carbonmkt.allowance) IS
	'binary output of allowance: int4 vintage, int8 tonnes';

-- constructor and accessors

CREATE FUNCTION carbonmkt.cea(vintage int, tonnes bigint) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_make'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.cea(int, bigint) IS
	'allowance of the given vintage (2005-2100) and tonnes CO2e';

CREATE FUNCTION carbonmkt.vintage(carbonmkt.allowance) RETURNS int
	AS 'MODULE_PATHNAME', 'allowance_vintage'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.vintage(carbonmkt.allowance) IS
	'vintage (compliance year) of an allowance';

CREATE FUNCTION carbonmkt.tonnes(carbonmkt.allowance) RETURNS bigint
	AS 'MODULE_PATHNAME', 'allowance_tonnes'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.tonnes(carbonmkt.allowance) IS
	'quantity of an allowance in tonnes CO2e';

-- additive arithmetic, within one vintage

CREATE FUNCTION carbonmkt.allowance_add(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_add'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_add(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of + for allowances of one vintage';

CREATE FUNCTION carbonmkt.allowance_sub(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_sub'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_sub(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of - for allowances of one vintage';

CREATE FUNCTION carbonmkt.allowance_neg(carbonmkt.allowance) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_neg'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_neg(carbonmkt.allowance) IS
	'implementation of unary - for allowances';

CREATE OPERATOR carbonmkt.+ (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_add,
	COMMUTATOR = OPERATOR(carbonmkt.+)
);
COMMENT ON OPERATOR carbonmkt.+ (carbonmkt.allowance, carbonmkt.allowance) IS
	'add allowances of one vintage';

CREATE OPERATOR carbonmkt.- (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_sub
);
COMMENT ON OPERATOR carbonmkt.- (carbonmkt.allowance, carbonmkt.allowance) IS
	'subtract allowances of one vintage';

CREATE OPERATOR carbonmkt.- (
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_neg
);
COMMENT ON OPERATOR carbonmkt.- (NONE, carbonmkt.allowance) IS
	'negate an allowance';

-- scaling by numeric factors

CREATE FUNCTION carbonmkt.mul_round(carbonmkt.allowance, numeric) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_mul_round'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.mul_round(carbonmkt.allowance, numeric) IS
	'allowance times factor, rounded half away from zero (same as *)';

CREATE FUNCTION carbonmkt.mul_floor(carbonmkt.allowance, numeric) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_mul_floor'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.mul_floor(carbonmkt.allowance, numeric) IS
	'allowance times factor, rounded toward minus infinity';

CREATE FUNCTION carbonmkt.div_round(carbonmkt.allowance, numeric) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_div_round'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.div_round(carbonmkt.allowance, numeric) IS
	'allowance divided by divisor, rounded half away from zero (same as /)';

CREATE FUNCTION carbonmkt.div_floor(carbonmkt.allowance, numeric) RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_div_floor'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.div_floor(carbonmkt.allowance, numeric) IS
	'allowance divided by divisor, rounded toward minus infinity';

CREATE FUNCTION carbonmkt.numeric_mul_allowance(numeric, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_numeric_mul_round'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.numeric_mul_allowance(numeric, carbonmkt.allowance) IS
	'implementation of numeric * allowance, rounded half away from zero';

CREATE OPERATOR carbonmkt.* (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = numeric,
	FUNCTION = carbonmkt.mul_round,
	COMMUTATOR = OPERATOR(carbonmkt.*)
);
COMMENT ON OPERATOR carbonmkt.* (carbonmkt.allowance, numeric) IS
	'multiply an allowance, rounding half away from zero';

CREATE OPERATOR carbonmkt.* (
	LEFTARG = numeric,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.numeric_mul_allowance,
	COMMUTATOR = OPERATOR(carbonmkt.*)
);
COMMENT ON OPERATOR carbonmkt.* (numeric, carbonmkt.allowance) IS
	'multiply an allowance, rounding half away from zero';

CREATE OPERATOR carbonmkt./ (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = numeric,
	FUNCTION = carbonmkt.div_round
);
COMMENT ON OPERATOR carbonmkt./ (carbonmkt.allowance, numeric) IS
	'divide an allowance, rounding half away from zero';

-- comparison: ordered by (vintage, tonnes)

CREATE FUNCTION carbonmkt.allowance_eq(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_eq(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of = for allowances';
CREATE FUNCTION carbonmkt.allowance_ne(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_ne(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of <> for allowances';
CREATE FUNCTION carbonmkt.allowance_lt(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_lt(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of < for allowances (by vintage, then tonnes)';
CREATE FUNCTION carbonmkt.allowance_le(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_le(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of <= for allowances (by vintage, then tonnes)';
CREATE FUNCTION carbonmkt.allowance_gt(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_gt(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of > for allowances (by vintage, then tonnes)';
CREATE FUNCTION carbonmkt.allowance_ge(carbonmkt.allowance, carbonmkt.allowance) RETURNS bool
	AS 'MODULE_PATHNAME', 'allowance_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_ge(carbonmkt.allowance, carbonmkt.allowance) IS
	'implementation of >= for allowances (by vintage, then tonnes)';
CREATE FUNCTION carbonmkt.allowance_cmp(carbonmkt.allowance, carbonmkt.allowance) RETURNS int
	AS 'MODULE_PATHNAME', 'allowance_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_cmp(carbonmkt.allowance, carbonmkt.allowance) IS
	'btree comparison of allowances: -1, 0 or 1 by (vintage, tonnes)';
CREATE FUNCTION carbonmkt.allowance_hash(carbonmkt.allowance) RETURNS int
	AS 'MODULE_PATHNAME', 'allowance_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_hash(carbonmkt.allowance) IS
	'hash of an allowance';
CREATE FUNCTION carbonmkt.allowance_hash_extended(carbonmkt.allowance, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'allowance_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION carbonmkt.allowance_hash_extended(carbonmkt.allowance, bigint) IS
	'seeded 64-bit hash of an allowance';

CREATE OPERATOR carbonmkt.= (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_eq,
	COMMUTATOR = OPERATOR(carbonmkt.=),
	NEGATOR = OPERATOR(carbonmkt.<>),
	RESTRICT = eqsel,
	JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR carbonmkt.= (carbonmkt.allowance, carbonmkt.allowance) IS
	'equal: same vintage and same tonnes';

CREATE OPERATOR carbonmkt.<> (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_ne,
	COMMUTATOR = OPERATOR(carbonmkt.<>),
	NEGATOR = OPERATOR(carbonmkt.=),
	RESTRICT = neqsel,
	JOIN = neqjoinsel
);
COMMENT ON OPERATOR carbonmkt.<> (carbonmkt.allowance, carbonmkt.allowance) IS
	'not equal';

CREATE OPERATOR carbonmkt.< (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_lt,
	COMMUTATOR = OPERATOR(carbonmkt.>),
	NEGATOR = OPERATOR(carbonmkt.>=),
	RESTRICT = scalarltsel,
	JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR carbonmkt.< (carbonmkt.allowance, carbonmkt.allowance) IS
	'less than, ordering by vintage, then tonnes';

CREATE OPERATOR carbonmkt.<= (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_le,
	COMMUTATOR = OPERATOR(carbonmkt.>=),
	NEGATOR = OPERATOR(carbonmkt.>),
	RESTRICT = scalarlesel,
	JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR carbonmkt.<= (carbonmkt.allowance, carbonmkt.allowance) IS
	'less than or equal, ordering by vintage, then tonnes';

CREATE OPERATOR carbonmkt.> (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_gt,
	COMMUTATOR = OPERATOR(carbonmkt.<),
	NEGATOR = OPERATOR(carbonmkt.<=),
	RESTRICT = scalargtsel,
	JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR carbonmkt.> (carbonmkt.allowance, carbonmkt.allowance) IS
	'greater than, ordering by vintage, then tonnes';

CREATE OPERATOR carbonmkt.>= (
	LEFTARG = carbonmkt.allowance,
	RIGHTARG = carbonmkt.allowance,
	FUNCTION = carbonmkt.allowance_ge,
	COMMUTATOR = OPERATOR(carbonmkt.<=),
	NEGATOR = OPERATOR(carbonmkt.<),
	RESTRICT = scalargesel,
	JOIN = scalargejoinsel
);
COMMENT ON OPERATOR carbonmkt.>= (carbonmkt.allowance, carbonmkt.allowance) IS
	'greater than or equal, ordering by vintage, then tonnes';

CREATE OPERATOR CLASS carbonmkt.allowance_ops
	DEFAULT FOR TYPE carbonmkt.allowance USING btree AS
		OPERATOR 1 carbonmkt.<,
		OPERATOR 2 carbonmkt.<=,
		OPERATOR 3 carbonmkt.=,
		OPERATOR 4 carbonmkt.>=,
		OPERATOR 5 carbonmkt.>,
		FUNCTION 1 carbonmkt.allowance_cmp(carbonmkt.allowance, carbonmkt.allowance);

CREATE OPERATOR CLASS carbonmkt.allowance_hash_ops
	DEFAULT FOR TYPE carbonmkt.allowance USING hash AS
		OPERATOR 1 carbonmkt.=,
		FUNCTION 1 carbonmkt.allowance_hash(carbonmkt.allowance),
		FUNCTION 2 carbonmkt.allowance_hash_extended(carbonmkt.allowance, bigint);

-- aggregates

CREATE FUNCTION carbonmkt.allowance_smaller(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_smaller'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_smaller(carbonmkt.allowance, carbonmkt.allowance) IS
	'smaller of two allowances (by vintage, then tonnes)';

CREATE FUNCTION carbonmkt.allowance_larger(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_larger'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_larger(carbonmkt.allowance, carbonmkt.allowance) IS
	'larger of two allowances (by vintage, then tonnes)';

CREATE FUNCTION carbonmkt.allowance_sum_accum(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_sum_accum'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_sum_accum(carbonmkt.allowance, carbonmkt.allowance) IS
	'transition and combine function of sum(allowance); updates the state in place';

CREATE FUNCTION carbonmkt.allowance_sum_inv(carbonmkt.allowance, carbonmkt.allowance)
	RETURNS carbonmkt.allowance
	AS 'MODULE_PATHNAME', 'allowance_sum_inv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.allowance_sum_inv(carbonmkt.allowance, carbonmkt.allowance) IS
	'inverse transition function of sum(allowance) as a moving window aggregate';

CREATE AGGREGATE carbonmkt.sum(carbonmkt.allowance) (
	SFUNC = carbonmkt.allowance_sum_accum,
	STYPE = carbonmkt.allowance,
	COMBINEFUNC = carbonmkt.allowance_sum_accum,
	MSFUNC = carbonmkt.allowance_sum_accum,
	MINVFUNC = carbonmkt.allowance_sum_inv,
	MSTYPE = carbonmkt.allowance,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE carbonmkt.sum(carbonmkt.allowance) IS
	'sum of allowances of one vintage';

CREATE AGGREGATE carbonmkt.min(carbonmkt.allowance) (
	SFUNC = carbonmkt.allowance_smaller,
	STYPE = carbonmkt.allowance,
	COMBINEFUNC = carbonmkt.allowance_smaller,
	SORTOP = OPERATOR(carbonmkt.<),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE carbonmkt.min(carbonmkt.allowance) IS
	'smallest allowance (by vintage, then tonnes)';

CREATE AGGREGATE carbonmkt.max(carbonmkt.allowance) (
	SFUNC = carbonmkt.allowance_larger,
	STYPE = carbonmkt.allowance,
	COMBINEFUNC = carbonmkt.allowance_larger,
	SORTOP = OPERATOR(carbonmkt.>),
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE carbonmkt.max(carbonmkt.allowance) IS
	'largest allowance (by vintage, then tonnes)';
