
-------------------------------------------------------------------------------
-- ccer: a block of consecutive CCER (国家核证自愿减排量) serial numbers of one
-- project and vintage.  C: src/ccer.c, src/ccer_gist.c.  Doc: doc/types.md.
-------------------------------------------------------------------------------

CREATE TYPE carbonmkt.ccer;

CREATE FUNCTION carbonmkt.ccer_in(cstring) RETURNS carbonmkt.ccer
	AS 'MODULE_PATHNAME', 'ccer_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_out(carbonmkt.ccer) RETURNS cstring
	AS 'MODULE_PATHNAME', 'ccer_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_recv(internal) RETURNS carbonmkt.ccer
	AS 'MODULE_PATHNAME', 'ccer_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_send(carbonmkt.ccer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'ccer_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE carbonmkt.ccer (
	INTERNALLENGTH = VARIABLE,
	INPUT = carbonmkt.ccer_in,
	OUTPUT = carbonmkt.ccer_out,
	RECEIVE = carbonmkt.ccer_recv,
	SEND = carbonmkt.ccer_send,
	ALIGNMENT = double,
	STORAGE = plain
);

COMMENT ON TYPE carbonmkt.ccer IS
	'CCER (国家核证自愿减排量) serial block: consecutive serials of one project and vintage, CCER:<project>:<vintage>:<first>-<last>';
COMMENT ON FUNCTION carbonmkt.ccer_in(cstring) IS 'text input of ccer';
COMMENT ON FUNCTION carbonmkt.ccer_out(carbonmkt.ccer) IS 'text output of ccer (canonical form CCER:<project>:<vintage>:<first>-<last>)';
COMMENT ON FUNCTION carbonmkt.ccer_recv(internal) IS 'binary input of ccer';
COMMENT ON FUNCTION carbonmkt.ccer_send(carbonmkt.ccer) IS 'binary output of ccer';

-- constructor and accessors

CREATE FUNCTION carbonmkt.ccer(project text, vintage int, first_serial bigint, last_serial bigint)
	RETURNS carbonmkt.ccer
	AS 'MODULE_PATHNAME', 'ccer_make' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.ccer(text, int, bigint, bigint) IS
	'CCER block of serials first_serial..last_serial of a project (folded to upper case) and vintage';

CREATE FUNCTION carbonmkt.project(carbonmkt.ccer) RETURNS text
	AS 'MODULE_PATHNAME', 'ccer_project' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.project(carbonmkt.ccer) IS 'project id of a CCER block (upper case)';

CREATE FUNCTION carbonmkt.vintage(carbonmkt.ccer) RETURNS int
	AS 'MODULE_PATHNAME', 'ccer_vintage' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.vintage(carbonmkt.ccer) IS 'vintage of a CCER block';

