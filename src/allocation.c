/*-------------------------------------------------------------------------
 *
 * allocation.c
 *	  The allocation aggregates (配额分配) of carbonmkt.
 *
 * Three aggregates turn monthly production rows into allowances:
 *
 *	power_allowance(facility_id, year, month, power_supplied_kwh,
 *					generation_kwh, operating_minutes, heat_supplied_mj,
 *					heat_total_mj, jurisdiction)
 *		The 2021-22 power formula of RULES.md 3 for one generating unit
 *		(机组) and year:
 *			B_power x Q_e x F_load x F_heat x F_cool + B_heat x Q_h
 *		The load factor F and the heat ratio are annual figures, so the
 *		transition function only sums the monthly quantities (exact int64);
 *		the final function computes F, the heat ratio, the factors and the
 *		allowance from the year's totals.
 *
 *	performance_allowance(participant_id, year, month, output_t, category,
 *						  jurisdiction)
 *		The performance (intensity) method of cement, steel and aluminium:
 *		sum(output x benchmark of its category) over a participant's
 *		production lines, clamped so that the surplus or gap stays inside the
 *		band around the participant's confirmed emissions.
 *
 *	benchmark_allowance(month, output, benchmark, rounding)
 *		Plain sum(benchmark x output), rounded once.
 *
 * Rules.  Every policy number (benchmarks, correction factors, the F_load
 * pieces, the band, the rounding rule) is a row of a rule table of
 * src/allocation.sql; nothing here is a policy number.  The final functions
 * read the rules of the group's jurisdiction and year through SPI (saved
 * plans over carbonmkt.facility_power_params(),
 * carbonmkt.participant_performance_params() and carbonmkt.alloc_benchmark),
 * once per query: the rows are cached in the final function's fn_extra for
 * the rest of the query.  So a monthly row carries only ids and quantities,
 * and the transition functions do int64 additions.  A group is one facility
 * (or participant) and year: a row of another one is an error (CM207).
 *
 * Exactness: quantities are summed as int64 (kWh, MJ, minutes, tonnes).  The
 * final functions work in numeric.  Two ratios need a division: the load
 * factor F and the heat ratio, which are computed to RATIO_SCALE decimal
 * places (rounded half up); the power piece of F_load, base^(c - d x F), is
 * computed by numeric power() and rounded to RATIO_SCALE decimal places.
 * Everything else (products, sums, the band clamp) is exact numeric
 * arithmetic, and the rounding rule is applied once, to the final value.
 * doc/allocation.md, "Precision", gives the error bound.
 *
 * All aggregates are PARALLEL SAFE (internal state with combine, serialise
 * and deserialise functions; the final functions, which read the rules, run
 * in the leader) and have an inverse transition function, so they can run as
 * moving window aggregates.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/allocation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

#include "carbonmkt.h"

/* SQLSTATEs of the allocation room (doc/allocation.md, Errors) */
#define ERRCODE_ALLOC_UNKNOWN_FACILITY		MAKE_SQLSTATE('C','M','2','0','1')
#define ERRCODE_ALLOC_PERIOD_OUT_OF_RANGE	MAKE_SQLSTATE('C','M','2','0','2')
#define ERRCODE_ALLOC_BAD_QUANTITY			MAKE_SQLSTATE('C','M','2','0','3')
#define ERRCODE_ALLOC_MISSING_RULE			MAKE_SQLSTATE('C','M','2','0','4')
#define ERRCODE_ALLOC_RATIO_OUT_OF_RANGE	MAKE_SQLSTATE('C','M','2','0','5')
#define ERRCODE_ALLOC_BAD_FACILITY			MAKE_SQLSTATE('C','M','2','0','6')
#define ERRCODE_ALLOC_BAD_GROUP				MAKE_SQLSTATE('C','M','2','0','7')
#define ERRCODE_ALLOC_NO_CONFIRMED			MAKE_SQLSTATE('C','M','2','0','8')

/*
 * Decimal places of the two computed ratios (load factor, heat ratio) and of
 * the power piece of F_load.  A precision of the arithmetic, not a policy
 * number: see "Precision" in doc/allocation.md.
 */
#define RATIO_SCALE			20

/* Distinct benchmarks (categories) a state keeps apart. */
#define INTENSITY_SLOTS		8

#define MONTHS				12

PG_FUNCTION_INFO_V1(power_alloc_trans);
PG_FUNCTION_INFO_V1(power_alloc_inv);
PG_FUNCTION_INFO_V1(power_alloc_combine);
PG_FUNCTION_INFO_V1(power_alloc_serialize);
PG_FUNCTION_INFO_V1(power_alloc_deserialize);
PG_FUNCTION_INFO_V1(power_alloc_final);
PG_FUNCTION_INFO_V1(power_alloc_explain_final);
PG_FUNCTION_INFO_V1(performance_alloc_trans);
PG_FUNCTION_INFO_V1(performance_alloc_inv);
PG_FUNCTION_INFO_V1(benchmark_alloc_trans);
PG_FUNCTION_INFO_V1(benchmark_alloc_inv);
PG_FUNCTION_INFO_V1(intensity_alloc_combine);
PG_FUNCTION_INFO_V1(intensity_alloc_serialize);
PG_FUNCTION_INFO_V1(intensity_alloc_deserialize);
PG_FUNCTION_INFO_V1(benchmark_alloc_final);
PG_FUNCTION_INFO_V1(performance_alloc_final);
PG_FUNCTION_INFO_V1(performance_alloc_explain_final);

/* ----------------------------------------------------------------
 *		Varlena helpers and the group key
 * ----------------------------------------------------------------
 */

/* A copy of a varlena with a 4-byte header, in context ctx. */
static struct varlena *
copy_plain_varlena(struct varlena *v, MemoryContext ctx)
{
	Size		len = VARSIZE_ANY_EXHDR(v);
	struct varlena *copy = (struct varlena *) MemoryContextAlloc(ctx, VARHDRSZ + len);

	SET_VARSIZE(copy, VARHDRSZ + len);
	memcpy(VARDATA(copy), VARDATA_ANY(v), len);
	return copy;
}

static inline bool
varlena_equal(struct varlena *a, struct varlena *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/*
 * The identity of a group: a facility (power) or participant (performance)
 * and the year and jurisdiction whose rules apply; for benchmark_allowance
 * only "text", the rounding rule.  Every row of a group must carry the same.
 */
typedef struct GroupKey
{
	bool		set;
	int64		id;
	int32		year;
	struct varlena *jurisdiction;	/* text, plain header; or the rounding rule */
} GroupKey;

static void
group_mismatch(const char *aggname, GroupKey *key, int64 id, int32 year)
{
	ereport(ERROR,
			(errcode(ERRCODE_ALLOC_BAD_GROUP),
			 errmsg("%s: rows of different groups in one aggregate", aggname),
			 errdetail("The group is " INT64_FORMAT " in %d; a row is of " INT64_FORMAT " in %d, or of another jurisdiction or rounding rule.",
					   key->id, key->year, id, year),
			 errhint("Group by the facility (power_allowance) or participant (performance_allowance) and the year.")));
}

/* Take the key of a row: the first row sets it, every later one must match. */
static void
group_accept(GroupKey *key, int64 id, int32 year, Datum text_datum, MemoryContext ctx,
			 const char *aggname)
{
	struct varlena *t = PG_DETOAST_DATUM_PACKED(text_datum);

	if (!key->set)
	{
		key->set = true;
		key->id = id;
		key->year = year;
		key->jurisdiction = copy_plain_varlena(t, ctx);
	}
	else if (key->id != id || key->year != year || !varlena_equal(key->jurisdiction, t))
		group_mismatch(aggname, key, id, year);
}

static void
group_merge(GroupKey *key, GroupKey *other, MemoryContext ctx, const char *aggname)
{
	if (!other->set)
		return;
	if (!key->set)
	{
		key->set = true;
		key->id = other->id;
		key->year = other->year;
		key->jurisdiction = copy_plain_varlena(other->jurisdiction, ctx);
	}
	else if (key->id != other->id || key->year != other->year ||
			 !varlena_equal(key->jurisdiction, other->jurisdiction))
		group_mismatch(aggname, key, other->id, other->year);
}

static void
send_varlena(StringInfo buf, struct varlena *v)
{
	if (v == NULL)
		pq_sendint32(buf, (uint32) -1);
	else
	{
		pq_sendint32(buf, (uint32) VARSIZE_ANY_EXHDR(v));
		pq_sendbytes(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	}
}

/* A read-only message buffer over a serialised state. */
static void
init_read_buffer(StringInfo buf, bytea *b)
{
	buf->data = VARDATA_ANY(b);
	buf->len = VARSIZE_ANY_EXHDR(b);
	buf->maxlen = buf->len;
	buf->cursor = 0;
}

static struct varlena *
get_varlena(StringInfo buf)
{
	int32		len = (int32) pq_getmsgint(buf, 4);
	struct varlena *v;

	if (len < 0)
		return NULL;
	v = (struct varlena *) palloc(VARHDRSZ + len);
	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), pq_getmsgbytes(buf, len), len);
	return v;
}

