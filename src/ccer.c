/*-------------------------------------------------------------------------
 *
 * ccer.c
 *	  The ccer data type: a block of consecutive CCER (国家核证自愿减排量)
 *	  serial numbers of one project and vintage.
 *
 * Text form:	CCER:<project>:<vintage>:<first>-<last>
 * Binary form: int32 project length, project bytes (pq_sendtext), int32
 *				vintage, int64 first serial, int64 last serial.
 *
 * Every way of making a value (text input, binary input, the SQL
 * constructor, split_block and merge_blocks) ends in ccer_construct(),
 * which enforces the invariants: a project id of 1..CCER_MAX_PROJECT_LEN
 * characters of [A-Za-z0-9._-] folded to upper case, a vintage inside the
 * window of carbonmkt_check_vintage(), serials inside
 * CCER_MIN_SERIAL..CCER_MAX_SERIAL and first <= last.  Values are built
 * zero-filled with the exact size CCER_HDRSZ + strlen(project) + 1, so
 * equal values are also bytewise equal.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/ccer.c
 *
 *-------------------------------------------------------------------------
 */
/*
 * cppcheck explores a configuration with USE_ASSERT_CHECKING defined and then
 * reports a false positive (nullPointerRedundantCheck) in the inline
 * list_last_cell() of nodes/pg_list.h.  pg_config.h, included below, defines
 * the symbol again in --enable-cassert builds, so this changes nothing for
 * the compiler.
 */
#undef USE_ASSERT_CHECKING

#include "postgres.h"

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "carbonmkt.h"

#define CCER_SYNTAX_HINT \
	"Expected CCER:<project>:<vintage>:<first>-<last>, for example CCER:GD-OW-0042:2024:1-50000."

#define CCER_PROJECT_RULE \
	"A CCER project id is 1 to %d characters, each a letter A-Z or a-z, a digit 0-9, '.', '_' or '-'."

PG_FUNCTION_INFO_V1(ccer_in);
PG_FUNCTION_INFO_V1(ccer_out);
PG_FUNCTION_INFO_V1(ccer_recv);
PG_FUNCTION_INFO_V1(ccer_send);
PG_FUNCTION_INFO_V1(ccer_make);
PG_FUNCTION_INFO_V1(ccer_project);
PG_FUNCTION_INFO_V1(ccer_vintage);
PG_FUNCTION_INFO_V1(ccer_first_serial);
PG_FUNCTION_INFO_V1(ccer_last_serial);
PG_FUNCTION_INFO_V1(ccer_tonnes);
PG_FUNCTION_INFO_V1(ccer_eq);
PG_FUNCTION_INFO_V1(ccer_ne);
PG_FUNCTION_INFO_V1(ccer_lt);
PG_FUNCTION_INFO_V1(ccer_le);
PG_FUNCTION_INFO_V1(ccer_gt);
PG_FUNCTION_INFO_V1(ccer_ge);
PG_FUNCTION_INFO_V1(ccer_cmp);
PG_FUNCTION_INFO_V1(ccer_hash);
PG_FUNCTION_INFO_V1(ccer_hash_extended);
PG_FUNCTION_INFO_V1(ccer_overlaps);
PG_FUNCTION_INFO_V1(ccer_contains);
PG_FUNCTION_INFO_V1(ccer_contained_by);
PG_FUNCTION_INFO_V1(ccer_adjacent);
PG_FUNCTION_INFO_V1(ccer_split_block);
PG_FUNCTION_INFO_V1(ccer_merge_blocks);

/*
 * A number as written in a text literal: an optional minus sign and one or
 * more digits.  The value saturates; "overflow" says it went past "limit".
 */
typedef struct CcerNumber
{
	const char *text;			/* start of the literal, sign included */
	int			len;			/* its length in bytes */
	bool		negative;
	bool		overflow;		/* value exceeds the limit it was read for */
	int64		value;			/* valid unless overflow */
} CcerNumber;

/*
 * ccer_is_space
 *		The whitespace the text form accepts between fields.  Only ASCII, so
 *		the result does not depend on the locale or on multibyte encodings.
 */
