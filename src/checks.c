/*
 * checks.c
 *    token_valid, is_revoked and expunge_expired: the presence check that
 *    require_token_presence_for_authentication? stands for, and cleanup.
 */
#include "logout_everywhere.h"

#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(token_valid);
PG_FUNCTION_INFO_V1(is_revoked);
PG_FUNCTION_INFO_V1(expunge_expired);

/* Run a read-only "SELECT 1 ... LIMIT 1" plan: does a row exist? */
static bool
RowExists(SPIPlanPtr plan, Datum *values)
{
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "checking a token failed");
	return SPI_processed > 0;
}

/* A row with this jti and purpose exists and has not expired. */
bool
TokenIsValid(Oid token_table, text *jti, text *purpose)
{
	TokenTable *table = GetTokenTable(token_table);
	Datum		values[2] = {PointerGetDatum(jti), PointerGetDatum(purpose)};
	bool		valid;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	valid = RowExists(ValidPlan(table), values);
	SPI_finish();
	return valid;
}

/*
 * token_valid(jti text, purpose text DEFAULT 'user', token_table regclass)
 * A NULL jti or purpose is no valid token: false, so that "NOT token_valid"
 * rejects it too.
 */
Datum
token_valid(PG_FUNCTION_ARGS)
{
	Oid			token_table;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	token_table = ResolveTokenTable(PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2));
	PG_RETURN_BOOL(TokenIsValid(token_table, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)));
}

/* is_revoked(jti text, token_table regclass): a revocation row exists. */
Datum
is_revoked(PG_FUNCTION_ARGS)
{
	TokenTable *table;
	Datum		jti;
	bool		revoked;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	jti = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	table = GetTokenTable(ResolveTokenTable(PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	revoked = RowExists(RevokedPlan(table), &jti);
	SPI_finish();
	PG_RETURN_BOOL(revoked);
}

/*
 * expunge_expired(token_table regclass, batch_size integer) RETURNS bigint
 * Deletes expired rows of any purpose, batch_size per statement, until a
 * batch comes back short. Returns how many rows it deleted.
 */
Datum
expunge_expired(PG_FUNCTION_ARGS)
{
	TokenTable *table;
	SPIPlanPtr	plan;
	Datum		batch_size;
	uint64		deleted = 0;
	uint64		batch;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch_size must not be NULL")));
	if (PG_GETARG_INT32(1) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be greater than zero")));
	batch_size = PG_GETARG_DATUM(1);
	table = GetTokenTable(ResolveTokenTable(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = ExpungePlan(table);
	do
	{
		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_plan(plan, &batch_size, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "expunging expired tokens failed");
		batch = SPI_processed;
		deleted += batch;
	} while (batch >= (uint64) DatumGetInt32(batch_size));
	SPI_finish();
	PG_RETURN_INT64((int64) deleted);
}
