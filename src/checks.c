/*
 * checks.c
 *    token_valid, is_revoked, expunge_expired and expunge_expired_committing:
 *    the presence check that require_token_presence_for_authentication?
 *    stands for, and cleanup.
 */
#include "logout_everywhere.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(token_valid);
PG_FUNCTION_INFO_V1(is_revoked);
PG_FUNCTION_INFO_V1(expunge_expired);
PG_FUNCTION_INFO_V1(expunge_expired_committing);

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

	RequireSchemaUsage(token_table);
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
	RequireSchemaUsage(table->relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	revoked = RowExists(RevokedPlan(table), &jti);
	SPI_finish();
	PG_RETURN_BOOL(revoked);
}

/* batch_size must be a positive integer (22004, 22023). */
static Datum
BatchSizeArgument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch_size must not be NULL")));
	if (PG_GETARG_INT32(argno) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be greater than zero")));
	return PG_GETARG_DATUM(argno);
}

/*
 * Delete expired rows of any purpose, batch_size per statement, until a
 * batch comes back short; with commit_each_batch, commit after every batch
 * (the SPI connection must be non-atomic). Returns how many rows it deleted.
 */
static uint64
ExpungeBatches(Oid token_table, Datum batch_size, bool commit_each_batch)
{
	uint64		deleted = 0;
	uint64		batch;

	RequireSchemaUsage(token_table);
	if (SPI_connect_ext(commit_each_batch ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	do
	{
		/* After a commit the cached plan may have been rebuilt: ask again. */
		SPIPlanPtr	plan = ExpungePlan(GetTokenTable(token_table));

		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_plan(plan, &batch_size, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "expunging expired tokens failed");
		batch = SPI_processed;
		deleted += batch;
		if (commit_each_batch)
		{
			SPI_commit();
#if PG_VERSION_NUM < 150000
			SPI_start_transaction();
#endif
		}
	} while (batch >= (uint64) DatumGetInt32(batch_size));
	SPI_finish();
	return deleted;
}

/*
 * expunge_expired(token_table regclass, batch_size integer) RETURNS bigint
 * A function cannot commit: its batches bound each statement, and all of
 * them commit with the calling transaction.
 */
Datum
expunge_expired(PG_FUNCTION_ARGS)
{
	Datum		batch_size;
	Oid			token_table;

	RequireWritable("expunge_expired()");
	batch_size = BatchSizeArgument(fcinfo, 1);
	token_table = ResolveTokenTable(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	PG_RETURN_INT64((int64) ExpungeBatches(token_table, batch_size, false));
}

/*
 * PROCEDURE expunge_expired_committing(token_table regclass,
 *                                      batch_size integer, INOUT deleted bigint)
 * The same, committing after each batch so that no row lock outlives its
 * batch. CALLed inside a transaction block (or from a function) it cannot
 * commit and works like expunge_expired.
 */
Datum
expunge_expired_committing(PG_FUNCTION_ARGS)
{
	Datum		batch_size;
	Oid			token_table;
	bool		nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	uint64		deleted;
	TupleDesc	result_desc;
	Datum		result[1];
	bool		result_null[1] = {false};

	RequireWritable("expunge_expired_committing()");
	batch_size = BatchSizeArgument(fcinfo, 1);
	token_table = ResolveTokenTable(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	deleted = ExpungeBatches(token_table, batch_size, nonatomic);
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "expunge_expired_committing must have an INOUT parameter");
	result[0] = Int64GetDatum((int64) deleted);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc),
													  result, result_null)));
}
