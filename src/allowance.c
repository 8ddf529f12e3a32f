/*-------------------------------------------------------------------------
 *
 * allowance.c
 *	  The allowance data type: a quantity of CEA (碳排放配额) of one vintage
 *	  (compliance year), in whole tonnes CO2e.
 *
 * An allowance is a fixed-length (16 byte) pass-by-reference value: an int32
 * vintage, an int32 pad that is always zero and an int64 number of tonnes.
 * Its canonical text form is CEA<vintage>:<tonnes>t, e.g. CEA2024:1500t.
 *
 * Arithmetic is only defined within one vintage; mixing vintages is an
 * error, never a silent conversion.  Values are ordered by (vintage, tonnes).
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/allowance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "carbonmkt.h"

#define ALLOWANCE_INPUT_HINT \
	"Expected CEA<vintage>:<tonnes>t, for example CEA2024:1500t."

PG_FUNCTION_INFO_V1(allowance_in);
PG_FUNCTION_INFO_V1(allowance_out);
PG_FUNCTION_INFO_V1(allowance_recv);
PG_FUNCTION_INFO_V1(allowance_send);
PG_FUNCTION_INFO_V1(allowance_make);
PG_FUNCTION_INFO_V1(allowance_vintage);
PG_FUNCTION_INFO_V1(allowance_tonnes);
PG_FUNCTION_INFO_V1(allowance_add);
PG_FUNCTION_INFO_V1(allowance_sub);
PG_FUNCTION_INFO_V1(allowance_neg);
PG_FUNCTION_INFO_V1(allowance_mul_round);
PG_FUNCTION_INFO_V1(allowance_numeric_mul_round);
PG_FUNCTION_INFO_V1(allowance_mul_floor);
PG_FUNCTION_INFO_V1(allowance_div_round);
PG_FUNCTION_INFO_V1(allowance_div_floor);
PG_FUNCTION_INFO_V1(allowance_eq);
PG_FUNCTION_INFO_V1(allowance_ne);
PG_FUNCTION_INFO_V1(allowance_lt);
PG_FUNCTION_INFO_V1(allowance_le);
PG_FUNCTION_INFO_V1(allowance_gt);
PG_FUNCTION_INFO_V1(allowance_ge);
PG_FUNCTION_INFO_V1(allowance_cmp);
PG_FUNCTION_INFO_V1(allowance_hash);
PG_FUNCTION_INFO_V1(allowance_hash_extended);
PG_FUNCTION_INFO_V1(allowance_smaller);
PG_FUNCTION_INFO_V1(allowance_larger);
PG_FUNCTION_INFO_V1(allowance_sum_accum);
PG_FUNCTION_INFO_V1(allowance_sum_inv);

static void allowance_syntax_error(const char *input,
								   const char *detail) pg_attribute_noreturn();
static void allowance_out_of_range(const char *operation) pg_attribute_noreturn();

/*
 * allowance_new
 *		Allocate a zeroed allowance (so that the pad is zero) and fill it in.
 */
static inline Allowance *
allowance_new(int32 vintage, int64 tonnes)
{
	Allowance  *result = (Allowance *) palloc0(sizeof(Allowance));

	result->vintage = vintage;
	result->tonnes = tonnes;
	return result;
}

/*
 * allowance_cmp_internal
 *		Three-way comparison by (vintage, tonnes).
 */
static inline int
allowance_cmp_internal(const Allowance *a, const Allowance *b)
{
	if (a->vintage != b->vintage)
		return (a->vintage < b->vintage) ? -1 : 1;
	if (a->tonnes != b->tonnes)
		return (a->tonnes < b->tonnes) ? -1 : 1;
	return 0;
}

/* ----------------------------------------------------------------
 *	Text input and output
 * ----------------------------------------------------------------
 */

/*
 * allowance_syntax_error
 *		Report a malformed allowance literal (22P02).  detail may be NULL.
 */
static void
allowance_syntax_error(const char *input, const char *detail)
{
	if (detail)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"allowance", input),
				 errdetail("%s", detail),
				 errhint(ALLOWANCE_INPUT_HINT)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"allowance", input),
				 errhint(ALLOWANCE_INPUT_HINT)));
	pg_unreachable();
}

/*
 * skip_space
 *		Advance past ASCII whitespace (the same set the SQL scanner uses).
 */
