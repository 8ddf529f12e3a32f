/*-------------------------------------------------------------------------
 *
 * ccer_gist.c
 *	  GiST support for the ccer type (operator class ccer_gist_ops).
 *
 * All CCER serials are totally ordered by (project, vintage, serial), with
 * projects compared bytewise.  In that order a block is an interval, and a
 * GiST key (type ccer_gistkey) is an interval [lo, hi] of points: at a leaf
 * the block itself, on an internal page the smallest interval enclosing
 * its children.  Blocks that share a serial share a point, so any block
 * overlapping a query lies under keys that intersect the query's interval;
 * that makes consistent() conservative on internal pages and exact at
 * leaves, and lets EXCLUDE USING gist (block WITH &&) refuse duplicate
 * serials.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/ccer_gist.c
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

#include "access/gist.h"
#include "access/stratnum.h"
#include "fmgr.h"

#include "carbonmkt.h"

/*
 * The key: lo and hi points.  data holds the lo project, NUL-terminated,
 * then, unless hi_offset is 0, the hi project at data + hi_offset.  A
 * hi_offset of 0 means both ends are in the same project (always true at
 * leaves), which keeps leaf keys small.
 */
typedef struct CcerGistKey
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		lo_vintage;
	int32		hi_vintage;
	int32		hi_offset;		/* 0: hi project = lo project */
	int64		lo_serial;
	int64		hi_serial;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} CcerGistKey;

#define CCER_GISTKEY_HDRSZ		offsetof(CcerGistKey, data)
#define DatumGetCcerGistKeyP(X)	((CcerGistKey *) PG_DETOAST_DATUM(X))
#define CcerGistKeyHiProject(k) \
	((k)->hi_offset == 0 ? (k)->data : (k)->data + (k)->hi_offset)

/* A point of the total order */
typedef struct CcerPoint
{
	const char *project;
	int32		vintage;
	int64		serial;
} CcerPoint;

PG_FUNCTION_INFO_V1(ccer_gistkey_in);
PG_FUNCTION_INFO_V1(ccer_gistkey_out);
PG_FUNCTION_INFO_V1(ccer_gist_consistent);
PG_FUNCTION_INFO_V1(ccer_gist_union);
PG_FUNCTION_INFO_V1(ccer_gist_compress);
PG_FUNCTION_INFO_V1(ccer_gist_decompress);
PG_FUNCTION_INFO_V1(ccer_gist_penalty);
PG_FUNCTION_INFO_V1(ccer_gist_picksplit);
PG_FUNCTION_INFO_V1(ccer_gist_same);
PG_FUNCTION_INFO_V1(ccer_gist_fetch);

/*
 * ccer_gistkey_in, ccer_gistkey_out
 *		The key type exists only inside indexes; it has no text form.
 */
