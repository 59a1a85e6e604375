/*
 * revocation.c
 *    log_out_everywhere, revoke_subject and subject_for: from a user id to
 *    its subject, and from subjects to revoked tokens.
 */
#include "logout_everywhere.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "form_encoding.h"

/* The longest NOTIFY payload, as commands/async.c defines it (privately). */
#define NOTIFY_PAYLOAD_LIMIT (BLCKSZ - NAMEDATALEN - 128)

PG_FUNCTION_INFO_V1(log_out_everywhere);
PG_FUNCTION_INFO_V1(revoke_subject);
PG_FUNCTION_INFO_V1(subject_for);

/* The subject of a user: subject_name || '?id=' || the id form-encoded. */
text *
SubjectForIdText(UserTableSettings *settings, const char *id_text)
{
	size_t		name_length = strlen(settings->subject_name);
	size_t		id_length = strlen(id_text);
	size_t		prefix_length = name_length + strlen("?id=");
	text	   *subject;
	char	   *data;
	size_t		encoded_length;

	subject = palloc(VARHDRSZ + prefix_length + FORM_ENCODED_MAX_LEN(id_length));
	data = VARDATA(subject);
	memcpy(data, settings->subject_name, name_length);
	memcpy(data + name_length, "?id=", strlen("?id="));
	encoded_length = form_encode(id_text, id_length, data + prefix_length);
	SET_VARSIZE(subject, VARHDRSZ + prefix_length + encoded_length);
	return subject;
}

/*
 * The user_id argument as a value of the id column's type, and its text
 * form. The "any" version takes typed values; the text version takes quoted
 * literals and untyped bound parameters, which PostgreSQL cannot resolve
 * against "any". A value of another type goes through text into the id
 * type's input function, which raises its own error (22P02 for most types)
 * for a value that is no valid id.
 */
static Datum
UserIdArgument(FunctionCallInfo fcinfo, int argno, UserTableSettings *settings,
			   char **id_text)
{
	Oid			argument_type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	Datum		value = PG_GETARG_DATUM(argno);

	if (!OidIsValid(argument_type))
		elog(ERROR, "could not determine the type of user_id");

	PrepareUserInfo(settings);
	if (argument_type != settings->id_type)
	{
		char	   *input;
		Oid			input_function;
		Oid			io_param;

		if (argument_type == UNKNOWNOID)
			input = DatumGetCString(value);
		else
		{
			Oid			output_function;
			bool		is_varlena;

			getTypeOutputInfo(argument_type, &output_function, &is_varlena);
			input = OidOutputFunctionCall(output_function, value);
		}
		getTypeInputInfo(settings->id_type, &input_function, &io_param);
		value = OidInputFunctionCall(input_function, input, io_param, -1);
	}
	*id_text = OidOutputFunctionCall(settings->id_output_function, value);
	return value;
}

/*
 * NOTIFY logout_everywhere.notify_channel of a revoked subject. PostgreSQL
 * folds a transaction's identical notifications into one, sends them at
 * commit, and drops those of a rolled-back (sub)transaction. A subject too
 * long for a payload is sent as an empty one: "drop every cached check".
 */
static void
NotifyRevoked(const char *subject)
{
	Async_Notify(notify_channel_setting,
				 strlen(subject) < NOTIFY_PAYLOAD_LIMIT ? subject : "");
}

/* 42501 unless the caller has the privilege on the table or the column. */
static void
RequireColumnPrivilege(Oid relid, const char *column, AclMode mode)
{
	AttrNumber	attnum;

	/* the table-wide privilege first: no column lookup on the usual path */
	if (pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK)
		return;
	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber ||
		pg_attribute_aclcheck(relid, attnum, GetUserId(), mode) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));
}

/*
 * Revoke the live tokens of these subjects in the settings' token table;
 * NULL purposes mean the configured ones. Returns how many were revoked.
 * Must be called inside an SPI connection.
 */