static inline const char *
skip_space(const char *p)
{
	while (*p && scanner_isspace(*p))
		p++;
	return p;
}

/*
 * allowance_in
 *		Parse the text form of an allowance.
 *
 * Grammar (case-insensitive, whitespace allowed around every token):
 *
 *		[CEA [-]] vintage (':' | whitespace) [+|-] tonnes [t | tCO2e]
 *
 * tonnes may use ',' or '_' as digit-group separators: a first group of one
 * to three digits, then groups of exactly three digits, one kind of
 * separator per number.  Syntax is checked completely before any range:
 * malformed input is 22P02, an out-of-range vintage or tonnes value 22003.
 */
Datum
allowance_in(PG_FUNCTION_ARGS)
{
	char	   *input = PG_GETARG_CSTRING(0);
	const char *p = input;
	const char *vstart;
	const char *vend;
	const char *tstart;
	const char *tend;
	int64		vintage = 0;
	bool		vintage_overflow = false;
	int64		tonnes = 0;		/* accumulated as a negative number */
	bool		tonnes_overflow = false;
	bool		negative = false;
	char		group_sep = '\0';
	int			group_len = 0;

	p = skip_space(p);

	/* optional "CEA" prefix, optionally followed by '-' */
	if (pg_strncasecmp(p, "cea", 3) == 0)
	{
		p = skip_space(p + 3);
		if (*p == '-')
			p = skip_space(p + 1);
	}

	/* vintage */
	if (*p == '\0')
		allowance_syntax_error(input, "Missing vintage.");
	if (!isdigit((unsigned char) *p))
		allowance_syntax_error(input, "The vintage must be a year written in digits.");
	vstart = p;
	while (isdigit((unsigned char) *p))
	{
		if (!vintage_overflow)
		{
			vintage = vintage * 10 + (*p - '0');
			if (vintage > PG_INT32_MAX)
				vintage_overflow = true;
		}
		p++;
	}
	vend = p;

	/* separator: ':' or whitespace */
	p = skip_space(p);
	if (*p == ':')
		p = skip_space(p + 1);
	else if (p == vend)
	{
		if (*p == '\0')
			allowance_syntax_error(input, "Missing tonnes after the vintage.");
		allowance_syntax_error(input,
							   "The vintage must be followed by \":\" or whitespace.");
	}
	if (*p == '\0')
		allowance_syntax_error(input, "Missing tonnes after the vintage.");

	/* tonnes: optional sign, digits with optional group separators */
	tstart = p;
	if (*p == '+' || *p == '-')
	{
		negative = (*p == '-');
		p++;
	}
	if (!isdigit((unsigned char) *p))
		allowance_syntax_error(input, "Tonnes must be a whole number.");
	for (;;)
	{
		if (isdigit((unsigned char) *p))
		{
			if (!tonnes_overflow &&
				(pg_mul_s64_overflow(tonnes, 10, &tonnes) ||
				 pg_sub_s64_overflow(tonnes, *p - '0', &tonnes)))
				tonnes_overflow = true;
			group_len++;
			p++;
		}
		else if (*p == ',' || *p == '_')
		{
			if (group_sep == '\0')
			{
				/* end of the first group */
				if (group_len > 3)
					allowance_syntax_error(input,
										   "Digit groups must have three digits.");
				group_sep = *p;
			}
			else if (*p != group_sep)
				allowance_syntax_error(input,
									   "Use only one kind of digit-group separator (\",\" or \"_\").");
			else if (group_len != 3)
				allowance_syntax_error(input,
									   "Digit groups must have three digits.");
			if (!isdigit((unsigned char) p[1]))
				allowance_syntax_error(input,
									   "A digit-group separator must be followed by digits.");
			group_len = 0;
			p++;
		}
		else
			break;
	}
	if (group_sep != '\0' && group_len != 3)
		allowance_syntax_error(input, "Digit groups must have three digits.");
	tend = p;
	if (*p == '.' || *p == 'e' || *p == 'E')
		allowance_syntax_error(input, "Tonnes must be a whole number.");

	/* optional unit */
	p = skip_space(p);
	if (pg_strncasecmp(p, "tco2e", 5) == 0)
		p += 5;
	else if (*p == 't' || *p == 'T')
		p++;
	p = skip_space(p);
	if (*p != '\0')
		allowance_syntax_error(input,
							   "Unexpected characters after the tonnes; the unit must be \"t\" or \"tCO2e\".");

	/* syntax is fine: now the ranges */
	if (vintage_overflow)
	{
		/* too long for int32: name the digits, as carbonmkt_check_vintage does */
		while (vstart < vend - 1 && *vstart == '0')
			vstart++;
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %.*s is out of range", "allowance vintage",
						(int) (vend - vstart), vstart),
				 errdetail("Vintages must be between %d and %d.",
						   CARBONMKT_MIN_VINTAGE, CARBONMKT_MAX_VINTAGE)));
	}
	carbonmkt_check_vintage((int32) vintage, "allowance vintage");

	if (!tonnes_overflow && !negative)
	{
		if (tonnes == PG_INT64_MIN)
			tonnes_overflow = true;
		else
			tonnes = -tonnes;
	}
	if (tonnes_overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("allowance tonnes %.*s is out of range",
						(int) (tend - tstart), tstart),
				 errdetail("Tonnes must be between " INT64_FORMAT " and " INT64_FORMAT
						   " (the range of bigint).",
						   PG_INT64_MIN, PG_INT64_MAX)));

	PG_RETURN_ALLOWANCE_P(allowance_new((int32) vintage, tonnes));
}