static void
send_group_key(StringInfo buf, GroupKey *key)
{
	pq_sendbyte(buf, key->set ? 1 : 0);
	pq_sendint64(buf, key->id);
	pq_sendint32(buf, (uint32) key->year);
	send_varlena(buf, key->set ? key->jurisdiction : NULL);
}

static void
get_group_key(StringInfo buf, GroupKey *key)
{
	key->set = pq_getmsgbyte(buf) != 0;
	key->id = pq_getmsgint64(buf);
	key->year = (int32) pq_getmsgint(buf, 4);
	key->jurisdiction = get_varlena(buf);
	if (key->set && key->jurisdiction == NULL)
		elog(ERROR, "allocation aggregate: corrupt serialised state");
}

/* ----------------------------------------------------------------
 *		Rules, read once per query
 *
 * The final functions look the rules of a group up in maps built by one
 * SPI query per (kind, jurisdiction, year) and kept in fn_extra, in the
 * final function's fn_mcxt, for the rest of the query.
 * ----------------------------------------------------------------
 */

typedef enum RuleKind
{
	RULES_POWER,				/* facility_id -> carbonmkt.power_params */
	RULES_PERFORMANCE,			/* participant_id -> carbonmkt.performance_params */
	RULES_BENCHMARK,			/* category -> benchmark (numeric) */
	RULES_KINDS
} RuleKind;

static const char *const rule_sql[RULES_KINDS] = {
	"SELECT facility_id, params FROM carbonmkt.facility_power_params($1, $2)",
	"SELECT participant_id, params FROM carbonmkt.participant_performance_params($1, $2)",
	"SELECT category, benchmark FROM carbonmkt.alloc_benchmark WHERE jurisdiction = $1 AND year = $2"
};

static SPIPlanPtr rule_plans[RULES_KINDS];

typedef struct RuleEntry
{
	int64		id;				/* hash key (ids) */
	struct varlena *value;		/* params row or benchmark, NULL if NULL */
} RuleEntry;

typedef struct CategoryEntry
{
	char		category[NAMEDATALEN];	/* hash key (categories) */
	struct varlena *value;
} CategoryEntry;

typedef struct RuleMap
{
	RuleKind	kind;
	int32		year;
	char	   *jurisdiction;
	HTAB	   *map;
	struct RuleMap *next;
} RuleMap;

static RuleMap *
rule_map(FunctionCallInfo fcinfo, RuleKind kind, const char *jurisdiction, int32 year)
{
	RuleMap   **head = (RuleMap **) &fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
	RuleMap    *m;
	HASHCTL		ctl;
	Datum		args[2];
	int			ret;

	for (m = *head; m != NULL; m = m->next)
		if (m->kind == kind && m->year == year && strcmp(m->jurisdiction, jurisdiction) == 0)
			return m;

	m = (RuleMap *) MemoryContextAllocZero(mcxt, sizeof(RuleMap));
	m->kind = kind;
	m->year = year;
	m->jurisdiction = MemoryContextStrdup(mcxt, jurisdiction);
	memset(&ctl, 0, sizeof(ctl));
	ctl.hcxt = mcxt;
	if (kind == RULES_BENCHMARK)
	{
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(CategoryEntry);
		m->map = hash_create("carbonmkt allocation benchmarks", 16, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	else
	{
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(RuleEntry);
		m->map = hash_create("carbonmkt allocation rules", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "allocation rules: SPI_connect failed");
	if (rule_plans[kind] == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, INT4OID};

		rule_plans[kind] = carbonmkt_keep_plan(rule_sql[kind], 2, argtypes, 0);
	}
	args[0] = CStringGetTextDatum(jurisdiction);
	args[1] = Int32GetDatum(year);
	ret = SPI_execute_plan(rule_plans[kind], args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "allocation rules: SPI_execute_plan returned %s", SPI_result_code_string(ret));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		keynull;
		bool		valnull;
		Datum		k = SPI_getbinval(tuple, tupdesc, 1, &keynull);
		Datum		v = SPI_getbinval(tuple, tupdesc, 2, &valnull);
		struct varlena *value = valnull ? NULL :
			copy_plain_varlena(PG_DETOAST_DATUM(v), mcxt);

		if (keynull)
			continue;
		if (kind == RULES_BENCHMARK)
		{
			char		key[NAMEDATALEN];
			CategoryEntry *e;

			memset(key, 0, sizeof(key));
			strlcpy(key, TextDatumGetCString(k), NAMEDATALEN);
			e = (CategoryEntry *) hash_search(m->map, key, HASH_ENTER, NULL);
			e->value = value;
		}
		else
		{
			int64		id = DatumGetInt64(k);
			RuleEntry  *e = (RuleEntry *) hash_search(m->map, &id, HASH_ENTER, NULL);

			e->value = value;
		}
	}
	SPI_finish();

	m->next = *head;
	*head = m;
	return m;
}

/*
 * A params row (a composite datum stored as a plain varlena), deformed once
 * per final-function call; fields are then found by name.
 */
typedef struct ParamsRow
{
	TupleDesc	tupdesc;		/* pinned until params_close() */
	Datum	   *values;
	bool	   *nulls;
} ParamsRow;

static void
params_open(struct varlena *params, ParamsRow *row)
{
	HeapTupleHeader th = (HeapTupleHeader) params;
	HeapTupleData tuple;

	row->tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th), HeapTupleHeaderGetTypMod(th));
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	row->values = (Datum *) palloc(sizeof(Datum) * row->tupdesc->natts);
	row->nulls = (bool *) palloc(sizeof(bool) * row->tupdesc->natts);
	heap_deform_tuple(&tuple, row->tupdesc, row->values, row->nulls);
}

static void
params_close(ParamsRow *row)
{
	ReleaseTupleDesc(row->tupdesc);
}

static Datum
param_datum(ParamsRow *params, const char *name, bool *isnull)
{
	for (int i = 0; i < params->tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(params->tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			*isnull = params->nulls[i];
			return params->values[i];
		}
	}
	elog(ERROR, "allocation params have no field \"%s\"", name);
	return (Datum) 0;			/* keep compiler quiet */
}

static Numeric
param_numeric(ParamsRow *params, const char *name)
{
	bool		isnull;
	Datum		d = param_datum(params, name, &isnull);

	return isnull ? NULL : DatumGetNumeric(d);
}