static inline bool
ccer_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/*
 * ccer_is_project_char
 *		True for the characters a project id may contain.
 */
static inline bool
ccer_is_project_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/*
 * ccer_check_project
 *		Raise 22023 unless project[0..len) is a valid project id.
 *
 * The id need not be NUL-terminated and may contain NUL bytes (binary input
 * in a SQL_ASCII database): those are invalid characters like any other.
 */
static void
ccer_check_project(const char *project, int len)
{
	int			i;

	if (len <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CCER project id must not be empty"),
				 errdetail(CCER_PROJECT_RULE, CCER_MAX_PROJECT_LEN)));

	for (i = 0; i < len; i++)
	{
		if (!ccer_is_project_char(project[i]))
		{
			char	   *id = pnstrdup(project, len);
			int			clen;

			/* name the whole (possibly multibyte) character, never part */
			if (project[i] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("CCER project id contains a NUL byte"),
						 errdetail(CCER_PROJECT_RULE, CCER_MAX_PROJECT_LEN)));
			clen = pg_mblen(project + i);
			if (clen < 1 || clen > len - i)
				clen = 1;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid character \"%.*s\" in CCER project id \"%s\"",
							clen, project + i, id),
					 errdetail(CCER_PROJECT_RULE, CCER_MAX_PROJECT_LEN)));
		}
	}

	if (len > CCER_MAX_PROJECT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CCER project id \"%.*s\" is too long", len, project),
				 errdetail(CCER_PROJECT_RULE, CCER_MAX_PROJECT_LEN)));
}

/*
 * ccer_check_serial
 *		Raise 22003 unless serial lies in CCER_MIN_SERIAL..CCER_MAX_SERIAL.
 */
static void
ccer_check_serial(int64 serial)
{
	if (serial < CCER_MIN_SERIAL)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CCER serial numbers must not be negative: %lld",
						(long long) serial)));
	if (serial > CCER_MAX_SERIAL)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CCER serial number %lld is out of range",
						(long long) serial),
				 errdetail("CCER serial numbers must be between %lld and %lld.",
						   (long long) CCER_MIN_SERIAL,
						   (long long) CCER_MAX_SERIAL)));
}

/*
 * ccer_check_order
 *		Raise 22023 if the first serial of a block exceeds the last.
 */
static void
ccer_check_order(int64 first, int64 last)
{
	if (first > last)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CCER block first serial %lld is greater than last serial %lld",
						(long long) first, (long long) last)));
}

/*
 * ccer_construct
 *		Validate the parts of a block and build the value.
 *
 * project[0..projlen) need not be NUL-terminated; it is folded to upper
 * case.  Checks run in a fixed order (project, vintage, serials, order) so
 * that every entry point reports the same error for the same bad block.
 */
static Ccer *
ccer_construct(const char *project, int projlen, int32 vintage,
			   int64 first, int64 last)
{
	Ccer	   *result;
	Size		size;
	int			i;

	ccer_check_project(project, projlen);
	carbonmkt_check_vintage(vintage, "CCER vintage");
	ccer_check_serial(first);
	ccer_check_serial(last);
	ccer_check_order(first, last);

	size = CCER_HDRSZ + projlen + 1;
	result = (Ccer *) palloc0(size);
	SET_VARSIZE(result, size);
	result->vintage = vintage;
	result->first_serial = first;
	result->last_serial = last;
	for (i = 0; i < projlen; i++)
	{
		char		c = project[i];

		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		result->project[i] = c;
	}
	result->project[projlen] = '\0';

	return result;
}

/*
 * ccer_to_cstring
 *		The canonical text form of a block.
 */
static char *
ccer_to_cstring(const Ccer *c)
{
	return psprintf("CCER:%s:%d:%lld-%lld", c->project, c->vintage,
					(long long) c->first_serial, (long long) c->last_serial);
}

/*
 * ccer_syntax_error
 *		Raise 22P02 for a malformed literal, with a detail saying what is wrong.
 */
static void
ccer_syntax_error(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", "ccer", input),
			 errdetail_internal("%s", detail),
			 errhint(CCER_SYNTAX_HINT)));
}