/*
 * allowance_to_cstring
 *		Canonical text form, e.g. CEA2024:1500t.
 */
static char *
allowance_to_cstring(const Allowance *a)
{
	return psprintf("CEA%d:" INT64_FORMAT "t", a->vintage, a->tonnes);
}

/*
 * allowance_out
 *		Output function: CEA<vintage>:<tonnes>t.
 */
Datum
allowance_out(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);

	PG_RETURN_CSTRING(allowance_to_cstring(a));
}

/*
 * allowance_recv
 *		Binary input: int32 vintage, then int64 tonnes.
 */
Datum
allowance_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		vintage;
	int64		tonnes;

	vintage = (int32) pq_getmsgint(buf, sizeof(int32));
	tonnes = pq_getmsgint64(buf);
	carbonmkt_check_vintage(vintage, "allowance vintage");

	PG_RETURN_ALLOWANCE_P(allowance_new(vintage, tonnes));
}

/*
 * allowance_send
 *		Binary output: int32 vintage, then int64 tonnes (12 bytes).
 */
Datum
allowance_send(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, a->vintage);
	pq_sendint64(&buf, a->tonnes);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ----------------------------------------------------------------
 *	Constructor and accessors
 * ----------------------------------------------------------------
 */

/*
 * allowance_make
 *		cea(vintage, tonnes): build an allowance, validating the vintage.
 */
Datum
allowance_make(PG_FUNCTION_ARGS)
{
	int32		vintage = PG_GETARG_INT32(0);
	int64		tonnes = PG_GETARG_INT64(1);

	carbonmkt_check_vintage(vintage, "allowance vintage");
	PG_RETURN_ALLOWANCE_P(allowance_new(vintage, tonnes));
}

/*
 * allowance_vintage
 *		vintage(allowance): the compliance year.
 */
Datum
allowance_vintage(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_ALLOWANCE_P(0)->vintage);
}

/*
 * allowance_tonnes
 *		tonnes(allowance): the quantity in tonnes CO2e.
 */
Datum
allowance_tonnes(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_ALLOWANCE_P(0)->tonnes);
}

/* ----------------------------------------------------------------
 *	Additive arithmetic (within one vintage)
 * ----------------------------------------------------------------
 */

/*
 * check_same_vintage
 *		Raise 22023 unless a and b have the same vintage.  verb is "add",
 *		"subtract" or "sum".
 */
static inline void
check_same_vintage(const Allowance *a, const Allowance *b, const char *verb)
{
	if (unlikely(a->vintage != b->vintage))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s allowances of different vintages: CEA%d and CEA%d",
						verb, a->vintage, b->vintage)));
}

/*
 * allowance_out_of_range
 *		Raise 22003 for an allowance operation whose result does not fit.
 */
static void
allowance_out_of_range(const char *operation)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("allowance out of range in %s", operation),
			 errdetail("Tonnes must be between " INT64_FORMAT " and " INT64_FORMAT
					   " (the range of bigint).",
					   PG_INT64_MIN, PG_INT64_MAX)));
	pg_unreachable();
}

/*
 * allowance_add
 *		allowance + allowance, same vintage only.
 */