uint64
RevokeSubjects(UserTableSettings *settings, Datum *subjects, int count,
			   ArrayType *include_purposes, ArrayType *exclude_purposes,
			   text *except_jti)
{
	TokenTable *table = GetTokenTable(settings->token_table);
	SPIPlanPtr	plan;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Snapshot	snapshot = InvalidSnapshot;
	Snapshot	crosscheck = InvalidSnapshot;
	bool		notify;
	List	   *own_tokens;
	uint64		revoked;
	int			rc;

	if (include_purposes == NULL)
		include_purposes = settings->include_purposes;
	if (exclude_purposes == NULL)
		exclude_purposes = settings->exclude_purposes;

	RequireSchemaUsage(table->relid);

	/*
	 * The UPDATE below checks the caller's privileges, but only after the
	 * locks, which outlive a failed call: a role that may not write purpose
	 * nor read subject must not take them.
	 */
	RequireColumnPrivilege(table->relid, "purpose", ACL_UPDATE);
	RequireColumnPrivilege(table->relid, "subject", ACL_SELECT);
	own_tokens = LockSubjectsForRevocation(table->relid, subjects, count,
										   RequireTokenGuards(table));

	notify = notify_channel_setting != NULL && notify_channel_setting[0] != '\0';
	plan = RevokePlan(table, notify);
	values[0] = PointerGetDatum(construct_array(subjects, count, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(include_purposes);
	values[2] = PointerGetDatum(exclude_purposes);
	values[3] = PointerGetDatum(except_jti);
	if (include_purposes == NULL)
		nulls[1] = 'n';
	if (exclude_purposes == NULL)
		nulls[2] = 'n';
	if (except_jti == NULL)
		nulls[3] = 'n';

	/*
	 * Under READ COMMITTED the UPDATE takes a fresh snapshot after the locks
	 * above, and so sees every token whose writer we waited for. A
	 * transaction snapshot (REPEATABLE READ, SERIALIZABLE) cannot: read with
	 * the latest snapshot and cross-check against the transaction's, as
	 * foreign keys do, so that a token it cannot see raises 40001 instead of
	 * surviving.
	 */
	if (IsolationUsesXactSnapshot())
	{
		CommandCounterIncrement();
		snapshot = GetLatestSnapshot();
		crosscheck = GetTransactionSnapshot();
	}
	rc = SPI_execute_snapshot(plan, values, nulls, snapshot, crosscheck,
							  false, true, 0);
	if (rc != (notify ? SPI_OK_UPDATE_RETURNING : SPI_OK_UPDATE))
		elog(ERROR, "revoking tokens failed: %s", SPI_result_code_string(rc));
	revoked = SPI_processed;
	if (revoked > 0)
		NoteRevocation();

	/* One NOTIFY per subject whose tokens were revoked. */
	for (uint64 i = 0; notify && i < SPI_processed; i++)
		NotifyRevoked(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

	/*
	 * This transaction gave back its lock on a subject it had written tokens
	 * of (LockSubjectsForRevocation): a log-out that ran meanwhile could not
	 * see them, so they go now, whatever this call spares.
	 */
	if (own_tokens != NIL)
	{
		Datum		own_values[2];
		Datum	   *jtis = palloc(sizeof(Datum) * list_length(own_tokens));
		Datum	   *hashes = palloc(sizeof(Datum) * count);
		ListCell   *cell;
		int			n = 0;

		foreach(cell, own_tokens)
			jtis[n++] = PointerGetDatum(lfirst(cell));
		/* by lock, not by subject: a colliding subject shared the lock */
		for (int i = 0; i < count; i++)
			hashes[i] = Int32GetDatum((int32) SubjectLockHash(DatumGetTextPP(subjects[i])));
		own_values[0] = PointerGetDatum(construct_array(jtis, n, TEXTOID, -1, false, TYPALIGN_INT));
		own_values[1] = PointerGetDatum(construct_array(hashes, count, INT4OID, sizeof(int32),
														true, TYPALIGN_INT));
		rc = SPI_execute_snapshot(RevokeOwnPlan(table), own_values, NULL, snapshot, crosscheck,
								  false, true, 0);
		if (rc != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "revoking tokens failed: %s", SPI_result_code_string(rc));
		if (SPI_processed > 0)
			NoteRevocation();
		for (uint64 i = 0; notify && i < SPI_processed; i++)
			NotifyRevoked(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		revoked += SPI_processed;
	}
	DischargeYieldedLocks(table->relid, subjects, count);
	return revoked;
}

/* Purposes arguments, checked; NULL when the argument is NULL. */
static ArrayType *
PurposesArgument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	ArrayType  *purposes;

	if (PG_ARGISNULL(argno))
		return NULL;
	purposes = PG_GETARG_ARRAYTYPE_P(argno);
	ValidatePurposes(purposes, name);
	return purposes;
}

static Oid
OptionalOidArgument(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? InvalidOid : PG_GETARG_OID(argno);
}

/*
 * log_out_everywhere(user_id "any" or text, include_purposes text[],
 *                    exclude_purposes text[], except_jti text,
 *                    user_table regclass) RETURNS bigint
 */
Datum
log_out_everywhere(PG_FUNCTION_ARGS)
{
	ArrayType  *include_purposes;
	ArrayType  *exclude_purposes;
	text	   *except_jti;
	UserTableSettings *settings;
	Datum		id;
	char	   *id_text;
	char	  **stored_ids;
	Datum	   *subjects;
	int			count;
	uint64		revoked;

	RequireWritable("log_out_everywhere()");
	RequireArgument(fcinfo, 0, "user_id");
	include_purposes = PurposesArgument(fcinfo, 1, "include_purposes");
	exclude_purposes = PurposesArgument(fcinfo, 2, "exclude_purposes");
	except_jti = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	settings = ResolveSettings(OptionalOidArgument(fcinfo, 4));
	id = UserIdArgument(fcinfo, 0, settings, &id_text);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	count = FindStoredIds(settings, id, false, &stored_ids);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no row of \"%s\" has %s = %s",
						get_rel_name(settings->user_table),
						quote_identifier(settings->id_column), id_text),
				 errdetail("No token was revoked.")));
	subjects = palloc(sizeof(Datum) * count);
	for (int i = 0; i < count; i++)
		subjects[i] = PointerGetDatum(SubjectForIdText(settings, stored_ids[i]));
	revoked = RevokeSubjects(settings, subjects, count, include_purposes,
							 exclude_purposes, except_jti);
	SPI_finish();
	PG_RETURN_INT64((int64) revoked);
}