static char *
param_text(ParamsRow *params, const char *name)
{
	bool		isnull;
	Datum		d = param_datum(params, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
param_int64(ParamsRow *params, const char *name, bool *isnull)
{
	Datum		d = param_datum(params, name, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

/* A numeric[] field as an array of Numeric (NULL elements stay NULL). */
static int
param_numeric_array(ParamsRow *params, const char *name, Numeric **out)
{
	bool		isnull;
	Datum		d = param_datum(params, name, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	*out = NULL;
	if (isnull)
		return 0;
	deconstruct_array(DatumGetArrayTypeP(d), NUMERICOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*out = (Numeric *) palloc0(sizeof(Numeric) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? NULL : DatumGetNumeric(elems[i]);
	return n;
}

static int
param_text_array(ParamsRow *params, const char *name, char ***out)
{
	bool		isnull;
	Datum		d = param_datum(params, name, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	*out = NULL;
	if (isnull)
		return 0;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*out = (char **) palloc0(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return n;
}

/* ----------------------------------------------------------------
 *		Numeric helpers
 * ----------------------------------------------------------------
 */

static inline Numeric
num_add(Numeric a, Numeric b)
{
	return numeric_add_opt_error(a, b, NULL);
}

static inline Numeric
num_sub(Numeric a, Numeric b)
{
	return numeric_sub_opt_error(a, b, NULL);
}

static inline Numeric
num_mul(Numeric a, Numeric b)
{
	return numeric_mul_opt_error(a, b, NULL);
}

static inline int
num_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static inline Numeric
num_round(Numeric a, int scale)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_round,
											   NumericGetDatum(a),
											   Int32GetDatum(scale)));
}

static inline Numeric
num_trim(Numeric a)
{
	return DatumGetNumeric(DirectFunctionCall1(numeric_trim_scale,
											   NumericGetDatum(a)));
}

/*
 * num_ratio
 *		a / b rounded half up to RATIO_SCALE decimal places; b must be > 0.
 *
 * The dividend is first given RATIO_SCALE decimal places (adding a zero of
 * that scale), so numeric division computes at least that many digits; the
 * SQL equivalent is round(a::numeric(1000, 20) / b, 20).
 */
static Numeric
num_ratio(Numeric a, Numeric b)
{
	Numeric		a_scaled = num_add(a, int64_div_fast_to_numeric(0, RATIO_SCALE));

	return num_round(numeric_div_opt_error(a_scaled, b, NULL), RATIO_SCALE);
}

/* A numeric for messages: rounded to "scale" places, trailing zeros cut. */
static char *
num_text(Numeric a, int scale)
{
	return numeric_normalize(num_round(a, scale));
}

/* int64 scaled by 10^scale as a numeric (exact), e.g. kWh -> MWh. */
static inline Numeric
num_scaled(int64 v, int scale)
{
	return int64_div_fast_to_numeric(v, scale);
}

/*
 * round_tonnes
 *		Applies the rounding rule (alloc_year_rule.rounding) to a
 *		non-negative exact allowance: half_up, down or up to whole tonnes.
 */
static int64
round_tonnes(Numeric exact, const char *mode)
{
	Datum		r = (Datum) 0;

	if (strcmp(mode, "half_up") == 0)
		r = DirectFunctionCall2(numeric_round, NumericGetDatum(exact), Int32GetDatum(0));
	else if (strcmp(mode, "down") == 0)
		r = DirectFunctionCall2(numeric_trunc, NumericGetDatum(exact), Int32GetDatum(0));
	else if (strcmp(mode, "up") == 0)
		r = DirectFunctionCall1(numeric_ceil, NumericGetDatum(exact));
	else
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("unknown rounding rule \"%s\"", mode),
				 errhint("Rounding rules are half_up, down and up (carbonmkt.alloc_year_rule.rounding).")));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, r));
}

/* ----------------------------------------------------------------
 *		Row checks shared by the aggregates
 * ----------------------------------------------------------------
 */

static int32
check_month(FunctionCallInfo fcinfo, int argno, const char *aggname)
{
	int32		month;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_PERIOD_OUT_OF_RANGE),
				 errmsg("%s: month is NULL", aggname)));
	month = PG_GETARG_INT32(argno);
	if (month < 1 || month > MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_PERIOD_OUT_OF_RANGE),
				 errmsg("%s: month %d is out of range", aggname, month),
				 errdetail("Production data is monthly: months are 1 to 12.")));
	return month;
}

static int64
check_quantity(FunctionCallInfo fcinfo, int argno, const char *aggname,
			   const char *what, int32 month)
{
	int64		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("%s: %s is NULL in month %d", aggname, what, month)));
	v = PG_GETARG_INT64(argno);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("%s: %s is negative in month %d: " INT64_FORMAT, aggname, what, month, v),
				 errdetail("Production quantities are never negative.")));
	return v;
}

static inline void
add_checked(int64 *acc, int64 v, int sign)
{
	bool		overflow;

	if (sign > 0)
		overflow = pg_add_s64_overflow(*acc, v, acc);
	else
		overflow = pg_sub_s64_overflow(*acc, v, acc);
	if (unlikely(overflow))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("allocation aggregate: a production total is out of range")));
}

/* ----------------------------------------------------------------
 *		power_allowance
 *
 * Arguments of the transition function: 1 facility_id, 2 year, 3 month,
 * 4 power_supplied_kwh, 5 generation_kwh, 6 operating_minutes,
 * 7 heat_supplied_mj, 8 heat_total_mj, 9 jurisdiction.
 * ----------------------------------------------------------------
 */

typedef struct PowerState
{
	GroupKey	key;			/* facility, year, jurisdiction */
	int64		nrows;
	int64		power_kwh;		/* 供电量, kWh */
	int64		generation_kwh; /* 发电量, kWh */
	int64		minutes;		/* operating time */
	int64		heat_mj;		/* 供热量, MJ */
	int64		heat_total_mj;	/* total heat consumption, MJ */
	int32		month_rows[MONTHS];
} PowerState;

static void
power_apply_row(FunctionCallInfo fcinfo, PowerState *state, MemoryContext ctx, int sign)
{
	const char *agg = "power_allowance";
	int32		month = check_month(fcinfo, 3, agg);
	int64		power = check_quantity(fcinfo, 4, agg, "power supplied", month);
	int64		generation = check_quantity(fcinfo, 5, agg, "generation", month);
	int64		minutes;
	int64		heat;
	int64		heat_total;

	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("%s: operating minutes is NULL in month %d", agg, month)));
	minutes = PG_GETARG_INT32(6);
	if (minutes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("%s: operating minutes is negative in month %d: " INT64_FORMAT, agg, month, minutes)));
	heat = check_quantity(fcinfo, 7, agg, "heat supplied", month);
	heat_total = check_quantity(fcinfo, 8, agg, "total heat", month);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(9))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_GROUP),
				 errmsg("%s: facility, year and jurisdiction must not be NULL (month %d)", agg, month)));
	if (sign > 0)
		group_accept(&state->key, PG_GETARG_INT64(1), PG_GETARG_INT32(2), PG_GETARG_DATUM(9), ctx, agg);
	else if (!state->key.set || state->key.id != PG_GETARG_INT64(1) || state->key.year != PG_GETARG_INT32(2))
		group_mismatch(agg, &state->key, PG_GETARG_INT64(1), PG_GETARG_INT32(2));

	state->month_rows[month - 1] += sign;
	if (state->month_rows[month - 1] > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_GROUP),
				 errmsg("%s: month %d appears twice in one group", agg, month),
				 errdetail("A group is one generating unit and year, with at most one row per month.")));
	if (state->month_rows[month - 1] < 0)
		elog(ERROR, "%s: month %d removed more often than added", agg, month);

	add_checked(&state->nrows, 1, sign);
	add_checked(&state->power_kwh, power, sign);
	add_checked(&state->generation_kwh, generation, sign);
	add_checked(&state->minutes, minutes, sign);
	add_checked(&state->heat_mj, heat, sign);
	add_checked(&state->heat_total_mj, heat_total, sign);
}

/*
 * power_alloc_trans
 *		Transition (and moving-transition) function of power_allowance.
 */
Datum
power_alloc_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PowerState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "power_alloc_trans called in non-aggregate context");
	if (PG_ARGISNULL(0))
		state = (PowerState *) MemoryContextAllocZero(aggcontext, sizeof(PowerState));
	else
		state = (PowerState *) PG_GETARG_POINTER(0);
	power_apply_row(fcinfo, state, aggcontext, 1);
	PG_RETURN_POINTER(state);
}

/*
 * power_alloc_inv
 *		Inverse transition function: removes a row that left the window frame.
 */
Datum
power_alloc_inv(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PowerState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "power_alloc_inv called in non-aggregate context");
	if (PG_ARGISNULL(0))
		elog(ERROR, "power_alloc_inv called with a NULL state");
	state = (PowerState *) PG_GETARG_POINTER(0);
	power_apply_row(fcinfo, state, aggcontext, -1);
	PG_RETURN_POINTER(state);
}