Datum
allowance_add(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *b = PG_GETARG_ALLOWANCE_P(1);
	int64		tonnes;

	check_same_vintage(a, b, "add");
	if (pg_add_s64_overflow(a->tonnes, b->tonnes, &tonnes))
		allowance_out_of_range("addition");
	PG_RETURN_ALLOWANCE_P(allowance_new(a->vintage, tonnes));
}

/*
 * allowance_sub
 *		allowance - allowance, same vintage only.
 */
Datum
allowance_sub(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *b = PG_GETARG_ALLOWANCE_P(1);
	int64		tonnes;

	check_same_vintage(a, b, "subtract");
	if (pg_sub_s64_overflow(a->tonnes, b->tonnes, &tonnes))
		allowance_out_of_range("subtraction");
	PG_RETURN_ALLOWANCE_P(allowance_new(a->vintage, tonnes));
}

/*
 * allowance_neg
 *		Unary minus.
 */
Datum
allowance_neg(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);

	if (a->tonnes == PG_INT64_MIN)
		allowance_out_of_range("negation");
	PG_RETURN_ALLOWANCE_P(allowance_new(a->vintage, -a->tonnes));
}

/* ----------------------------------------------------------------
 *	Scaling by a numeric factor
 *
 * All products and quotients are computed exactly in numeric, then rounded
 * either half away from zero ("half-up", like numeric round()) or toward
 * minus infinity (floor).  numeric_div() rounds to a display scale, so it is
 * never used: division takes the truncated quotient and the exact remainder
 * and corrects the quotient from them.
 * ----------------------------------------------------------------
 */

typedef enum AllowanceRounding
{
	ALLOWANCE_ROUND_HALF_UP,
	ALLOWANCE_ROUND_FLOOR
} AllowanceRounding;

/*
 * numeric_datum_sign
 *		Sign (-1, 0, 1) of a finite numeric datum.
 */
static inline int
numeric_datum_sign(Datum n)
{
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));

	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, zero));
}

/*
 * numeric_is_infinite
 *		True if n is +/-Infinity (numeric has infinities from PostgreSQL 14).
 */
static inline bool
numeric_is_infinite(Numeric n)
{
#if PG_VERSION_NUM >= 140000
	return numeric_is_inf(n);
#else
	return false;
#endif
}

/*
 * numeric_to_tonnes
 *		Convert an integral numeric to int64 tonnes, raising 22003 with an
 *		allowance message (naming operation) if it does not fit.
 */
static int64
numeric_to_tonnes(Datum n, const char *operation)
{
	Datum		lo = DirectFunctionCall1(int8_numeric, Int64GetDatum(PG_INT64_MIN));
	Datum		hi = DirectFunctionCall1(int8_numeric, Int64GetDatum(PG_INT64_MAX));

	if (numeric_is_nan(DatumGetNumeric(n)) ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, lo)) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, hi)) > 0)
		allowance_out_of_range(operation);
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, n));
}

/*
 * check_factor_not_nan
 *		Raise 22023 if a factor or divisor is NaN.
 */
static inline void
check_factor_not_nan(Numeric factor, const char *verb)
{
	if (numeric_is_nan(factor))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s an allowance by NaN", verb)));
}

/*
 * allowance_mul_internal
 *		a * factor, rounded as requested.
 */
static Allowance *
allowance_mul_internal(const Allowance *a, Numeric factor,
					   AllowanceRounding rounding)
{
	Datum		product;

	check_factor_not_nan(factor, "multiply");
	if (numeric_is_infinite(factor))
		allowance_out_of_range("multiplication");

	/* exact: the scale of the product is the scale of the factor */
	product = DirectFunctionCall2(numeric_mul,
								  DirectFunctionCall1(int8_numeric,
													  Int64GetDatum(a->tonnes)),
								  NumericGetDatum(factor));
	if (rounding == ALLOWANCE_ROUND_FLOOR)
		product = DirectFunctionCall1(numeric_floor, product);
	else
		product = DirectFunctionCall2(numeric_round, product, Int32GetDatum(0));

	return allowance_new(a->vintage,
						 numeric_to_tonnes(product, "multiplication"));
}

/*
 * allowance_div_internal
 *		a / divisor, rounded as requested.
 */