CREATE FUNCTION carbonmkt.first_serial(carbonmkt.ccer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ccer_first_serial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.first_serial(carbonmkt.ccer) IS 'first (lowest) serial number of a CCER block';

CREATE FUNCTION carbonmkt.last_serial(carbonmkt.ccer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ccer_last_serial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.last_serial(carbonmkt.ccer) IS 'last (highest) serial number of a CCER block';

CREATE FUNCTION carbonmkt.tonnes(carbonmkt.ccer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ccer_tonnes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.tonnes(carbonmkt.ccer) IS 'tonnes CO2e in a CCER block (last_serial - first_serial + 1)';

-- split and merge

CREATE FUNCTION carbonmkt.split_block(block carbonmkt.ccer, n bigint,
									  OUT head carbonmkt.ccer, OUT tail carbonmkt.ccer)
	AS 'MODULE_PATHNAME', 'ccer_split_block' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.split_block(carbonmkt.ccer, bigint) IS
	'split a CCER block into its first n tonnes (lowest serials) and the rest (NULL when n is the whole block)';

CREATE FUNCTION carbonmkt.merge_blocks(a carbonmkt.ccer, b carbonmkt.ccer) RETURNS carbonmkt.ccer
	AS 'MODULE_PATHNAME', 'ccer_merge_blocks' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION carbonmkt.merge_blocks(carbonmkt.ccer, carbonmkt.ccer) IS
	'merge two adjacent CCER blocks of the same project and vintage, in either order';

-- comparison (project, vintage, first_serial, last_serial)

CREATE FUNCTION carbonmkt.ccer_eq(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_ne(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_lt(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_le(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_gt(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_ge(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_cmp(carbonmkt.ccer, carbonmkt.ccer) RETURNS int
	AS 'MODULE_PATHNAME', 'ccer_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_hash(carbonmkt.ccer) RETURNS int
	AS 'MODULE_PATHNAME', 'ccer_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION carbonmkt.ccer_hash_extended(carbonmkt.ccer, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ccer_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION carbonmkt.ccer_eq(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of = for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_ne(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of <> for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_lt(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of < for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_le(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of <= for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_gt(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of > for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_ge(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of >= for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_cmp(carbonmkt.ccer, carbonmkt.ccer) IS
	'btree comparison of ccer: project, vintage, first serial, last serial';
COMMENT ON FUNCTION carbonmkt.ccer_hash(carbonmkt.ccer) IS 'hash of a ccer';
COMMENT ON FUNCTION carbonmkt.ccer_hash_extended(carbonmkt.ccer, bigint) IS '64-bit seeded hash of a ccer';

CREATE OPERATOR carbonmkt.= (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_eq,
	COMMUTATOR = OPERATOR(carbonmkt.=), NEGATOR = OPERATOR(carbonmkt.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR carbonmkt.<> (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_ne,
	COMMUTATOR = OPERATOR(carbonmkt.<>), NEGATOR = OPERATOR(carbonmkt.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR carbonmkt.< (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_lt,
	COMMUTATOR = OPERATOR(carbonmkt.>), NEGATOR = OPERATOR(carbonmkt.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR carbonmkt.<= (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_le,
	COMMUTATOR = OPERATOR(carbonmkt.>=), NEGATOR = OPERATOR(carbonmkt.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR carbonmkt.> (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_gt,
	COMMUTATOR = OPERATOR(carbonmkt.<), NEGATOR = OPERATOR(carbonmkt.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR carbonmkt.>= (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_ge,
	COMMUTATOR = OPERATOR(carbonmkt.<=), NEGATOR = OPERATOR(carbonmkt.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

COMMENT ON OPERATOR carbonmkt.= (carbonmkt.ccer, carbonmkt.ccer) IS 'same project, vintage and serial range';
COMMENT ON OPERATOR carbonmkt.<> (carbonmkt.ccer, carbonmkt.ccer) IS 'not equal';
COMMENT ON OPERATOR carbonmkt.< (carbonmkt.ccer, carbonmkt.ccer) IS 'less than, by project, vintage, first serial, last serial';
COMMENT ON OPERATOR carbonmkt.<= (carbonmkt.ccer, carbonmkt.ccer) IS 'less than or equal, by project, vintage, first serial, last serial';
COMMENT ON OPERATOR carbonmkt.> (carbonmkt.ccer, carbonmkt.ccer) IS 'greater than, by project, vintage, first serial, last serial';
COMMENT ON OPERATOR carbonmkt.>= (carbonmkt.ccer, carbonmkt.ccer) IS 'greater than or equal, by project, vintage, first serial, last serial';

CREATE OPERATOR CLASS carbonmkt.ccer_ops
	DEFAULT FOR TYPE carbonmkt.ccer USING btree AS
		OPERATOR 1 carbonmkt.<,
		OPERATOR 2 carbonmkt.<=,
		OPERATOR 3 carbonmkt.=,
		OPERATOR 4 carbonmkt.>=,
		OPERATOR 5 carbonmkt.>,
		FUNCTION 1 carbonmkt.ccer_cmp(carbonmkt.ccer, carbonmkt.ccer);
COMMENT ON OPERATOR CLASS carbonmkt.ccer_ops USING btree IS
	'default btree operator class for ccer: order by project, vintage, first serial, last serial';

CREATE OPERATOR CLASS carbonmkt.ccer_ops
	DEFAULT FOR TYPE carbonmkt.ccer USING hash AS
		OPERATOR 1 carbonmkt.=,
		FUNCTION 1 carbonmkt.ccer_hash(carbonmkt.ccer),
		FUNCTION 2 carbonmkt.ccer_hash_extended(carbonmkt.ccer, bigint);
COMMENT ON OPERATOR CLASS carbonmkt.ccer_ops USING hash IS 'default hash operator class for ccer';

-- block relations: same project and vintage, then serial ranges

CREATE FUNCTION carbonmkt.ccer_overlaps(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_overlaps' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_contains(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_contained_by(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_contained_by' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_adjacent(carbonmkt.ccer, carbonmkt.ccer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_adjacent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION carbonmkt.ccer_overlaps(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of && for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_contains(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of @> for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_contained_by(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of <@ for ccer';
COMMENT ON FUNCTION carbonmkt.ccer_adjacent(carbonmkt.ccer, carbonmkt.ccer) IS 'implementation of -|- for ccer';

CREATE OPERATOR carbonmkt.&& (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_overlaps,
	COMMUTATOR = OPERATOR(carbonmkt.&&),
	RESTRICT = areasel, JOIN = areajoinsel
);
CREATE OPERATOR carbonmkt.@> (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_contains,
	COMMUTATOR = OPERATOR(carbonmkt.<@),
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR carbonmkt.<@ (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_contained_by,
	COMMUTATOR = OPERATOR(carbonmkt.@>),
	RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR carbonmkt.-|- (
	LEFTARG = carbonmkt.ccer, RIGHTARG = carbonmkt.ccer, FUNCTION = carbonmkt.ccer_adjacent,
	COMMUTATOR = OPERATOR(carbonmkt.-|-),
	RESTRICT = contsel, JOIN = contjoinsel
);

COMMENT ON OPERATOR carbonmkt.&& (carbonmkt.ccer, carbonmkt.ccer) IS
	'overlaps: same project and vintage, and at least one serial in common';
COMMENT ON OPERATOR carbonmkt.@> (carbonmkt.ccer, carbonmkt.ccer) IS
	'contains: same project and vintage, and every serial of the right block is in the left';
COMMENT ON OPERATOR carbonmkt.<@ (carbonmkt.ccer, carbonmkt.ccer) IS
	'is contained by: same project and vintage, and every serial of the left block is in the right';
COMMENT ON OPERATOR carbonmkt.-|- (carbonmkt.ccer, carbonmkt.ccer) IS
	'is adjacent to: same project and vintage, and one block ends just before the other begins';

-- GiST: keys are intervals of the order (project, vintage, serial)

CREATE TYPE carbonmkt.ccer_gistkey;
CREATE FUNCTION carbonmkt.ccer_gistkey_in(cstring) RETURNS carbonmkt.ccer_gistkey
	AS 'MODULE_PATHNAME', 'ccer_gistkey_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gistkey_out(carbonmkt.ccer_gistkey) RETURNS cstring
	AS 'MODULE_PATHNAME', 'ccer_gistkey_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE carbonmkt.ccer_gistkey (
	INTERNALLENGTH = VARIABLE,
	INPUT = carbonmkt.ccer_gistkey_in,
	OUTPUT = carbonmkt.ccer_gistkey_out,
	ALIGNMENT = double,
	STORAGE = plain
);
COMMENT ON TYPE carbonmkt.ccer_gistkey IS
	'internal GiST key of ccer_gist_ops: an interval of (project, vintage, serial); no text form';
COMMENT ON FUNCTION carbonmkt.ccer_gistkey_in(cstring) IS 'refuses input: ccer_gistkey exists only inside GiST indexes';
COMMENT ON FUNCTION carbonmkt.ccer_gistkey_out(carbonmkt.ccer_gistkey) IS 'refuses output: ccer_gistkey exists only inside GiST indexes';

CREATE FUNCTION carbonmkt.ccer_gist_consistent(internal, carbonmkt.ccer, smallint, oid, internal) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ccer_gist_consistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_union(internal, internal) RETURNS carbonmkt.ccer_gistkey
	AS 'MODULE_PATHNAME', 'ccer_gist_union' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_compress(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_compress' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_decompress(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_decompress' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_penalty(internal, internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_penalty' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_picksplit(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_picksplit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_same(carbonmkt.ccer_gistkey, carbonmkt.ccer_gistkey, internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_same' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION carbonmkt.ccer_gist_fetch(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'ccer_gist_fetch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION carbonmkt.ccer_gist_consistent(internal, carbonmkt.ccer, smallint, oid, internal) IS 'GiST support: consistent (exact at leaves)';
COMMENT ON FUNCTION carbonmkt.ccer_gist_union(internal, internal) IS 'GiST support: union interval';
COMMENT ON FUNCTION carbonmkt.ccer_gist_compress(internal) IS 'GiST support: ccer to interval key';
COMMENT ON FUNCTION carbonmkt.ccer_gist_decompress(internal) IS 'GiST support: detoast key';
COMMENT ON FUNCTION carbonmkt.ccer_gist_penalty(internal, internal, internal) IS 'GiST support: enlargement penalty';
COMMENT ON FUNCTION carbonmkt.ccer_gist_picksplit(internal, internal) IS 'GiST support: sort by lower bound, split in the middle';
COMMENT ON FUNCTION carbonmkt.ccer_gist_same(carbonmkt.ccer_gistkey, carbonmkt.ccer_gistkey, internal) IS 'GiST support: key equality';
COMMENT ON FUNCTION carbonmkt.ccer_gist_fetch(internal) IS 'GiST support: leaf key to ccer for index-only scans';

CREATE OPERATOR CLASS carbonmkt.ccer_gist_ops
	DEFAULT FOR TYPE carbonmkt.ccer USING gist AS
		OPERATOR 3 carbonmkt.&&,
		OPERATOR 7 carbonmkt.@>,
		OPERATOR 8 carbonmkt.<@,
		OPERATOR 17 carbonmkt.-|-,
		OPERATOR 18 carbonmkt.=,
		FUNCTION 1 carbonmkt.ccer_gist_consistent(internal, carbonmkt.ccer, smallint, oid, internal),
		FUNCTION 2 carbonmkt.ccer_gist_union(internal, internal),
		FUNCTION 3 carbonmkt.ccer_gist_compress(internal),
		FUNCTION 4 carbonmkt.ccer_gist_decompress(internal),
		FUNCTION 5 carbonmkt.ccer_gist_penalty(internal, internal, internal),
		FUNCTION 6 carbonmkt.ccer_gist_picksplit(internal, internal),
		FUNCTION 7 carbonmkt.ccer_gist_same(carbonmkt.ccer_gistkey, carbonmkt.ccer_gistkey, internal),
		FUNCTION 9 carbonmkt.ccer_gist_fetch(internal),
		STORAGE carbonmkt.ccer_gistkey;
COMMENT ON OPERATOR CLASS carbonmkt.ccer_gist_ops USING gist IS
	'default GiST operator class for ccer: &&, @>, <@, -|-, =; backs EXCLUDE USING gist (block WITH &&)';