/*
 * ccer_parse_number
 *		Read [-]digits from s[0..len); return the number of bytes consumed, or
 *		0 if there are no digits.  Values above "limit" set overflow.
 */
static int
ccer_parse_number(const char *s, int len, int64 limit, CcerNumber *num)
{
	int			i = 0;

	num->text = s;
	num->negative = false;
	num->overflow = false;
	num->value = 0;

	if (i < len && s[i] == '-')
	{
		num->negative = true;
		i++;
	}
	if (i >= len || s[i] < '0' || s[i] > '9')
		return 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
	{
		int			digit = s[i] - '0';

		if (!num->overflow)
		{
			if (num->value > (limit - digit) / 10)
				num->overflow = true;
			else
				num->value = num->value * 10 + digit;
		}
		i++;
	}
	num->len = i;
	return i;
}

/*
 * ccer_check_serial_literal
 *		The range checks of ccer_check_serial for a serial as written, so that
 *		values beyond int64 are reported as typed.
 */
static void
ccer_check_serial_literal(const CcerNumber *num)
{
	if (num->negative)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CCER serial numbers must not be negative: %.*s",
						num->len, num->text)));
	if (num->overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CCER serial number %.*s is out of range",
						num->len, num->text),
				 errdetail("CCER serial numbers must be between %lld and %lld.",
						   (long long) CCER_MIN_SERIAL,
						   (long long) CCER_MAX_SERIAL)));
}

/*
 * ccer_in
 *		Text input.
 *
 * Accepted: optional whitespace, an optional case-insensitive CCER prefix,
 * then project, vintage and serial range.  Fields are separated by a colon
 * (with optional whitespace around it) or by whitespace alone.  The range is
 * first-last, first..last or a single serial.  With four fields the first
 * must be the prefix; with three there is no prefix, and a project named
 * CCER must then be written in the prefixed form (CCER:CCER:...), because
 * "CCER:2024:1-5" is more likely a literal missing its project.
 */
Datum
ccer_in(PG_FUNCTION_ARGS)
{
	char	   *input = PG_GETARG_CSTRING(0);
	const char *fstart[5];
	int			flen[5];
	int			nfields = 0;
	const char *p = input;
	const char *project;
	int			projlen;
	const char *vtext;
	int			vlen;
	const char *rtext;
	int			rlen;
	CcerNumber	vnum;
	CcerNumber	first;
	CcerNumber	last;
	int			pos;
	int			n;

	while (ccer_is_space(*p))
		p++;
	if (*p == '\0')
		ccer_syntax_error(input, "The literal is empty.");

	/* split into fields; remember the first five, count them all */
	for (;;)
	{
		const char *start = p;
		const char *q;

		while (*p != '\0' && *p != ':' && !ccer_is_space(*p))
			p++;
		if (nfields < 5)
		{
			fstart[nfields] = start;
			flen[nfields] = (int) (p - start);
		}
		nfields++;

		q = p;
		while (ccer_is_space(*q))
			q++;
		if (*q == ':')
		{
			q++;
			while (ccer_is_space(*q))
				q++;
		}
		else if (*q == '\0')
			break;
		p = q;
	}

	if (nfields != 3 && nfields != 4)
		ccer_syntax_error(input,
						  psprintf("A CCER literal has three fields (project, vintage and serial range) after an optional CCER prefix, but this one has %d.",
								   nfields));
	if (nfields == 4)
	{
		if (flen[0] != 4 || pg_strncasecmp(fstart[0], "CCER", 4) != 0)
			ccer_syntax_error(input,
							  psprintf("The first of four fields must be the prefix CCER, not \"%.*s\".",
									   flen[0], fstart[0]));
		project = fstart[1];
		projlen = flen[1];
		vtext = fstart[2];
		vlen = flen[2];
		rtext = fstart[3];
		rlen = flen[3];
	}
	else
	{
		if (flen[0] == 4 && pg_strncasecmp(fstart[0], "CCER", 4) == 0)
			ccer_syntax_error(input,
							  "Three fields were given and the first is CCER, so a field is missing. A project named CCER must be written with the prefix, as in CCER:CCER:2024:1-100.");
		project = fstart[0];
		projlen = flen[0];
		vtext = fstart[1];
		vlen = flen[1];
		rtext = fstart[2];
		rlen = flen[2];
	}

	/* vintage: [-]digits */
	if (vlen == 0)
		ccer_syntax_error(input, "The vintage is missing.");
	if (ccer_parse_number(vtext, vlen, PG_INT32_MAX, &vnum) != vlen)
		ccer_syntax_error(input,
						  psprintf("The vintage \"%.*s\" is not an integer.",
								   vlen, vtext));

	/* range: first-last, first..last or a single serial */
	if (rlen == 0)
		ccer_syntax_error(input, "The serial range is missing.");
	pos = ccer_parse_number(rtext, rlen, CCER_MAX_SERIAL, &first);
	if (pos == 0)
		n = -1;
	else if (pos == rlen)
	{
		last = first;
		n = 0;
	}
	else
	{
		if (rtext[pos] == '-')
			pos += 1;
		else if (pos + 1 < rlen && rtext[pos] == '.' && rtext[pos + 1] == '.')
			pos += 2;
		else
			pos = -1;
		n = (pos < 0) ? 0 : ccer_parse_number(rtext + pos, rlen - pos,
											   CCER_MAX_SERIAL, &last);
		if (pos < 0 || n == 0 || pos + n != rlen)
			n = -1;
	}
	if (n < 0)
		ccer_syntax_error(input,
						  psprintf("The serial range \"%.*s\" is not of the form <first>-<last>, <first>..<last> or <serial>.",
								   rlen, rtext));

	/* the literal is well formed; now the values, in ccer_construct order */
	ccer_check_project(project, projlen);
	if (vnum.overflow || vnum.negative)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %.*s is out of range", "CCER vintage",
						vnum.len, vnum.text),
				 errdetail("Vintages must be between %d and %d.",
						   CARBONMKT_MIN_VINTAGE, CARBONMKT_MAX_VINTAGE)));
	carbonmkt_check_vintage((int32) vnum.value, "CCER vintage");
	ccer_check_serial_literal(&first);
	ccer_check_serial_literal(&last);

	PG_RETURN_CCER_P(ccer_construct(project, projlen, (int32) vnum.value,
									first.value, last.value));
}