static Allowance *
allowance_div_internal(const Allowance *a, Numeric divisor,
					   AllowanceRounding rounding)
{
	Datum		n;
	Datum		d = NumericGetDatum(divisor);
	Datum		quotient;
	Datum		remainder;
	int			dsign;
	int			rsign;
	int			adjust = 0;

	check_factor_not_nan(divisor, "divide");
	if (numeric_is_infinite(divisor))
		return allowance_new(a->vintage, 0);
	dsign = numeric_datum_sign(d);
	if (dsign == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DIVISION_BY_ZERO),
				 errmsg("division by zero")));

	n = DirectFunctionCall1(int8_numeric, Int64GetDatum(a->tonnes));

	/* exact truncated quotient and remainder n - d * quotient */
	quotient = DirectFunctionCall2(numeric_div_trunc, n, d);
	remainder = DirectFunctionCall2(numeric_mod, n, d);
	rsign = numeric_datum_sign(remainder);

	if (rsign != 0)
	{
		/* the exact quotient has the sign of n * d; it is not an integer */
		int			qsign = (a->tonnes < 0) == (dsign < 0) ? 1 : -1;

		if (rounding == ALLOWANCE_ROUND_FLOOR)
		{
			if (qsign < 0)
				adjust = -1;
		}
		else
		{
			/* half away from zero: |remainder| * 2 >= |divisor| */
			Datum		r2;
			Datum		absd;

			r2 = DirectFunctionCall1(numeric_abs, remainder);
			r2 = DirectFunctionCall2(numeric_add, r2, r2);
			absd = DirectFunctionCall1(numeric_abs, d);
			if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, r2, absd)) >= 0)
				adjust = qsign;
		}
	}
	if (adjust != 0)
		quotient = DirectFunctionCall2(numeric_add, quotient,
									   DirectFunctionCall1(int8_numeric,
														   Int64GetDatum(adjust)));

	return allowance_new(a->vintage, numeric_to_tonnes(quotient, "division"));
}

/*
 * allowance_mul_round
 *		allowance * numeric and mul_round(): rounded half away from zero.
 */
Datum
allowance_mul_round(PG_FUNCTION_ARGS)
{
	PG_RETURN_ALLOWANCE_P(allowance_mul_internal(PG_GETARG_ALLOWANCE_P(0),
												 PG_GETARG_NUMERIC(1),
												 ALLOWANCE_ROUND_HALF_UP));
}

/*
 * allowance_numeric_mul_round
 *		numeric * allowance: rounded half away from zero.
 */
Datum
allowance_numeric_mul_round(PG_FUNCTION_ARGS)
{
	PG_RETURN_ALLOWANCE_P(allowance_mul_internal(PG_GETARG_ALLOWANCE_P(1),
												 PG_GETARG_NUMERIC(0),
												 ALLOWANCE_ROUND_HALF_UP));
}

/*
 * allowance_mul_floor
 *		mul_floor(): allowance * numeric rounded toward minus infinity.
 */
Datum
allowance_mul_floor(PG_FUNCTION_ARGS)
{
	PG_RETURN_ALLOWANCE_P(allowance_mul_internal(PG_GETARG_ALLOWANCE_P(0),
												 PG_GETARG_NUMERIC(1),
												 ALLOWANCE_ROUND_FLOOR));
}

/*
 * allowance_div_round
 *		allowance / numeric and div_round(): rounded half away from zero.
 */
Datum
allowance_div_round(PG_FUNCTION_ARGS)
{
	PG_RETURN_ALLOWANCE_P(allowance_div_internal(PG_GETARG_ALLOWANCE_P(0),
												 PG_GETARG_NUMERIC(1),
												 ALLOWANCE_ROUND_HALF_UP));
}

/*
 * allowance_div_floor
 *		div_floor(): allowance / numeric rounded toward minus infinity.
 */
Datum
allowance_div_floor(PG_FUNCTION_ARGS)
{
	PG_RETURN_ALLOWANCE_P(allowance_div_internal(PG_GETARG_ALLOWANCE_P(0),
												 PG_GETARG_NUMERIC(1),
												 ALLOWANCE_ROUND_FLOOR));
}

/* ----------------------------------------------------------------
 *	Comparison, btree and hash support
 * ----------------------------------------------------------------
 */

/*
 * allowance_eq
 *		Equality: same vintage and same tonnes.
 */
Datum
allowance_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) == 0);
}