Datum
power_alloc_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PowerState *s1;
	PowerState *s2;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "power_alloc_combine called in non-aggregate context");
	s1 = PG_ARGISNULL(0) ? NULL : (PowerState *) PG_GETARG_POINTER(0);
	s2 = PG_ARGISNULL(1) ? NULL : (PowerState *) PG_GETARG_POINTER(1);
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = (PowerState *) MemoryContextAllocZero(aggcontext, sizeof(PowerState));

	group_merge(&s1->key, &s2->key, aggcontext, "power_allowance");
	for (int m = 0; m < MONTHS; m++)
	{
		s1->month_rows[m] += s2->month_rows[m];
		if (s1->month_rows[m] > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_BAD_GROUP),
					 errmsg("power_allowance: month %d appears twice in one group", m + 1),
					 errdetail("A group is one generating unit and year, with at most one row per month.")));
	}
	add_checked(&s1->nrows, s2->nrows, 1);
	add_checked(&s1->power_kwh, s2->power_kwh, 1);
	add_checked(&s1->generation_kwh, s2->generation_kwh, 1);
	add_checked(&s1->minutes, s2->minutes, 1);
	add_checked(&s1->heat_mj, s2->heat_mj, 1);
	add_checked(&s1->heat_total_mj, s2->heat_total_mj, 1);
	PG_RETURN_POINTER(s1);
}

Datum
power_alloc_serialize(PG_FUNCTION_ARGS)
{
	PowerState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "power_alloc_serialize called in non-aggregate context");
	state = (PowerState *) PG_GETARG_POINTER(0);

	pq_begintypsend(&buf);
	send_group_key(&buf, &state->key);
	pq_sendint64(&buf, state->nrows);
	pq_sendint64(&buf, state->power_kwh);
	pq_sendint64(&buf, state->generation_kwh);
	pq_sendint64(&buf, state->minutes);
	pq_sendint64(&buf, state->heat_mj);
	pq_sendint64(&buf, state->heat_total_mj);
	for (int m = 0; m < MONTHS; m++)
		pq_sendint32(&buf, (uint32) state->month_rows[m]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
power_alloc_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *sstate;
	PowerState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "power_alloc_deserialize called in non-aggregate context");
	sstate = PG_GETARG_BYTEA_PP(0);

	init_read_buffer(&buf, sstate);
	state = (PowerState *) palloc0(sizeof(PowerState));
	get_group_key(&buf, &state->key);
	state->nrows = pq_getmsgint64(&buf);
	state->power_kwh = pq_getmsgint64(&buf);
	state->generation_kwh = pq_getmsgint64(&buf);
	state->minutes = pq_getmsgint64(&buf);
	state->heat_mj = pq_getmsgint64(&buf);
	state->heat_total_mj = pq_getmsgint64(&buf);
	for (int m = 0; m < MONTHS; m++)
		state->month_rows[m] = (int32) pq_getmsgint(&buf, 4);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* The rules of a power group: its row of carbonmkt.facility_power_params(). */
static struct varlena *
power_rules(FunctionCallInfo fcinfo, PowerState *state)
{
	char	   *jurisdiction = text_to_cstring((text *) state->key.jurisdiction);
	RuleMap    *m = rule_map(fcinfo, RULES_POWER, jurisdiction, state->key.year);
	RuleEntry  *e = (RuleEntry *) hash_search(m->map, &state->key.id, HASH_FIND, NULL);

	if (e == NULL || e->value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_UNKNOWN_FACILITY),
				 errmsg("facility " INT64_FORMAT " is not a registered generating unit", state->key.id),
				 errhint("power_allowance() computes the allowance of a facility whose category has the power method (carbonmkt.facility, carbonmkt.alloc_category).")));
	return e->value;
}

/* Everything the power formula computed, for the allowance and its explanation. */
typedef struct PowerResult
{
	int64		facility_id;
	int32		year;
	char	   *category;
	int32		months;
	Numeric		power_mwh;
	Numeric		generation_mwh;
	Numeric		operating_hours;
	Numeric		capacity_mw;
	Numeric		load_factor;	/* NULL: no capacity, or not operated */
	int32		load_piece;		/* 1-based piece of F_load; 0: not applied */
	char	   *load_rule;
	Numeric		f_load;
	Numeric		heat_gj;
	Numeric		heat_total_gj;
	Numeric		heat_ratio;
	Numeric		heat_coefficient;
	Numeric		f_heat;
	char	   *cooling;
	Numeric		f_cool;
	Numeric		b_power;
	Numeric		b_heat;
	Numeric		power_part;
	Numeric		heat_part;
	Numeric		exact;
	char	   *rounding;
	int64		allowance;
} PowerResult;

/*
 * power_f_load
 *		F_load for load factor F from the pieces of alloc_load_piece: the
 *		piece with the largest lower bound <= F applies.
 *			linear:	a + b x (pivot - 100 F)
 *			power:	base ^ (c - d x F), to RATIO_SCALE decimal places
 */
static Numeric
power_f_load(ParamsRow *params, PowerResult *r)
{
	Numeric    *lower,
			   *a,
			   *b,
			   *pivot,
			   *base,
			   *c,
			   *d;
	char	  **kind;
	int			n = param_numeric_array(params, "load_lower", &lower);
	int			best = -1;
	Numeric		F = r->load_factor;

	if (param_text_array(params, "load_kind", &kind) != n ||
		param_numeric_array(params, "load_a", &a) != n ||
		param_numeric_array(params, "load_b", &b) != n ||
		param_numeric_array(params, "load_pivot", &pivot) != n ||
		param_numeric_array(params, "load_base", &base) != n ||
		param_numeric_array(params, "load_c", &c) != n ||
		param_numeric_array(params, "load_d", &d) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("the F_load pieces of %d are inconsistent", r->year),
				 errdetail("The load_* arrays of carbonmkt.power_params must have one element per piece.")));

	for (int i = 0; i < n; i++)
	{
		if (lower[i] == NULL)
			continue;
		if (num_cmp(lower[i], F) <= 0 && (best < 0 || num_cmp(lower[i], lower[best]) > 0))
			best = i;
	}
	if (best < 0)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no F_load piece covers load factor %s in %d", num_text(F, 6), r->year),
				 errdetail("Facility " INT64_FORMAT ", category \"%s\"; %d piece(s) for that year.",
						   r->facility_id, r->category, n),
				 errhint("carbonmkt.alloc_load_piece has no curve for the year (the lowest piece starts at 0): the national authority loads it with carbonmkt.set_rule('alloc_load_piece', ...); doc/rules.md.")));

	r->load_piece = best + 1;
	if (kind[best] != NULL && strcmp(kind[best], "linear") == 0 &&
		a[best] != NULL && b[best] != NULL && pivot[best] != NULL)
	{
		/* a + b x (pivot - 100 F), exact given F */
		Numeric		v = num_add(a[best],
								num_mul(b[best],
										num_sub(pivot[best],
												num_mul(int64_to_numeric(100), F))));

		if (num_cmp(b[best], int64_to_numeric(0)) == 0)
			r->load_rule = psprintf("%s", numeric_normalize(a[best]));
		else
			r->load_rule = psprintf("%s + %s x (%s - 100F)",
									numeric_normalize(a[best]), numeric_normalize(b[best]),
									numeric_normalize(pivot[best]));
		return v;
	}
	if (kind[best] != NULL && strcmp(kind[best], "power") == 0 &&
		base[best] != NULL && c[best] != NULL && d[best] != NULL)
	{
		/* base ^ (c - d x F), to RATIO_SCALE places */
		Numeric		exponent = num_sub(c[best], num_mul(d[best], F));
		Numeric		scaled_base = num_add(base[best], int64_div_fast_to_numeric(0, RATIO_SCALE));
		Numeric		v;

		v = DatumGetNumeric(DirectFunctionCall2(numeric_power,
												NumericGetDatum(scaled_base),
												NumericGetDatum(exponent)));
		r->load_rule = psprintf("%s^(%s - %sF)", numeric_normalize(base[best]),
								numeric_normalize(c[best]), numeric_normalize(d[best]));
		return num_round(v, RATIO_SCALE);
	}
	ereport(ERROR,
			(errcode(ERRCODE_ALLOC_MISSING_RULE),
			 errmsg("F_load piece %d of %d is incomplete", best + 1, r->year),
			 errhint("A linear piece needs a, b and pivot; a power piece needs base, c and d (carbonmkt.alloc_load_piece).")));
	return NULL;				/* keep compiler quiet */
}

/*
 * power_compute
 *		The power formula on a group's totals (RULES.md 3, 2021-22 plan):
 *			B_power x Q_e x F_load x F_heat x F_cool + B_heat x Q_h
 */