Datum
ccer_gistkey_in(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot accept a value of type %s", "ccer_gistkey"),
			 errdetail("The type is used only inside GiST indexes on ccer.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

Datum
ccer_gistkey_out(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot display a value of type %s", "ccer_gistkey"),
			 errdetail("The type is used only inside GiST indexes on ccer.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * ccer_point_cmp
 *		Compare two points of the total order.
 */
static int
ccer_point_cmp(const CcerPoint *a, const CcerPoint *b)
{
	int			r = strcmp(a->project, b->project);

	if (r != 0)
		return (r < 0) ? -1 : 1;
	if (a->vintage != b->vintage)
		return (a->vintage < b->vintage) ? -1 : 1;
	if (a->serial != b->serial)
		return (a->serial < b->serial) ? -1 : 1;
	return 0;
}

static inline void
ccer_key_lo(const CcerGistKey *k, CcerPoint *p)
{
	p->project = k->data;
	p->vintage = k->lo_vintage;
	p->serial = k->lo_serial;
}

static inline void
ccer_key_hi(const CcerGistKey *k, CcerPoint *p)
{
	p->project = CcerGistKeyHiProject(k);
	p->vintage = k->hi_vintage;
	p->serial = k->hi_serial;
}

/*
 * ccer_key_make
 *		Build a key from its two end points.
 */
static CcerGistKey *
ccer_key_make(const CcerPoint *lo, const CcerPoint *hi)
{
	int			lolen = strlen(lo->project);
	bool		same = (strcmp(lo->project, hi->project) == 0);
	int			hilen = same ? 0 : strlen(hi->project) + 1;
	Size		size = CCER_GISTKEY_HDRSZ + lolen + 1 + hilen;
	CcerGistKey *k = (CcerGistKey *) palloc0(size);

	SET_VARSIZE(k, size);
	k->lo_vintage = lo->vintage;
	k->hi_vintage = hi->vintage;
	k->lo_serial = lo->serial;
	k->hi_serial = hi->serial;
	memcpy(k->data, lo->project, lolen + 1);
	if (same)
		k->hi_offset = 0;
	else
	{
		k->hi_offset = lolen + 1;
		memcpy(k->data + lolen + 1, hi->project, hilen);
	}
	return k;
}

/*
 * ccer_key_contains_point
 *		lo <= p <= hi
 */
static bool
ccer_key_contains_point(const CcerGistKey *k, const CcerPoint *p)
{
	CcerPoint	lo;
	CcerPoint	hi;

	ccer_key_lo(k, &lo);
	ccer_key_hi(k, &hi);
	return ccer_point_cmp(&lo, p) <= 0 && ccer_point_cmp(p, &hi) <= 0;
}

/*
 * ccer_gist_consistent
 *		Can the key, or an entry below it, satisfy "entry <op> query"?
 *
 * At a leaf the key is exactly the indexed block (lo and hi share project
 * and vintage), so the answer is exact and no recheck is needed.  On an
 * internal page the key encloses every point of every block below it:
 *	&& and <@	a block below shares a point with the query, so the key's
 *				interval intersects the query's;
 *	@> and =	a block below contains the query, so the key does too;
 *	-|-			a block below ends at first - 1 or starts at last + 1 of the
 *				query, so the key contains one of those two points.
 */
Datum
ccer_gist_consistent(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	Ccer	   *query = PG_GETARG_CCER_P(1);
	StrategyNumber strategy = (StrategyNumber) PG_GETARG_UINT16(2);

	/* Oid		subtype = PG_GETARG_OID(3); */
	bool	   *recheck = (bool *) PG_GETARG_POINTER(4);
	CcerGistKey *key = DatumGetCcerGistKeyP(entry->key);
	CcerPoint	qlo = {query->project, query->vintage, query->first_serial};
	CcerPoint	qhi = {query->project, query->vintage, query->last_serial};
	CcerPoint	klo;
	CcerPoint	khi;
	bool		result;

	*recheck = false;
	ccer_key_lo(key, &klo);
	ccer_key_hi(key, &khi);

	if (GIST_LEAF(entry))
	{
		bool		same_lot = (klo.vintage == query->vintage &&
								strcmp(klo.project, query->project) == 0);
		int64		first = klo.serial;
		int64		last = khi.serial;

		switch (strategy)
		{
			case RTOverlapStrategyNumber:
				result = same_lot && first <= query->last_serial &&
					query->first_serial <= last;
				break;
			case RTContainsStrategyNumber:
				result = same_lot && first <= query->first_serial &&
					query->last_serial <= last;
				break;
			case RTContainedByStrategyNumber:
				result = same_lot && query->first_serial <= first &&
					last <= query->last_serial;
				break;
			case RTEqualStrategyNumber:
				result = same_lot && first == query->first_serial &&
					last == query->last_serial;
				break;
			case RTAdjacentStrategyNumber:
				result = same_lot && (last + 1 == query->first_serial ||
									  query->last_serial + 1 == first);
				break;
			default:
				elog(ERROR, "unrecognized ccer GiST strategy number: %d",
					 strategy);
				result = false; /* keep compiler quiet */
				break;
		}
	}
	else
	{
		switch (strategy)
		{
			case RTOverlapStrategyNumber:
			case RTContainedByStrategyNumber:
				result = ccer_point_cmp(&klo, &qhi) <= 0 &&
					ccer_point_cmp(&qlo, &khi) <= 0;
				break;
			case RTContainsStrategyNumber:
			case RTEqualStrategyNumber:
				result = ccer_point_cmp(&klo, &qlo) <= 0 &&
					ccer_point_cmp(&qhi, &khi) <= 0;
				break;
			case RTAdjacentStrategyNumber:
				{
					CcerPoint	before = qlo;
					CcerPoint	after = qhi;

					before.serial -= 1;
					after.serial += 1;
					result = ccer_key_contains_point(key, &before) ||
						ccer_key_contains_point(key, &after);
				}
				break;
			default:
				elog(ERROR, "unrecognized ccer GiST strategy number: %d",
					 strategy);
				result = false; /* keep compiler quiet */
				break;
		}
	}

	PG_RETURN_BOOL(result);
}

/*
 * ccer_gist_union
 *		The smallest interval enclosing all the entries.
 */
Datum
ccer_gist_union(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	int		   *sizep = (int *) PG_GETARG_POINTER(1);
	CcerPoint	lo;
	CcerPoint	hi;
	CcerGistKey *result;
	CcerGistKey *k;
	int			i;

	Assert(entryvec->n > 0);
	k = DatumGetCcerGistKeyP(entryvec->vector[0].key);
	ccer_key_lo(k, &lo);
	ccer_key_hi(k, &hi);
	for (i = 1; i < entryvec->n; i++)
	{
		CcerPoint	klo;
		CcerPoint	khi;

		k = DatumGetCcerGistKeyP(entryvec->vector[i].key);
		ccer_key_lo(k, &klo);
		ccer_key_hi(k, &khi);
		if (ccer_point_cmp(&klo, &lo) < 0)
			lo = klo;
		if (ccer_point_cmp(&khi, &hi) > 0)
			hi = khi;
	}

	result = ccer_key_make(&lo, &hi);
	*sizep = VARSIZE(result);
	PG_RETURN_POINTER(result);
}

/*
 * ccer_gist_compress
 *		Leaf values (ccer) become keys [(p, v, first), (p, v, last)].
 */
Datum
ccer_gist_compress(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);

	if (entry->leafkey)
	{
		Ccer	   *c = DatumGetCcerP(entry->key);
		CcerPoint	lo = {c->project, c->vintage, c->first_serial};
		CcerPoint	hi = {c->project, c->vintage, c->last_serial};
		GISTENTRY  *retval = (GISTENTRY *) palloc(sizeof(GISTENTRY));

		gistentryinit(*retval, PointerGetDatum(ccer_key_make(&lo, &hi)),
					  entry->rel, entry->page, entry->offset, false);
		PG_RETURN_POINTER(retval);
	}
	PG_RETURN_POINTER(entry);
}

/*
 * ccer_gist_decompress
 *		Keys are stored plain, but detoast defensively.
 */
Datum
ccer_gist_decompress(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	struct varlena *key = PG_DETOAST_DATUM(entry->key);

	if (PointerGetDatum(key) != entry->key)
	{
		GISTENTRY  *retval = (GISTENTRY *) palloc(sizeof(GISTENTRY));

		gistentryinit(*retval, PointerGetDatum(key),
					  entry->rel, entry->page, entry->offset, false);
		PG_RETURN_POINTER(retval);
	}
	PG_RETURN_POINTER(entry);
}

/*
 * ccer_gist_fetch
 *		Rebuild the ccer from a leaf key, for index-only scans.
 */
Datum
ccer_gist_fetch(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	CcerGistKey *k = DatumGetCcerGistKeyP(entry->key);
	int			projlen = strlen(k->data);
	Size		size = CCER_HDRSZ + projlen + 1;
	Ccer	   *c = (Ccer *) palloc0(size);
	GISTENTRY  *retval = (GISTENTRY *) palloc(sizeof(GISTENTRY));

	SET_VARSIZE(c, size);
	c->vintage = k->lo_vintage;
	c->first_serial = k->lo_serial;
	c->last_serial = k->hi_serial;
	memcpy(c->project, k->data, projlen + 1);

	gistentryinit(*retval, CcerPGetDatum(c),
				  entry->rel, entry->page, entry->offset, false);
	PG_RETURN_POINTER(retval);
}

/*
 * ccer_point_distance
 *		How far apart two points a <= b are, on a scale where any change of
 *		project outweighs any change of vintage, which outweighs any serial
 *		distance (at most 10^18).  Projects differing earlier are farther.
 */
static double
ccer_point_distance(const CcerPoint *a, const CcerPoint *b)
{
	if (strcmp(a->project, b->project) != 0)
	{
		int			i = 0;
		int			d;

		while (a->project[i] == b->project[i])
			i++;
		d = Abs((int) (unsigned char) b->project[i] -
				(int) (unsigned char) a->project[i]);
		return 1e25 * ((CCER_MAX_PROJECT_LEN + 1 - i) + d / 256.0);
	}
	if (a->vintage != b->vintage)
		return 1e20 * Abs((double) b->vintage - (double) a->vintage);
	return Abs((double) b->serial - (double) a->serial);
}

/*
 * ccer_gist_penalty
 *		How much the original key must grow to take in the new one: 0 if it
 *		already encloses it, else the distance each end has to move.
 */
Datum
ccer_gist_penalty(PG_FUNCTION_ARGS)
{
	GISTENTRY  *origentry = (GISTENTRY *) PG_GETARG_POINTER(0);
	GISTENTRY  *newentry = (GISTENTRY *) PG_GETARG_POINTER(1);
	void	   *penaltyp = PG_GETARG_POINTER(2);
	float	   *penalty = penaltyp;
	CcerGistKey *orig = DatumGetCcerGistKeyP(origentry->key);
	CcerGistKey *new = DatumGetCcerGistKeyP(newentry->key);
	CcerPoint	olo;
	CcerPoint	ohi;
	CcerPoint	nlo;
	CcerPoint	nhi;
	double		grow = 0.0;

	ccer_key_lo(orig, &olo);
	ccer_key_hi(orig, &ohi);
	ccer_key_lo(new, &nlo);
	ccer_key_hi(new, &nhi);

	if (ccer_point_cmp(&nlo, &olo) < 0)
		grow += ccer_point_distance(&nlo, &olo);
	if (ccer_point_cmp(&ohi, &nhi) < 0)
		grow += ccer_point_distance(&ohi, &nhi);

	*penalty = (float) grow;
	PG_RETURN_POINTER(penalty);
}

/* an entry being sorted by picksplit */
typedef struct CcerSplitItem
{
	OffsetNumber offset;
	CcerGistKey *key;
} CcerSplitItem;

/*
 * ccer_split_item_cmp
 *		qsort comparator: by lower bound, then upper bound.
 */
static int
ccer_split_item_cmp(const void *a, const void *b)
{
	const CcerGistKey *ka = ((const CcerSplitItem *) a)->key;
	const CcerGistKey *kb = ((const CcerSplitItem *) b)->key;
	CcerPoint	pa;
	CcerPoint	pb;
	int			r;

	ccer_key_lo(ka, &pa);
	ccer_key_lo(kb, &pb);
	r = ccer_point_cmp(&pa, &pb);
	if (r != 0)
		return r;
	ccer_key_hi(ka, &pa);
	ccer_key_hi(kb, &pb);
	return ccer_point_cmp(&pa, &pb);
}

/*
 * ccer_split_union
 *		Key enclosing items[0..n).
 */
static CcerGistKey *
ccer_split_union(const CcerSplitItem *items, int n)
{
	CcerPoint	lo;
	CcerPoint	hi;
	int			i;

	ccer_key_lo(items[0].key, &lo);
	ccer_key_hi(items[0].key, &hi);
	for (i = 1; i < n; i++)
	{
		CcerPoint	khi;

		/* items are sorted by lower bound, so only hi can move */
		ccer_key_hi(items[i].key, &khi);
		if (ccer_point_cmp(&khi, &hi) > 0)
			hi = khi;
	}
	return ccer_key_make(&lo, &hi);
}

/*
 * ccer_gist_picksplit
 *		Sort the entries by lower bound and cut the sequence in the middle,
 *		like the "single sort" split of range types: neighbours in the order
 *		stay together, and for non-overlapping blocks (an EXCLUDE table) the
 *		two halves do not overlap either.
 */
Datum
ccer_gist_picksplit(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	GIST_SPLITVEC *v = (GIST_SPLITVEC *) PG_GETARG_POINTER(1);
	OffsetNumber maxoff = entryvec->n - 1;
	int			nitems = maxoff - FirstOffsetNumber + 1;
	CcerSplitItem *items = (CcerSplitItem *) palloc(nitems * sizeof(CcerSplitItem));
	Size		nbytes = (maxoff + 2) * sizeof(OffsetNumber);
	OffsetNumber i;
	int			nleft;
	int			j;

	for (i = FirstOffsetNumber; i <= maxoff; i = OffsetNumberNext(i))
	{
		items[i - FirstOffsetNumber].offset = i;
		items[i - FirstOffsetNumber].key =
			DatumGetCcerGistKeyP(entryvec->vector[i].key);
	}
	qsort(items, nitems, sizeof(CcerSplitItem), ccer_split_item_cmp);

	nleft = nitems / 2;
	if (nleft < 1)
		nleft = 1;

	v->spl_left = (OffsetNumber *) palloc(nbytes);
	v->spl_right = (OffsetNumber *) palloc(nbytes);
	v->spl_nleft = 0;
	v->spl_nright = 0;
	for (j = 0; j < nitems; j++)
	{
		if (j < nleft)
			v->spl_left[v->spl_nleft++] = items[j].offset;
		else
			v->spl_right[v->spl_nright++] = items[j].offset;
	}
	v->spl_ldatum = PointerGetDatum(ccer_split_union(items, nleft));
	v->spl_rdatum = (nitems > nleft) ?
		PointerGetDatum(ccer_split_union(items + nleft, nitems - nleft)) :
		v->spl_ldatum;

	PG_RETURN_POINTER(v);
}

/*
 * ccer_gist_same
 *		Do two keys denote the same interval?
 */
Datum
ccer_gist_same(PG_FUNCTION_ARGS)
{
	CcerGistKey *a = DatumGetCcerGistKeyP(PG_GETARG_DATUM(0));
	CcerGistKey *b = DatumGetCcerGistKeyP(PG_GETARG_DATUM(1));
	bool	   *result = (bool *) PG_GETARG_POINTER(2);
	CcerPoint	pa;
	CcerPoint	pb;

	ccer_key_lo(a, &pa);
	ccer_key_lo(b, &pb);
	*result = (ccer_point_cmp(&pa, &pb) == 0);
	if (*result)
	{
		ccer_key_hi(a, &pa);
		ccer_key_hi(b, &pb);
		*result = (ccer_point_cmp(&pa, &pb) == 0);
	}
	PG_RETURN_POINTER(result);
}