/*
 * ccer_out
 *		Text output: CCER:<project>:<vintage>:<first>-<last>.
 */
Datum
ccer_out(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_CSTRING(ccer_to_cstring(c));
}

/*
 * ccer_recv
 *		Binary input: int32 project length, project text, int32 vintage,
 *		int64 first serial, int64 last serial.  Validated like the constructor.
 */
Datum
ccer_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			rawlen;
	int			projlen;
	char	   *project;
	int32		vintage;
	int64		first;
	int64		last;

	rawlen = pq_getmsgint(buf, 4);
	project = pq_getmsgtext(buf, rawlen, &projlen);
	vintage = pq_getmsgint(buf, 4);
	first = pq_getmsgint64(buf);
	last = pq_getmsgint64(buf);

	PG_RETURN_CCER_P(ccer_construct(project, projlen, vintage, first, last));
}

/*
 * ccer_send
 *		Binary output; see ccer_recv.
 */
Datum
ccer_send(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);
	StringInfoData buf;
	int			projlen = strlen(c->project);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, projlen);
	pq_sendtext(&buf, c->project, projlen);
	pq_sendint32(&buf, c->vintage);
	pq_sendint64(&buf, c->first_serial);
	pq_sendint64(&buf, c->last_serial);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * ccer_make
 *		ccer(project text, vintage int, first_serial bigint, last_serial bigint)
 */
Datum
ccer_make(PG_FUNCTION_ARGS)
{
	text	   *project = PG_GETARG_TEXT_PP(0);
	int32		vintage = PG_GETARG_INT32(1);
	int64		first = PG_GETARG_INT64(2);
	int64		last = PG_GETARG_INT64(3);

	PG_RETURN_CCER_P(ccer_construct(VARDATA_ANY(project),
									VARSIZE_ANY_EXHDR(project),
									vintage, first, last));
}

/*
 * Accessors.
 */
Datum
ccer_project(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(c->project));
}