static void
power_compute(FunctionCallInfo fcinfo, PowerState *state, PowerResult *r)
{
	ParamsRow	prow;
	ParamsRow  *params = &prow;
	char	   *jurisdiction;
	char	   *fuel;
	bool		isnull;
	bool		load_applies;
	Numeric		zero = int64_to_numeric(0);
	Numeric		one = int64_to_numeric(1);

	memset(r, 0, sizeof(PowerResult));
	params_open(power_rules(fcinfo, state), params);
	r->facility_id = state->key.id;
	r->year = state->key.year;
	r->category = param_text(params, "category");
	jurisdiction = text_to_cstring((text *) state->key.jurisdiction);
	fuel = param_text(params, "fuel");
	r->cooling = param_text(params, "cooling");
	r->capacity_mw = param_numeric(params, "capacity_mw");
	r->b_power = param_numeric(params, "b_power");
	r->b_heat = param_numeric(params, "b_heat");
	r->heat_coefficient = param_numeric(params, "heat_coefficient");
	r->f_cool = param_numeric(params, "f_cool");
	r->rounding = param_text(params, "rounding");
	{
		Datum		d = param_datum(params, "load_applies", &isnull);

		load_applies = !isnull && DatumGetBool(d);
	}
	if (jurisdiction == NULL)
		jurisdiction = "?";
	if (r->category == NULL)
		r->category = "?";
	if (fuel == NULL)
		fuel = "?";

	/* the rules this unit needs */
	if (r->b_power == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no benchmark for category \"%s\" in %d (jurisdiction %s)",
						r->category, r->year, jurisdiction),
				 errdetail("Facility " INT64_FORMAT " needs the power benchmark B_power (供电基准值) of its category.",
						   r->facility_id),
				 errhint("carbonmkt.alloc_benchmark has no row for it: the national authority loads it with carbonmkt.set_rule('alloc_benchmark', ...); doc/rules.md.")));
	if (r->heat_coefficient == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no heat-supply correction coefficient (F_heat) for fuel \"%s\" in %d (jurisdiction %s)",
						fuel, r->year, jurisdiction),
				 errdetail("Facility " INT64_FORMAT ", category \"%s\".", r->facility_id, r->category),
				 errhint("carbonmkt.alloc_heat_factor has no row for it: the national authority loads it with carbonmkt.set_rule('alloc_heat_factor', ...); doc/rules.md.")));
	if (r->f_cool == NULL)
	{
		if (r->cooling == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_BAD_FACILITY),
					 errmsg("facility " INT64_FORMAT " has no cooling type", r->facility_id),
					 errdetail("The cooling correction factor F_cool of category \"%s\" depends on it.", r->category)));
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no cooling correction factor (F_cool) for %s-cooled %s units in %d (jurisdiction %s)",
						r->cooling, fuel, r->year, jurisdiction),
				 errdetail("Facility " INT64_FORMAT ", category \"%s\".", r->facility_id, r->category),
				 errhint("carbonmkt.alloc_cooling_factor has no row for it: the national authority loads it with carbonmkt.set_rule('alloc_cooling_factor', ...); doc/rules.md.")));
	}
	if (r->rounding == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no rounding rule for %d (jurisdiction %s)", r->year, jurisdiction),
				 errhint("carbonmkt.alloc_year_rule has no row for the year: the national authority loads it with carbonmkt.set_rule('alloc_year_rule', ...); doc/rules.md.")));

	/* annual totals */
	r->months = 0;
	for (int m = 0; m < MONTHS; m++)
		r->months += state->month_rows[m];
	r->power_mwh = num_scaled(state->power_kwh, 3);
	r->generation_mwh = num_scaled(state->generation_kwh, 3);
	r->heat_gj = num_scaled(state->heat_mj, 3);
	r->heat_total_gj = num_scaled(state->heat_total_mj, 3);
	r->operating_hours = num_trim(num_ratio(int64_to_numeric(state->minutes), int64_to_numeric(60)));
	if (state->power_kwh > state->generation_kwh)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("power supplied %s MWh exceeds generation %s MWh in %d",
						numeric_normalize(r->power_mwh), numeric_normalize(r->generation_mwh), r->year),
				 errdetail("Facility " INT64_FORMAT ": power supplied (供电量) is generation less auxiliary use.",
						   r->facility_id)));

	/* load factor F = generation / (capacity x operating hours) */
	if (r->capacity_mw == NULL || num_cmp(r->capacity_mw, zero) <= 0)
	{
		if (load_applies)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_BAD_FACILITY),
					 errmsg("facility " INT64_FORMAT " has no rated capacity", r->facility_id),
					 errdetail("The load factor correction F_load of category \"%s\" needs the rated capacity (MW).",
							   r->category)));
	}
	else if (state->minutes == 0)
	{
		if (state->generation_kwh > 0)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_RATIO_OUT_OF_RANGE),
					 errmsg("load factor of facility " INT64_FORMAT " in %d is undefined: generation %s MWh with zero operating hours",
							r->facility_id, r->year, numeric_normalize(r->generation_mwh)),
					 errdetail("The load factor is generation / (rated capacity × operating hours) and must lie in [0, 1].")));
	}
	else
	{
		/* kWh x 60 / (MW x 1000 x minutes) */
		Numeric		capacity_kw_min = num_mul(num_mul(r->capacity_mw, int64_to_numeric(1000)),
											  int64_to_numeric(state->minutes));

		r->load_factor = num_ratio(num_mul(int64_to_numeric(state->generation_kwh), int64_to_numeric(60)),
								   capacity_kw_min);
		if (num_cmp(r->load_factor, one) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_RATIO_OUT_OF_RANGE),
					 errmsg("load factor %s of facility " INT64_FORMAT " in %d is outside [0, 1]",
							num_text(r->load_factor, 6), r->facility_id, r->year),
					 errdetail("Generation %s MWh over %s operating hours at a rated capacity of %s MW.",
							   numeric_normalize(r->generation_mwh), numeric_normalize(r->operating_hours),
							   numeric_normalize(r->capacity_mw))));
	}

	if (load_applies && r->load_factor != NULL)
		r->f_load = power_f_load(params, r);
	else
	{
		r->f_load = one;
		r->load_piece = 0;
		r->load_rule = load_applies ? "not operated: 1" : "not applicable: 1";
	}

	/* heat ratio and F_heat = 1 - k x heat ratio */
	if (state->heat_total_mj == 0)
	{
		if (state->heat_mj > 0)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_RATIO_OUT_OF_RANGE),
					 errmsg("heat ratio of facility " INT64_FORMAT " in %d is undefined: heat supplied %s GJ with zero total heat",
							r->facility_id, r->year, numeric_normalize(r->heat_gj)),
					 errdetail("The heat ratio (供热比) is heat supplied / total heat and must lie in [0, 1].")));
		r->heat_ratio = zero;
	}
	else
	{
		r->heat_ratio = num_ratio(int64_to_numeric(state->heat_mj), int64_to_numeric(state->heat_total_mj));
		if (num_cmp(r->heat_ratio, one) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_RATIO_OUT_OF_RANGE),
					 errmsg("heat ratio %s of facility " INT64_FORMAT " in %d is outside [0, 1]",
							num_text(r->heat_ratio, 6), r->facility_id, r->year),
					 errdetail("Heat supplied %s GJ, total heat %s GJ.",
							   numeric_normalize(r->heat_gj), numeric_normalize(r->heat_total_gj))));
	}
	r->f_heat = num_sub(one, num_mul(r->heat_coefficient, r->heat_ratio));

	/* the allowance */
	r->power_part = num_mul(num_mul(num_mul(num_mul(r->b_power, r->power_mwh), r->f_load),
									r->f_heat), r->f_cool);
	if (state->heat_mj > 0)
	{
		if (r->b_heat == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_MISSING_RULE),
					 errmsg("no heat benchmark (B_heat) for category \"%s\" in %d (jurisdiction %s)",
							r->category, r->year, jurisdiction),
					 errdetail("Facility " INT64_FORMAT " supplied %s GJ of heat.",
							   r->facility_id, numeric_normalize(r->heat_gj)),
					 errhint("Set heat_benchmark in carbonmkt.alloc_benchmark.")));
		r->heat_part = num_mul(r->b_heat, r->heat_gj);
	}
	else
		r->heat_part = zero;
	r->exact = num_add(r->power_part, r->heat_part);
	r->allowance = round_tonnes(r->exact, r->rounding);
	params_close(params);
}