/*
 * revoke_subject(subject text, include_purposes text[],
 *                exclude_purposes text[], except_jti text,
 *                user_table regclass) RETURNS bigint
 */
Datum
revoke_subject(PG_FUNCTION_ARGS)
{
	ArrayType  *include_purposes;
	ArrayType  *exclude_purposes;
	text	   *except_jti;
	UserTableSettings *settings;
	Datum		subject;
	uint64		revoked;

	RequireWritable("revoke_subject()");
	RequireArgument(fcinfo, 0, "subject");
	subject = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	include_purposes = PurposesArgument(fcinfo, 1, "include_purposes");
	exclude_purposes = PurposesArgument(fcinfo, 2, "exclude_purposes");
	except_jti = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	settings = ResolveSettings(OptionalOidArgument(fcinfo, 4));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	revoked = RevokeSubjects(settings, &subject, 1, include_purposes,
							 exclude_purposes, except_jti);
	SPI_finish();
	PG_RETURN_INT64((int64) revoked);
}

/*
 * subject_for(user_id "any" or text, user_table regclass) RETURNS text
 * The subject of the row with this id, built from its stored id; for an id
 * that no row (that the caller can see) has, from the id type's own text
 * form of the argument.
 */
Datum
subject_for(PG_FUNCTION_ARGS)
{
	UserTableSettings *settings;
	MemoryContext caller_context = CurrentMemoryContext;
	Datum		id;
	char	   *id_text;
	char	  **stored_ids;
	text	   *subject;

	RequireArgument(fcinfo, 0, "user_id");
	settings = ResolveSettings(OptionalOidArgument(fcinfo, 1));
	id = UserIdArgument(fcinfo, 0, settings, &id_text);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (FindStoredIds(settings, id, true, &stored_ids) > 0)
		id_text = stored_ids[0];
	MemoryContextSwitchTo(caller_context);
	subject = SubjectForIdText(settings, id_text);
	SPI_finish();
	PG_RETURN_TEXT_P(subject);
}
