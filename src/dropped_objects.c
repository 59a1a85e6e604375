/*
 * dropped_objects.c
 *    forget_dropped_objects(): an sql_drop event trigger that keeps
 *    logout_everywhere.settings describing what exists.
 *
 * A settings row names its tables by regclass, which records no dependency:
 * without this, DROP TABLE users CASCADE would leave a row whose OID dumps
 * as a bare number (after a restore it can name an unrelated table), and a
 * password column dropped with CASCADE would leave apply_on_password_change
 * set with no trigger. So, at the end of every DROP:
 *
 *   user table dropped            its row goes (the action and the password
 *                                 trigger went with the table), and the token
 *                                 guard if no other user table uses the
 *                                 token table;
 *   token table or id column      the user table is disabled, as disable()
 *   dropped                       would do it, with a NOTICE;
 *   password column or password   the trigger goes and apply_on_password_change
 *   trigger dropped               becomes false, with a WARNING.
 *
 * It runs as the settings table's owner: whoever drops the token table may
 * not own the user table whose action must go. Every statement it runs is
 * generated from catalog names, quoted, with search_path pinned.
 */
#include "logout_everywhere.h"

#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(forget_dropped_objects);

/*
 * Our own DROPs fire the event trigger again, and so do enable()'s and
 * disable()'s: those are ours, let them be.
 */
static bool forgetting = false;

/*
 * One row per settings row that a dropped object touches, saying how:
 * the user table, the token table, the id column or the password column
 * (or its trigger) went.
 */
#define AFFECTED_SETTINGS_QUERY \
	"SELECT s.user_table OPERATOR(pg_catalog.=) ANY (pg_catalog.array_agg(d.objid) FILTER (WHERE d.objsubid OPERATOR(pg_catalog.=) 0 AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)) IS TRUE," \
	" s.token_table OPERATOR(pg_catalog.=) ANY (pg_catalog.array_agg(d.objid) FILTER (WHERE d.objsubid OPERATOR(pg_catalog.=) 0 AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)) IS TRUE," \
	" pg_catalog.bool_or(d.objid OPERATOR(pg_catalog.=) s.user_table AND d.objsubid OPERATOR(pg_catalog.>) 0 AND d.address_names[3] OPERATOR(pg_catalog.=) s.id_column::pg_catalog.text) IS TRUE," \
	" pg_catalog.bool_or(s.apply_on_password_change AND ((d.objid OPERATOR(pg_catalog.=) s.user_table AND d.objsubid OPERATOR(pg_catalog.>) 0" \
	"   AND d.address_names[3] OPERATOR(pg_catalog.=) s.password_column::pg_catalog.text)" \
	"   OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass" \
	"   AND d.address_names[2] OPERATOR(pg_catalog.=) c.relname::pg_catalog.text" \
	"   AND d.address_names[1] OPERATOR(pg_catalog.=) n.nspname::pg_catalog.text" \
	"   AND d.address_names[3] OPERATOR(pg_catalog.=) '" PASSWORD_TRIGGER "'))) IS TRUE," \
	" s.user_table::pg_catalog.oid, s.token_table::pg_catalog.oid, s.action_name::pg_catalog.text" \
	" FROM %s.settings s" \
	" LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid" \
	" LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace," \
	" pg_catalog.pg_event_trigger_dropped_objects() d" \
	" WHERE d.objid OPERATOR(pg_catalog.=) ANY (ARRAY[s.user_table::pg_catalog.oid, s.token_table::pg_catalog.oid])" \
	"   OR d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass" \
	" GROUP BY s.user_table, s.token_table, s.action_name, s.apply_on_password_change, s.id_column, s.password_column"

typedef struct AffectedSettings
{
	bool		user_table_dropped;
	bool		token_table_dropped;
	bool		id_column_dropped;
	bool		password_dropped;
	Oid			user_table;
	Oid			token_table;
	char	   *action_name;
} AffectedSettings;

static bool
BoolColumn(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;

	return DatumGetBool(SPI_getbinval(row, desc, column, &isnull)) && !isnull;
}

/* The settings rows that this DROP touches; runs inside SPI. */
static AffectedSettings *
FindAffectedSettings(int *count)
{
	AffectedSettings *affected;

	if (SPI_execute(psprintf(AFFECTED_SETTINGS_QUERY,
							 quote_identifier(get_namespace_name(ExtensionSchemaOid()))),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read logout_everywhere.settings");
	affected = palloc0(sizeof(AffectedSettings) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		affected[i].user_table_dropped = BoolColumn(row, desc, 1);
		affected[i].token_table_dropped = BoolColumn(row, desc, 2);
		affected[i].id_column_dropped = BoolColumn(row, desc, 3);
		affected[i].password_dropped = BoolColumn(row, desc, 4);
		affected[i].user_table = DatumGetObjectId(SPI_getbinval(row, desc, 5, &isnull));
		affected[i].token_table = DatumGetObjectId(SPI_getbinval(row, desc, 6, &isnull));
		affected[i].action_name = SPI_getvalue(row, desc, 7);
	}
	*count = (int) SPI_processed;
	return affected;
}

static void
ForgetAffected(AffectedSettings *entry)
{
	if (entry->user_table_dropped)
		RemoveConfiguration(entry->user_table, entry->action_name, entry->token_table);
	else if (entry->token_table_dropped || entry->id_column_dropped)
	{
		ereport(NOTICE,
				(errmsg("table \"%s\" is no longer enabled for logout_everywhere",
						get_rel_name(entry->user_table)),
				 errdetail("Its %s was dropped; its action and password trigger were removed.",
						   entry->token_table_dropped ? "token table" : "id column")));
		RemoveConfiguration(entry->user_table, entry->action_name, entry->token_table);
	}
	else if (entry->password_dropped)
	{
		ereport(WARNING,
				(errmsg("a password change of \"%s\" no longer logs its user out",
						get_rel_name(entry->user_table)),
				 errdetail("Its password column or trigger was dropped; apply_on_password_change is now false."),
				 errhint("Call logout_everywhere.enable(..., apply_on_password_change => true) to install the trigger again.")));
		ForgetPasswordTrigger(entry->user_table);
	}
}

/* forget_dropped_objects() RETURNS event_trigger, ON sql_drop. */
Datum
forget_dropped_objects(PG_FUNCTION_ARGS)
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_level;
	AffectedSettings *affected;
	int			count;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("forget_dropped_objects: not fired by event trigger manager")));
	/* Nothing to keep in step while the extension itself goes. */
	if (forgetting || ConfigurationInProgress() || !OidIsValid(get_extension_oid("logout_everywhere", true)) ||
		!OidIsValid(SettingsTableOid(true)))
		PG_RETURN_NULL();

	forgetting = true;
	PG_TRY();
	{
		guc_level = UseSafeSearchPath();
		SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		affected = FindAffectedSettings(&count);
		for (int i = 0; i < count; i++)
			ForgetAffected(&affected[i]);
		SPI_finish();
		SetUserIdAndSecContext(saved_userid, saved_sec_context);
		AtEOXact_GUC(true, guc_level);
	}
	PG_FINALLY();
	{
		forgetting = false;
	}
	PG_END_TRY();
	PG_RETURN_NULL();
}