/*
 * power_alloc_final
 *		The unit's allowance in whole tonnes (NULL for no rows).
 */
Datum
power_alloc_final(PG_FUNCTION_ARGS)
{
	PowerState *state;
	PowerResult r;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (PowerState *) PG_GETARG_POINTER(0);
	if (state->nrows == 0)
		PG_RETURN_NULL();
	power_compute(fcinfo, state, &r);
	PG_RETURN_INT64(r.allowance);
}

/* Field order of carbonmkt.power_explanation (src/allocation.sql). */
enum
{
	PE_FACILITY_ID, PE_YEAR, PE_CATEGORY, PE_MONTHS,
	PE_POWER_MWH, PE_GENERATION_MWH, PE_OPERATING_HOURS, PE_CAPACITY_MW,
	PE_LOAD_FACTOR, PE_LOAD_PIECE, PE_LOAD_RULE, PE_F_LOAD,
	PE_HEAT_GJ, PE_HEAT_TOTAL_GJ, PE_HEAT_RATIO, PE_HEAT_COEFFICIENT, PE_F_HEAT,
	PE_COOLING, PE_F_COOL, PE_B_POWER, PE_B_HEAT,
	PE_POWER_PART, PE_HEAT_PART, PE_EXACT, PE_ROUNDING, PE_ALLOWANCE,
	PE_NATTS
};

static inline Datum
num_datum_or_null(Numeric n, bool *isnull)
{
	*isnull = (n == NULL);
	return n == NULL ? (Datum) 0 : NumericGetDatum(num_trim(n));
}

static inline Datum
text_datum_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s == NULL ? (Datum) 0 : CStringGetTextDatum(s);
}

static TupleDesc
result_tupdesc(FunctionCallInfo fcinfo, int natts, const char *typname)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != natts)
		elog(ERROR, "%s has %d attributes, expected %d", typname, tupdesc->natts, natts);
	return BlessTupleDesc(tupdesc);
}

/*
 * power_alloc_explain_final
 *		Every factor of the power formula and the allowance, as a
 *		carbonmkt.power_explanation row.
 */
Datum
power_alloc_explain_final(PG_FUNCTION_ARGS)
{
	PowerState *state;
	PowerResult r;
	TupleDesc	tupdesc;
	Datum		values[PE_NATTS];
	bool		nulls[PE_NATTS];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (PowerState *) PG_GETARG_POINTER(0);
	if (state->nrows == 0)
		PG_RETURN_NULL();
	power_compute(fcinfo, state, &r);

	tupdesc = result_tupdesc(fcinfo, PE_NATTS, "carbonmkt.power_explanation");
	memset(nulls, 0, sizeof(nulls));
	values[PE_FACILITY_ID] = Int64GetDatum(r.facility_id);
	values[PE_YEAR] = Int32GetDatum(r.year);
	values[PE_CATEGORY] = CStringGetTextDatum(r.category);
	values[PE_MONTHS] = Int32GetDatum(r.months);
	values[PE_POWER_MWH] = num_datum_or_null(r.power_mwh, &nulls[PE_POWER_MWH]);
	values[PE_GENERATION_MWH] = num_datum_or_null(r.generation_mwh, &nulls[PE_GENERATION_MWH]);
	values[PE_OPERATING_HOURS] = num_datum_or_null(r.operating_hours, &nulls[PE_OPERATING_HOURS]);
	values[PE_CAPACITY_MW] = num_datum_or_null(r.capacity_mw, &nulls[PE_CAPACITY_MW]);
	values[PE_LOAD_FACTOR] = num_datum_or_null(r.load_factor, &nulls[PE_LOAD_FACTOR]);
	values[PE_LOAD_PIECE] = Int32GetDatum(r.load_piece);
	values[PE_LOAD_RULE] = text_datum_or_null(r.load_rule, &nulls[PE_LOAD_RULE]);
	values[PE_F_LOAD] = num_datum_or_null(r.f_load, &nulls[PE_F_LOAD]);
	values[PE_HEAT_GJ] = num_datum_or_null(r.heat_gj, &nulls[PE_HEAT_GJ]);
	values[PE_HEAT_TOTAL_GJ] = num_datum_or_null(r.heat_total_gj, &nulls[PE_HEAT_TOTAL_GJ]);
	values[PE_HEAT_RATIO] = num_datum_or_null(r.heat_ratio, &nulls[PE_HEAT_RATIO]);
	values[PE_HEAT_COEFFICIENT] = num_datum_or_null(r.heat_coefficient, &nulls[PE_HEAT_COEFFICIENT]);
	values[PE_F_HEAT] = num_datum_or_null(r.f_heat, &nulls[PE_F_HEAT]);
	values[PE_COOLING] = text_datum_or_null(r.cooling, &nulls[PE_COOLING]);
	values[PE_F_COOL] = num_datum_or_null(r.f_cool, &nulls[PE_F_COOL]);
	values[PE_B_POWER] = num_datum_or_null(r.b_power, &nulls[PE_B_POWER]);
	values[PE_B_HEAT] = num_datum_or_null(r.b_heat, &nulls[PE_B_HEAT]);
	values[PE_POWER_PART] = num_datum_or_null(r.power_part, &nulls[PE_POWER_PART]);
	values[PE_HEAT_PART] = num_datum_or_null(r.heat_part, &nulls[PE_HEAT_PART]);
	values[PE_EXACT] = num_datum_or_null(r.exact, &nulls[PE_EXACT]);
	values[PE_ROUNDING] = CStringGetTextDatum(r.rounding);
	values[PE_ALLOWANCE] = Int64GetDatum(r.allowance);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ----------------------------------------------------------------
 *		performance_allowance and benchmark_allowance
 *
 * Both sum output x benchmark.  A state keeps up to INTENSITY_SLOTS distinct
 * keys with the output summed under each (int64), so a row costs one int64
 * addition: for performance_allowance the key is the category (its benchmark
 * is read from the rules in the final function), for benchmark_allowance the
 * benchmark itself, and rows whose benchmark finds no slot are folded into an
 * exact numeric sum of products.
 * ----------------------------------------------------------------
 */

typedef struct IntensitySlot
{
	struct varlena *key;		/* category (text) or benchmark (numeric) */
	int64		output;
} IntensitySlot;

typedef struct IntensityState
{
	bool		by_category;	/* performance_allowance: slots keyed by category */
	GroupKey	key;			/* participant, year, jurisdiction; or the rounding rule */
	int64		nrows;
	int64		output;
	int32		nslots;
	IntensitySlot slots[INTENSITY_SLOTS];
	Numeric		folded;			/* benchmark x output beyond the slots, or NULL */
} IntensityState;

static inline const char *
intensity_aggname(IntensityState *state)
{
	return state->by_category ? "performance_allowance" : "benchmark_allowance";
}

static IntensityState *
intensity_state_new(MemoryContext ctx, bool by_category)
{
	IntensityState *state = (IntensityState *) MemoryContextAllocZero(ctx, sizeof(IntensityState));

	state->by_category = by_category;
	return state;
}

/* A benchmark must be a finite number >= 0 (checked once per distinct value). */
static Numeric
check_benchmark(struct varlena *benchmark, const char *agg)
{
	Numeric		n = (Numeric) copy_plain_varlena(benchmark, CurrentMemoryContext);

	if (numeric_is_nan(n) || numeric_is_inf(n) || num_cmp(n, int64_to_numeric(0)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_QUANTITY),
				 errmsg("%s: benchmark %s is not a finite non-negative number", agg,
						numeric_normalize(n))));
	return n;
}

static void
intensity_fold(IntensityState *state, MemoryContext ctx, Numeric product, int sign)
{
	MemoryContext old = MemoryContextSwitchTo(ctx);
	Numeric		prev = state->folded;

	if (prev == NULL)
		state->folded = sign > 0 ? product : num_sub(int64_to_numeric(0), product);
	else
		state->folded = sign > 0 ? num_add(prev, product) : num_sub(prev, product);
	/* the product may live in a shorter-lived context: keep a copy */
	if (state->folded == product)
		state->folded = (Numeric) copy_plain_varlena((struct varlena *) product, ctx);
	if (prev != NULL)
		pfree(prev);
	MemoryContextSwitchTo(old);
}