Datum
ccer_vintage(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_INT32(c->vintage);
}

Datum
ccer_first_serial(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_INT64(c->first_serial);
}

Datum
ccer_last_serial(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_INT64(c->last_serial);
}

Datum
ccer_tonnes(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);

	PG_RETURN_INT64(CcerTonnes(c));
}

/*
 * ccer_compare
 *		Total order: project (bytewise), vintage, first serial, last serial.
 */
static int
ccer_compare(const Ccer *a, const Ccer *b)
{
	int			r = strcmp(a->project, b->project);

	if (r != 0)
		return (r < 0) ? -1 : 1;
	if (a->vintage != b->vintage)
		return (a->vintage < b->vintage) ? -1 : 1;
	if (a->first_serial != b->first_serial)
		return (a->first_serial < b->first_serial) ? -1 : 1;
	if (a->last_serial != b->last_serial)
		return (a->last_serial < b->last_serial) ? -1 : 1;
	return 0;
}

/*
 * ccer_same_lot
 *		True if both blocks belong to the same project and vintage.
 */
static inline bool
ccer_same_lot(const Ccer *a, const Ccer *b)
{
	return a->vintage == b->vintage && strcmp(a->project, b->project) == 0;
}

Datum
ccer_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) == 0);
}

Datum
ccer_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) != 0);
}

Datum
ccer_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) < 0);
}

Datum
ccer_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) <= 0);
}

Datum
ccer_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) > 0);
}

Datum
ccer_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)) >= 0);
}

Datum
ccer_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ccer_compare(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)));
}

/*
 * ccer_hash_int64
 *		Reduce an int64 to 32 bits the way hashint8 does, so that the hash
 *		does not depend on byte order.
 */
static inline uint32
ccer_fold_int64(int64 v)
{
	uint32		lohalf = (uint32) v;
	uint32		hihalf = (uint32) (v >> 32);

	return lohalf ^ ((v >= 0) ? hihalf : ~hihalf);
}

/*
 * ccer_hash
 *		Hash support: combines the hashes of all four fields, so equal blocks
 *		(ccer_compare() == 0) hash equally.
 */
Datum
ccer_hash(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);
	uint32		h;

	h = DatumGetUInt32(hash_any((const unsigned char *) c->project,
								strlen(c->project)));
	h = hash_combine(h, DatumGetUInt32(hash_uint32((uint32) c->vintage)));
	h = hash_combine(h, DatumGetUInt32(hash_uint32(ccer_fold_int64(c->first_serial))));
	h = hash_combine(h, DatumGetUInt32(hash_uint32(ccer_fold_int64(c->last_serial))));
	PG_RETURN_UINT32(h);
}

/*
 * ccer_hash_extended
 *		64-bit seeded hash support; with seed 0 its low 32 bits need not match
 *		ccer_hash (only hash partitioning uses it, consistently).
 */
Datum
ccer_hash_extended(PG_FUNCTION_ARGS)
{
	Ccer	   *c = PG_GETARG_CCER_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	uint64		h;

	h = DatumGetUInt64(hash_any_extended((const unsigned char *) c->project,
										 strlen(c->project), seed));
	h = hash_combine64(h, DatumGetUInt64(hash_uint32_extended((uint32) c->vintage, seed)));
	h = hash_combine64(h, DatumGetUInt64(hash_uint32_extended(ccer_fold_int64(c->first_serial), seed)));
	h = hash_combine64(h, DatumGetUInt64(hash_uint32_extended(ccer_fold_int64(c->last_serial), seed)));
	PG_RETURN_UINT64(h);
}

/*
 * ccer_overlaps
 *		a && b: same project and vintage, and the serial ranges intersect.
 */
Datum
ccer_overlaps(PG_FUNCTION_ARGS)
{
	Ccer	   *a = PG_GETARG_CCER_P(0);
	Ccer	   *b = PG_GETARG_CCER_P(1);

	PG_RETURN_BOOL(ccer_same_lot(a, b) &&
				   a->first_serial <= b->last_serial &&
				   b->first_serial <= a->last_serial);
}

/*
 * ccer_contains
 *		a @> b: same project and vintage, and every serial of b is in a.
 */
