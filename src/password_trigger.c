/*
 * password_trigger.c
 *    apply_on_password_change?: log a user out everywhere when the password
 *    column of their row changes, in the same transaction.
 *
 * enable() attaches password_trigger() to the user table as
 *   AFTER UPDATE REFERENCING OLD TABLE ... NEW TABLE ... FOR EACH STATEMENT
 * It walks the statement's old and new rows side by side, keeps the users
 * whose password IS DISTINCT FROM the old one, and revokes all their tokens
 * in one set-based UPDATE. A statement trigger, not a row trigger with a
 * WHEN clause: PostgreSQL compiles a WHEN clause again for every statement,
 * which costs an UPDATE of one user more than this does. Everything lives
 * in the trigger call itself, so an error, a cancel or a ROLLBACK TO
 * SAVEPOINT leaves nothing behind.
 *
 * A column-specific trigger (UPDATE OF <password>) would be cheaper still,
 * but it misses a password that a BEFORE trigger writes.
 */
#include "logout_everywhere.h"

#include "commands/trigger.h"
#include "executor/executor.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(password_trigger);

static UserTableSettings *
SettingsForTrigger(Relation rel)
{
	UserTableSettings *settings = FindSettings(RelationGetRelid(rel));

	if (settings == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not enabled for logout_everywhere",
						RelationGetRelationName(rel)),
				 errhint("Call logout_everywhere.enable() for it, or drop its trigger logout_everywhere_password.")));
	return settings;
}

/*
 * The column that the settings describe must still be this relation's, of
 * the type they recorded, before its values are read as that type. The
 * relcache invalidation resets the settings after any ALTER TABLE, so this
 * holds unless something is badly wrong: fail, never read a wrong type.
 */
static void
RequireRecordedColumn(Relation rel, AttrNumber attnum, Oid type, const char *column)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Form_pg_attribute attribute;

	if (attnum >= 1 && attnum <= desc->natts)
	{
		attribute = TupleDescAttr(desc, attnum - 1);
		if (!attribute->attisdropped && attribute->atttypid == type &&
			strcmp(NameStr(attribute->attname), column) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("column \"%s\" of relation \"%s\" is not the one logout_everywhere recorded",
					column, RelationGetRelationName(rel)),
			 errhint("Call logout_everywhere.enable() again for the table.")));
}

/* A reader of a transition table that leaves other readers' places alone. */
static int
StartReading(Tuplestorestate *rows)
{
	int			reader = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(rows, reader);
	tuplestore_rescan(rows);
	return reader;
}

static bool
ReadRow(Tuplestorestate *rows, int reader, TupleTableSlot *slot)
{
	tuplestore_select_read_pointer(rows, reader);
	return tuplestore_gettupleslot(rows, true, false, slot);
}

/*
 * old IS DISTINCT FROM new, with the type's own equality and collation.
 * Identical bytes are equal values: the common case (the UPDATE did not
 * touch the password) needs no call of the equality function.
 */
static bool
PasswordChanged(UserTableSettings *settings, Form_pg_attribute attribute,
				Datum old_value, bool old_null, Datum new_value, bool new_null)
{
	TypeCacheEntry *type;

	if (old_null || new_null)
		return old_null != new_null;
	if (datum_image_eq(old_value, new_value, attribute->attbyval, attribute->attlen))
		return false;
	type = lookup_type_cache(settings->password_type, TYPECACHE_EQ_OPR_FINFO);
	if (!OidIsValid(type->eq_opr_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(settings->password_type))));
	return !DatumGetBool(FunctionCall2Coll(&type->eq_opr_finfo,
										   settings->password_collation,
										   old_value, new_value));
}

/*
 * The subjects of the users whose password changed, by their old id. The
 * executor adds each updated row to both transition tables at once, so the
 * n-th old row and the n-th new row are the same row.
 */
static Datum *
ChangedSubjects(UserTableSettings *settings, TriggerData *trigger_data, int *count)
{
	Relation	rel = trigger_data->tg_relation;
	Tuplestorestate *old_rows = trigger_data->tg_oldtable;
	Tuplestorestate *new_rows = trigger_data->tg_newtable;
	Form_pg_attribute password_attribute;
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
	int			old_reader;
	int			new_reader;
	Datum	   *subjects;

	PrepareUserInfo(settings);
	PreparePasswordInfo(settings);
	RequireRecordedColumn(rel, settings->id_attnum, settings->id_type, settings->id_column);
	RequireRecordedColumn(rel, settings->password_attnum, settings->password_type,
						  settings->password_column);
	password_attribute = TupleDescAttr(RelationGetDescr(rel), settings->password_attnum - 1);

	subjects = palloc(sizeof(Datum) * tuplestore_tuple_count(old_rows));
	*count = 0;
	old_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	new_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	old_reader = StartReading(old_rows);
	new_reader = StartReading(new_rows);
	for (;;)
	{
		bool		have_old = ReadRow(old_rows, old_reader, old_slot);
		bool		have_new = ReadRow(new_rows, new_reader, new_slot);
		Datum		old_password;
		Datum		new_password;
		Datum		id;
		bool		old_null;
		bool		new_null;
		bool		id_null;

		if (have_old != have_new)
			elog(ERROR, "the old and new rows of \"%s\" do not pair up",
				 RelationGetRelationName(rel));
		if (!have_old)
			break;

		old_password = slot_getattr(old_slot, settings->password_attnum, &old_null);
		new_password = slot_getattr(new_slot, settings->password_attnum, &new_null);
		if (!PasswordChanged(settings, password_attribute,
							 old_password, old_null, new_password, new_null))
			continue;
		id = slot_getattr(old_slot, settings->id_attnum, &id_null);
		if (id_null)
			continue;			/* no id, no subject, no token */
		subjects[(*count)++] = PointerGetDatum(
			SubjectForIdText(settings, OidOutputFunctionCall(settings->id_output_function, id)));
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
	return subjects;
}

/*
 * password_trigger(): AFTER UPDATE FOR EACH STATEMENT with both transition
 * tables. Revokes the tokens of every user whose password changed, sparing
 * logout_everywhere.current_jti.
 */
Datum
password_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigger_data = (TriggerData *) fcinfo->context;
	UserTableSettings *settings;
	Datum	   *subjects;
	int			count;
	text	   *except_jti = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("password_trigger: not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigger_data->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigger_data->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigger_data->tg_event) ||
		trigger_data->tg_oldtable == NULL || trigger_data->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("password_trigger: must be fired AFTER UPDATE FOR EACH STATEMENT with OLD TABLE and NEW TABLE"),
				 errhint("Let logout_everywhere.enable() create the trigger.")));

	if (tuplestore_tuple_count(trigger_data->tg_oldtable) == 0)
		return PointerGetDatum(NULL);

	settings = SettingsForTrigger(trigger_data->tg_relation);
	subjects = ChangedSubjects(settings, trigger_data, &count);
	if (count == 0)
		return PointerGetDatum(NULL);

	if (current_jti_setting != NULL && current_jti_setting[0] != '\0')
		except_jti = cstring_to_text(current_jti_setting);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	RevokeSubjects(settings, subjects, count, NULL, NULL, except_jti);
	SPI_finish();
	return PointerGetDatum(NULL);
}