/* Add (sign 1) or remove (sign -1) output under a key. */
static void
intensity_add(IntensityState *state, MemoryContext ctx, struct varlena *key,
			  int64 output, int sign)
{
	for (int i = 0; i < state->nslots; i++)
	{
		if (varlena_equal(state->slots[i].key, key))
		{
			add_checked(&state->slots[i].output, output, sign);
			return;
		}
	}
	if (sign > 0 && state->nslots < INTENSITY_SLOTS)
	{
		IntensitySlot *slot = &state->slots[state->nslots];

		if (!state->by_category)
			(void) check_benchmark(key, intensity_aggname(state));
		slot->key = copy_plain_varlena(key, ctx);
		slot->output = output;
		state->nslots++;
		return;
	}
	if (state->by_category)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_GROUP),
				 errmsg("performance_allowance: more than %d categories in one group", INTENSITY_SLOTS)));
	intensity_fold(state, ctx,
				   num_mul(int64_to_numeric(output), check_benchmark(key, intensity_aggname(state))),
				   sign);
}

/*
 * performance_alloc_trans, performance_alloc_inv
 *		Arguments: 1 participant_id, 2 year, 3 month, 4 output_t, 5 category,
 *		6 jurisdiction.
 */
static void
performance_apply_row(FunctionCallInfo fcinfo, IntensityState *state, MemoryContext ctx, int sign)
{
	const char *agg = "performance_allowance";
	int32		month = check_month(fcinfo, 3, agg);
	int64		output = check_quantity(fcinfo, 4, agg, "output", month);

	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_FACILITY),
				 errmsg("%s: category is NULL in month %d", agg, month)));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_GROUP),
				 errmsg("%s: participant, year and jurisdiction must not be NULL (month %d)", agg, month)));
	if (sign > 0)
		group_accept(&state->key, PG_GETARG_INT64(1), PG_GETARG_INT32(2), PG_GETARG_DATUM(6), ctx, agg);
	else if (!state->key.set || state->key.id != PG_GETARG_INT64(1) || state->key.year != PG_GETARG_INT32(2))
		group_mismatch(agg, &state->key, PG_GETARG_INT64(1), PG_GETARG_INT32(2));
	add_checked(&state->nrows, 1, sign);
	add_checked(&state->output, output, sign);
	intensity_add(state, ctx, PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(5)), output, sign);
}

/*
 * benchmark_alloc_trans, benchmark_alloc_inv
 *		Arguments: 1 month, 2 output, 3 benchmark, 4 rounding.
 */
static void
benchmark_apply_row(FunctionCallInfo fcinfo, IntensityState *state, MemoryContext ctx, int sign)
{
	const char *agg = "benchmark_allowance";
	int32		month = check_month(fcinfo, 1, agg);
	int64		output = check_quantity(fcinfo, 2, agg, "output", month);

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("%s: no benchmark for a row of month %d", agg, month),
				 errhint("Every row needs the benchmark of its category and year (carbonmkt.alloc_benchmark).")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("%s: no rounding rule in month %d", agg, month)));
	if (sign > 0)
		group_accept(&state->key, 0, 0, PG_GETARG_DATUM(4), ctx, agg);
	else if (!state->key.set || !varlena_equal(state->key.jurisdiction, PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(4))))
		group_mismatch(agg, &state->key, 0, 0);
	add_checked(&state->nrows, 1, sign);
	add_checked(&state->output, output, sign);
	intensity_add(state, ctx, PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(3)), output, sign);
}

static IntensityState *
intensity_trans_state(FunctionCallInfo fcinfo, MemoryContext *aggcontext, bool by_category, bool inverse)
{
	if (!AggCheckCallContext(fcinfo, aggcontext))
		elog(ERROR, "allocation aggregate transition called in non-aggregate context");
	if (PG_ARGISNULL(0))
	{
		if (inverse)
			elog(ERROR, "allocation aggregate inverse transition called with a NULL state");
		return intensity_state_new(*aggcontext, by_category);
	}
	return (IntensityState *) PG_GETARG_POINTER(0);
}

Datum
performance_alloc_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	IntensityState *state = intensity_trans_state(fcinfo, &aggcontext, true, false);

	performance_apply_row(fcinfo, state, aggcontext, 1);
	PG_RETURN_POINTER(state);
}

Datum
performance_alloc_inv(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	IntensityState *state = intensity_trans_state(fcinfo, &aggcontext, true, true);

	performance_apply_row(fcinfo, state, aggcontext, -1);
	PG_RETURN_POINTER(state);
}

Datum
benchmark_alloc_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	IntensityState *state = intensity_trans_state(fcinfo, &aggcontext, false, false);

	benchmark_apply_row(fcinfo, state, aggcontext, 1);
	PG_RETURN_POINTER(state);
}

Datum
benchmark_alloc_inv(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	IntensityState *state = intensity_trans_state(fcinfo, &aggcontext, false, true);

	benchmark_apply_row(fcinfo, state, aggcontext, -1);
	PG_RETURN_POINTER(state);
}

Datum
intensity_alloc_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	IntensityState *s1;
	IntensityState *s2;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "intensity_alloc_combine called in non-aggregate context");
	s1 = PG_ARGISNULL(0) ? NULL : (IntensityState *) PG_GETARG_POINTER(0);
	s2 = PG_ARGISNULL(1) ? NULL : (IntensityState *) PG_GETARG_POINTER(1);
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = intensity_state_new(aggcontext, s2->by_category);

	group_merge(&s1->key, &s2->key, aggcontext, intensity_aggname(s1));
	add_checked(&s1->nrows, s2->nrows, 1);
	add_checked(&s1->output, s2->output, 1);
	for (int i = 0; i < s2->nslots; i++)
		intensity_add(s1, aggcontext, s2->slots[i].key, s2->slots[i].output, 1);
	if (s2->folded != NULL)
		intensity_fold(s1, aggcontext, s2->folded, 1);
	PG_RETURN_POINTER(s1);
}

Datum
intensity_alloc_serialize(PG_FUNCTION_ARGS)
{
	IntensityState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "intensity_alloc_serialize called in non-aggregate context");
	state = (IntensityState *) PG_GETARG_POINTER(0);

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, state->by_category ? 1 : 0);
	send_group_key(&buf, &state->key);
	pq_sendint64(&buf, state->nrows);
	pq_sendint64(&buf, state->output);
	pq_sendint32(&buf, (uint32) state->nslots);
	for (int i = 0; i < state->nslots; i++)
	{
		send_varlena(&buf, state->slots[i].key);
		pq_sendint64(&buf, state->slots[i].output);
	}
	send_varlena(&buf, (struct varlena *) state->folded);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
intensity_alloc_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *sstate;
	IntensityState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "intensity_alloc_deserialize called in non-aggregate context");
	sstate = PG_GETARG_BYTEA_PP(0);

	init_read_buffer(&buf, sstate);
	state = intensity_state_new(CurrentMemoryContext, pq_getmsgbyte(&buf) != 0);
	get_group_key(&buf, &state->key);
	state->nrows = pq_getmsgint64(&buf);
	state->output = pq_getmsgint64(&buf);
	state->nslots = (int32) pq_getmsgint(&buf, 4);
	if (state->nslots < 0 || state->nslots > INTENSITY_SLOTS)
		elog(ERROR, "intensity_alloc_deserialize: %d slots", state->nslots);
	for (int i = 0; i < state->nslots; i++)
	{
		state->slots[i].key = get_varlena(&buf);
		if (state->slots[i].key == NULL)
			elog(ERROR, "intensity_alloc_deserialize: empty slot");
		state->slots[i].output = pq_getmsgint64(&buf);
	}
	state->folded = (Numeric) get_varlena(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* benchmark_allowance: sum(output x benchmark), exact. */
static Numeric
intensity_total(IntensityState *state)
{
	Numeric		total = state->folded != NULL ? state->folded : int64_to_numeric(0);

	for (int i = 0; i < state->nslots; i++)
		total = num_add(total, num_mul(int64_to_numeric(state->slots[i].output),
									   (Numeric) state->slots[i].key));
	return total;
}

/*
 * performance_allowance: sum(output x benchmark of its category), exact;
 * the benchmarks are the rules of the group's jurisdiction and year.
 */
static Numeric
category_total(FunctionCallInfo fcinfo, IntensityState *state, const char *jurisdiction)
{
	RuleMap    *m = rule_map(fcinfo, RULES_BENCHMARK, jurisdiction, state->key.year);
	Numeric		total = int64_to_numeric(0);

	for (int i = 0; i < state->nslots; i++)
	{
		char		key[NAMEDATALEN];
		char	   *category = text_to_cstring((text *) state->slots[i].key);
		CategoryEntry *e;

		memset(key, 0, sizeof(key));
		strlcpy(key, category, NAMEDATALEN);
		e = (CategoryEntry *) hash_search(m->map, key, HASH_FIND, NULL);
		if (e == NULL || e->value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_ALLOC_MISSING_RULE),
					 errmsg("no benchmark for category \"%s\" in %d (jurisdiction %s)",
							category, state->key.year, jurisdiction),
					 errdetail("Participant " INT64_FORMAT " has production of that category.", state->key.id),
					 errhint("carbonmkt.alloc_benchmark has no row for it: the national authority loads it with carbonmkt.set_rule('alloc_benchmark', ...); doc/rules.md.")));
		total = num_add(total, num_mul(int64_to_numeric(state->slots[i].output), (Numeric) e->value));
	}
	return total;
}