Datum
ccer_contains(PG_FUNCTION_ARGS)
{
	Ccer	   *a = PG_GETARG_CCER_P(0);
	Ccer	   *b = PG_GETARG_CCER_P(1);

	PG_RETURN_BOOL(ccer_same_lot(a, b) &&
				   a->first_serial <= b->first_serial &&
				   b->last_serial <= a->last_serial);
}

/*
 * ccer_contained_by
 *		a <@ b: b @> a.
 */
Datum
ccer_contained_by(PG_FUNCTION_ARGS)
{
	Ccer	   *a = PG_GETARG_CCER_P(0);
	Ccer	   *b = PG_GETARG_CCER_P(1);

	PG_RETURN_BOOL(ccer_same_lot(a, b) &&
				   b->first_serial <= a->first_serial &&
				   a->last_serial <= b->last_serial);
}

/*
 * ccer_is_adjacent
 *		Same project and vintage, and one block ends just before the other
 *		begins.  Serials are at most 10^18 - 1, so last + 1 cannot overflow.
 */
static bool
ccer_is_adjacent(const Ccer *a, const Ccer *b)
{
	return ccer_same_lot(a, b) &&
		(a->last_serial + 1 == b->first_serial ||
		 b->last_serial + 1 == a->first_serial);
}

/*
 * ccer_adjacent
 *		a -|- b
 */
Datum
ccer_adjacent(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ccer_is_adjacent(PG_GETARG_CCER_P(0), PG_GETARG_CCER_P(1)));
}

/*
 * ccer_split_block
 *		split_block(block, n, OUT head, OUT tail): the first n tonnes (lowest
 *		serials) and the rest, or NULL when n is the whole block.
 */
Datum
ccer_split_block(PG_FUNCTION_ARGS)
{
	Ccer	   *block = PG_GETARG_CCER_P(0);
	int64		n = PG_GETARG_INT64(1);
	int64		tonnes = CcerTonnes(block);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			projlen = strlen(block->project);

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot split %lld tonnes off a CCER block",
						(long long) n),
				 errdetail("The number of tonnes to split off must be at least 1.")));
	if (n > tonnes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("cannot split %lld tonnes off CCER block %s of %lld tonne",
							   "cannot split %lld tonnes off CCER block %s of %lld tonnes",
							   tonnes,
							   (long long) n, ccer_to_cstring(block),
							   (long long) tonnes)));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = CcerPGetDatum(ccer_construct(block->project, projlen,
											 block->vintage,
											 block->first_serial,
											 block->first_serial + n - 1));
	if (n == tonnes)
	{
		values[1] = (Datum) 0;
		nulls[1] = true;
	}
	else
		values[1] = CcerPGetDatum(ccer_construct(block->project, projlen,
												 block->vintage,
												 block->first_serial + n,
												 block->last_serial));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * ccer_merge_blocks
 *		merge_blocks(a, b): the union of two adjacent blocks, in either order.
 */
Datum
ccer_merge_blocks(PG_FUNCTION_ARGS)
{
	Ccer	   *a = PG_GETARG_CCER_P(0);
	Ccer	   *b = PG_GETARG_CCER_P(1);
	const char *why;

	if (ccer_is_adjacent(a, b))
	{
		const Ccer *lo = (a->first_serial < b->first_serial) ? a : b;
		const Ccer *hi = (lo == a) ? b : a;

		PG_RETURN_CCER_P(ccer_construct(lo->project, strlen(lo->project),
										lo->vintage, lo->first_serial,
										hi->last_serial));
	}

	if (strcmp(a->project, b->project) != 0)
		why = "The blocks belong to different projects.";
	else if (a->vintage != b->vintage)
		why = "The blocks have different vintages.";
	else if (a->first_serial <= b->last_serial &&
			 b->first_serial <= a->last_serial)
		why = "The blocks overlap.";
	else
		why = "There is a gap between the blocks.";

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cannot merge CCER blocks %s and %s: they are not adjacent",
					ccer_to_cstring(a), ccer_to_cstring(b)),
			 errdetail_internal("%s", why)));
	PG_RETURN_NULL();			/* keep compiler quiet */
}
