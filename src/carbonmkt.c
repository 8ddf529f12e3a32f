/*-------------------------------------------------------------------------
 *
 * carbonmkt.c
 *	  Module entry point and helpers shared by every room of carbonmkt.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/carbonmkt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "carbonmkt.h"

PG_MODULE_MAGIC;

/*
 * carbonmkt_check_vintage
 *		Raise 22003 unless the vintage lies in the window the types accept.
 *
 * "what" names the value being checked, e.g. "allowance vintage".
 */
void
carbonmkt_check_vintage(int32 vintage, const char *what)
{
	if (vintage < CARBONMKT_MIN_VINTAGE || vintage > CARBONMKT_MAX_VINTAGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s %d is out of range", what, vintage),
				 errdetail("Vintages must be between %d and %d.",
						   CARBONMKT_MIN_VINTAGE, CARBONMKT_MAX_VINTAGE)));
}
