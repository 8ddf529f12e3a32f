/*-------------------------------------------------------------------------
 *
 * carbonmkt.h
 *	  Declarations shared by the rooms of the carbonmkt extension.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/carbonmkt.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CARBONMKT_H
#define CARBONMKT_H

#include "postgres.h"
#include "fmgr.h"
#include "executor/spi.h"

/*
 * Vintage (compliance year) window accepted by the allowance and ccer types.
 * This is a sanity bound of the data types, not a market policy: which
 * vintages may be issued, traded or surrendered is decided by rule tables.
 */
#define CARBONMKT_MIN_VINTAGE	2005
#define CARBONMKT_MAX_VINTAGE	2100

/*
 * allowance: a quantity of CEA (碳排放配额) of one vintage, in whole tonnes
 * CO2e.  Fixed length (16 bytes), passed by reference, double aligned.
 */
typedef struct Allowance
{
	int32		vintage;
	int32		pad;			/* always zero, keeps binary equality exact */
	int64		tonnes;
} Allowance;

#define DatumGetAllowanceP(X)		((Allowance *) DatumGetPointer(X))
#define AllowancePGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_ALLOWANCE_P(n)	DatumGetAllowanceP(PG_GETARG_DATUM(n))
#define PG_RETURN_ALLOWANCE_P(x)	return AllowancePGetDatum(x)

/*
 * ccer: a block of consecutive CCER (国家核证自愿减排量) serial numbers of
 * one project and vintage.  Variable length, double aligned.  The project id
 * is NUL-terminated and 1..CCER_MAX_PROJECT_LEN characters of [A-Za-z0-9._-].
 */
#define CCER_MAX_PROJECT_LEN	64
#define CCER_MIN_SERIAL			INT64CONST(0)
#define CCER_MAX_SERIAL			INT64CONST(999999999999999999)	/* 10^18 - 1 */

typedef struct Ccer
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		vintage;
	int64		first_serial;
	int64		last_serial;
	char		project[FLEXIBLE_ARRAY_MEMBER];
} Ccer;

#define CCER_HDRSZ					offsetof(Ccer, project)
#define DatumGetCcerP(X)			((Ccer *) PG_DETOAST_DATUM(X))
#define CcerPGetDatum(X)			PointerGetDatum(X)
#define PG_GETARG_CCER_P(n)			DatumGetCcerP(PG_GETARG_DATUM(n))
#define PG_RETURN_CCER_P(x)			return CcerPGetDatum(x)
#define CcerTonnes(c)				((c)->last_serial - (c)->first_serial + 1)

/* carbonmkt.c */
extern void carbonmkt_check_vintage(int32 vintage, const char *what);
extern SPIPlanPtr carbonmkt_keep_plan(const char *sql, int nargs, Oid *argtypes,
									  int cursor_options);
extern SPIPlanPtr carbonmkt_keep_lookup_plan(const char *sql, int nargs, Oid *argtypes);

/* operations.c */
extern void carbonmkt_operations_init(void);
extern void carbonmkt_ledger_guard(const char *what);
extern void carbonmkt_refuse_history(int64 account_id);

#endif							/* CARBONMKT_H */