/*
 * allowance_ne
 *		Inequality.
 */
Datum
allowance_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) != 0);
}

/*
 * allowance_lt
 *		Less than, ordering by (vintage, tonnes).
 */
Datum
allowance_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) < 0);
}

/*
 * allowance_le
 *		Less than or equal, ordering by (vintage, tonnes).
 */
Datum
allowance_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) <= 0);
}

/*
 * allowance_gt
 *		Greater than, ordering by (vintage, tonnes).
 */
Datum
allowance_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) > 0);
}

/*
 * allowance_ge
 *		Greater than or equal, ordering by (vintage, tonnes).
 */
Datum
allowance_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										  PG_GETARG_ALLOWANCE_P(1)) >= 0);
}

/*
 * allowance_cmp
 *		btree support function 1.
 */
Datum
allowance_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(allowance_cmp_internal(PG_GETARG_ALLOWANCE_P(0),
										   PG_GETARG_ALLOWANCE_P(1)));
}

/*
 * allowance_hash
 *		hash support function 1.  Hashes (vintage, 0, tonnes) so that the
 *		result never depends on the pad.
 */
Datum
allowance_hash(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	Allowance	key;

	memset(&key, 0, sizeof(key));
	key.vintage = a->vintage;
	key.tonnes = a->tonnes;
	return hash_any((const unsigned char *) &key, sizeof(key));
}

/*
 * allowance_hash_extended
 *		hash support function 2 (seeded 64-bit hash).
 */
Datum
allowance_hash_extended(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	Allowance	key;

	memset(&key, 0, sizeof(key));
	key.vintage = a->vintage;
	key.tonnes = a->tonnes;
	return hash_any_extended((const unsigned char *) &key, sizeof(key), seed);
}

/* ----------------------------------------------------------------
 *	Aggregate support
 * ----------------------------------------------------------------
 */

/*
 * allowance_smaller
 *		Transition function of min(allowance).
 */
Datum
allowance_smaller(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *b = PG_GETARG_ALLOWANCE_P(1);

	PG_RETURN_ALLOWANCE_P(allowance_cmp_internal(a, b) <= 0 ? a : b);
}

/*
 * allowance_larger
 *		Transition function of max(allowance).
 */
Datum
allowance_larger(PG_FUNCTION_ARGS)
{
	Allowance  *a = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *b = PG_GETARG_ALLOWANCE_P(1);

	PG_RETURN_ALLOWANCE_P(allowance_cmp_internal(a, b) >= 0 ? a : b);
}

/*
 * allowance_sum_accum
 *		Transition, combine and moving-transition function of sum(allowance).
 *
 * The state is an allowance.  The function is strict and the aggregate has
 * no initial value, so the executor copies the first input into the
 * aggregate memory context; after that, when called as an aggregate, the
 * state is updated in place and no memory is allocated per row.
 */
Datum
allowance_sum_accum(PG_FUNCTION_ARGS)
{
	Allowance  *state = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *value = PG_GETARG_ALLOWANCE_P(1);
	int64		tonnes;

	check_same_vintage(state, value, "sum");
	if (unlikely(pg_add_s64_overflow(state->tonnes, value->tonnes, &tonnes)))
		allowance_out_of_range("sum");

	if (AggCheckCallContext(fcinfo, NULL))
	{
		state->tonnes = tonnes;
		PG_RETURN_ALLOWANCE_P(state);
	}
	PG_RETURN_ALLOWANCE_P(allowance_new(state->vintage, tonnes));
}

/*
 * allowance_sum_inv
 *		Inverse moving-transition function of sum(allowance): removes a value
 *		that left the window frame.
 */
Datum
allowance_sum_inv(PG_FUNCTION_ARGS)
{
	Allowance  *state = PG_GETARG_ALLOWANCE_P(0);
	Allowance  *value = PG_GETARG_ALLOWANCE_P(1);
	int64		tonnes;

	check_same_vintage(state, value, "sum");
	if (unlikely(pg_sub_s64_overflow(state->tonnes, value->tonnes, &tonnes)))
		allowance_out_of_range("sum");

	if (AggCheckCallContext(fcinfo, NULL))
	{
		state->tonnes = tonnes;
		PG_RETURN_ALLOWANCE_P(state);
	}
	PG_RETURN_ALLOWANCE_P(allowance_new(state->vintage, tonnes));
}
