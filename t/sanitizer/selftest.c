/*
 * selftest.c
 *    Negative control for t/sanitizer_*.sh: two functions with deliberate
 *    memory errors / undefined behaviour, built with the same sanitizer
 *    flags as the extension and loaded by the same server.  The sanitizer
 *    test calls them first and requires that each one produces a report;
 *    only then does "no report" from the suites mean something.
 *    Never installed outside the test's temporary directory.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>

#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(le_asan_selftest);
PG_FUNCTION_INFO_V1(le_ubsan_selftest);

/* Writes one byte at offset n of an 8-byte malloc'd block (n = 8 overflows). */
Datum
le_asan_selftest(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	volatile char *p = malloc(8);

	p[n] = 1;
	free((void *) p);
	PG_RETURN_INT32(n);
}

/* Returns a + INT_MAX: signed overflow for any a > 0. */
Datum
le_ubsan_selftest(PG_FUNCTION_ARGS)
{
	int32		a = PG_GETARG_INT32(0);

	PG_RETURN_INT32(a + INT_MAX);
}