/* The rules of a performance group: its row of participant_performance_params(). */
static struct varlena *
performance_rules(FunctionCallInfo fcinfo, IntensityState *state, const char *jurisdiction)
{
	RuleMap    *m = rule_map(fcinfo, RULES_PERFORMANCE, jurisdiction, state->key.year);
	RuleEntry  *e = (RuleEntry *) hash_search(m->map, &state->key.id, HASH_FIND, NULL);

	if (e == NULL || e->value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_BAD_FACILITY),
				 errmsg("participant " INT64_FORMAT " has no production lines of the performance method",
						state->key.id),
				 errhint("performance_allowance() computes the allowance of a key emitting unit with cement, steel or aluminium lines.")));
	return e->value;
}

/*
 * benchmark_alloc_final
 *		sum(benchmark x output) rounded once by the rounding rule.
 */
Datum
benchmark_alloc_final(PG_FUNCTION_ARGS)
{
	IntensityState *state;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (IntensityState *) PG_GETARG_POINTER(0);
	if (state->nrows == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(round_tonnes(intensity_total(state), text_to_cstring((text *) state->key.jurisdiction)));
}

typedef struct PerformanceResult
{
	int64		participant_id;
	int32		year;
	Numeric		raw;
	int64		verified;
	Numeric		max_gap;
	Numeric		max_surplus;
	Numeric		lower;
	Numeric		upper;
	const char *clamp;
	Numeric		exact;
	char	   *rounding;
	int64		allowance;
} PerformanceResult;

/*
 * performance_compute
 *		raw = sum(output x intensity); the allowance is raw clamped to
 *		[verified x (1 - max_gap), verified x (1 + max_surplus)], so the
 *		participant's gap or surplus stays inside the band (RULES.md 3).
 */
static void
performance_compute(FunctionCallInfo fcinfo, IntensityState *state, PerformanceResult *r)
{
	ParamsRow	prow;
	ParamsRow  *params = &prow;
	bool		isnull;
	char	   *jurisdiction;
	char	   *sector;
	Numeric		one = int64_to_numeric(1);
	Numeric		verified;

	memset(r, 0, sizeof(PerformanceResult));
	jurisdiction = text_to_cstring((text *) state->key.jurisdiction);
	params_open(performance_rules(fcinfo, state, jurisdiction), params);
	sector = param_text(params, "sector");
	r->participant_id = state->key.id;
	r->year = state->key.year;
	r->max_gap = param_numeric(params, "max_gap");
	r->max_surplus = param_numeric(params, "max_surplus");
	r->rounding = param_text(params, "rounding");
	if (jurisdiction == NULL)
		jurisdiction = "?";
	if (sector == NULL)
		sector = "?";
	r->verified = param_int64(params, "verified_t", &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_NO_CONFIRMED),
				 errmsg("participant " INT64_FORMAT " has no confirmed emissions for %d",
						r->participant_id, r->year),
				 errdetail("The performance method keeps the surplus or gap inside a band around the confirmed (verified) emissions."),
				 errhint("Allocate after the MRV room has confirmed the year (carbonmkt.confirmed_emission).")));
	if (r->max_gap == NULL || r->max_surplus == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no surplus/gap band for sector \"%s\" in %d (jurisdiction %s)",
						sector, r->year, jurisdiction),
				 errdetail("Participant " INT64_FORMAT " is allocated by the performance method.", r->participant_id),
				 errhint("carbonmkt.alloc_band has no row for it: the national authority loads it with carbonmkt.set_rule('alloc_band', ...); doc/rules.md.")));
	if (r->rounding == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ALLOC_MISSING_RULE),
				 errmsg("no rounding rule for %d (jurisdiction %s)", r->year, jurisdiction),
				 errhint("carbonmkt.alloc_year_rule has no row for the year: the national authority loads it with carbonmkt.set_rule('alloc_year_rule', ...); doc/rules.md.")));

	verified = int64_to_numeric(r->verified);
	r->raw = category_total(fcinfo, state, jurisdiction);
	r->lower = num_mul(verified, num_sub(one, r->max_gap));
	r->upper = num_mul(verified, num_add(one, r->max_surplus));
	if (num_cmp(r->raw, r->lower) < 0)
	{
		r->exact = r->lower;
		r->clamp = "gap";
	}
	else if (num_cmp(r->raw, r->upper) > 0)
	{
		r->exact = r->upper;
		r->clamp = "surplus";
	}
	else
	{
		r->exact = r->raw;
		r->clamp = "none";
	}
	r->allowance = round_tonnes(r->exact, r->rounding);
	params_close(params);
}

Datum
performance_alloc_final(PG_FUNCTION_ARGS)
{
	IntensityState *state;
	PerformanceResult r;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (IntensityState *) PG_GETARG_POINTER(0);
	if (state->nrows == 0)
		PG_RETURN_NULL();
	performance_compute(fcinfo, state, &r);
	PG_RETURN_INT64(r.allowance);
}

/* Field order of carbonmkt.performance_explanation (src/allocation.sql). */
enum
{
	XE_PARTICIPANT_ID, XE_YEAR, XE_ROWS, XE_OUTPUT, XE_RAW, XE_VERIFIED,
	XE_MAX_GAP, XE_MAX_SURPLUS, XE_LOWER, XE_UPPER, XE_CLAMP, XE_EXACT,
	XE_ROUNDING, XE_ALLOWANCE,
	XE_NATTS
};

Datum
performance_alloc_explain_final(PG_FUNCTION_ARGS)
{
	IntensityState *state;
	PerformanceResult r;
	TupleDesc	tupdesc;
	Datum		values[XE_NATTS];
	bool		nulls[XE_NATTS];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (IntensityState *) PG_GETARG_POINTER(0);
	if (state->nrows == 0)
		PG_RETURN_NULL();
	performance_compute(fcinfo, state, &r);

	tupdesc = result_tupdesc(fcinfo, XE_NATTS, "carbonmkt.performance_explanation");
	memset(nulls, 0, sizeof(nulls));
	values[XE_PARTICIPANT_ID] = Int64GetDatum(r.participant_id);
	values[XE_YEAR] = Int32GetDatum(r.year);
	values[XE_ROWS] = Int64GetDatum(state->nrows);
	values[XE_OUTPUT] = Int64GetDatum(state->output);
	values[XE_RAW] = num_datum_or_null(r.raw, &nulls[XE_RAW]);
	values[XE_VERIFIED] = Int64GetDatum(r.verified);
	values[XE_MAX_GAP] = num_datum_or_null(r.max_gap, &nulls[XE_MAX_GAP]);
	values[XE_MAX_SURPLUS] = num_datum_or_null(r.max_surplus, &nulls[XE_MAX_SURPLUS]);
	values[XE_LOWER] = num_datum_or_null(r.lower, &nulls[XE_LOWER]);
	values[XE_UPPER] = num_datum_or_null(r.upper, &nulls[XE_UPPER]);
	values[XE_CLAMP] = CStringGetTextDatum(r.clamp);
	values[XE_EXACT] = num_datum_or_null(r.exact, &nulls[XE_EXACT]);
	values[XE_ROUNDING] = CStringGetTextDatum(r.rounding);
	values[XE_ALLOWANCE] = Int64GetDatum(r.allowance);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
