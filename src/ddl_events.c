/*
 * ddl_events.c
 *    Two event triggers that keep logout_everywhere.settings describing what
 *    exists: forget_dropped_objects() at sql_drop, follow_altered_tables() at
 *    ddl_command_end.
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
 * At the end of every CREATE TABLE and ALTER TABLE (follow_altered_tables):
 *
 *   id or password column renamed  the settings follow it to its new name
 *                                  (the action and the password trigger depend
 *                                  on the columns, so those are the columns);
 *   user table moved to a schema   its action moves with it;
 *   an inheritance child of a      refused: an UPDATE of the child would change
 *   user table                     passwords that the parent's trigger never sees;
 *   an inheritance child of a      it gets the token guard, as enable() gives
 *   token table                    the children it finds.
 *
 * Both run as the settings table's owner: whoever drops the token table may
 * not own the user table whose action must go. Every statement they run is
 * generated from catalog names, quoted, with search_path pinned.
 */
#include "logout_everywhere.h"

#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(forget_dropped_objects);
PG_FUNCTION_INFO_V1(follow_altered_tables);

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

/* Run fn inside SPI, as the settings' owner, with a safe search_path. */
static void
RunAsSettingsOwner(void (*fn) (void))
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_level;

	forgetting = true;
	PG_TRY();
	{
		guc_level = UseSafeSearchPath();
		SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		fn();
		SPI_finish();
		SetUserIdAndSecContext(saved_userid, saved_sec_context);
		AtEOXact_GUC(true, guc_level);
	}
	PG_FINALLY();
	{
		forgetting = false;
	}
	PG_END_TRY();
}

static void
ForgetDroppedObjects(void)
{
	int			count;
	AffectedSettings *affected = FindAffectedSettings(&count);

	for (int i = 0; i < count; i++)
		ForgetAffected(&affected[i]);
}

/* Nothing to keep in step while the extension itself goes or is busy. */
static bool
EventTriggerHasWork(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: not fired by event trigger manager", name)));
	return !forgetting && !ConfigurationInProgress() &&
		OidIsValid(get_extension_oid("logout_everywhere", true)) &&
		OidIsValid(SettingsTableOid(true));
}

/* forget_dropped_objects() RETURNS event_trigger, ON sql_drop. */
Datum
forget_dropped_objects(PG_FUNCTION_ARGS)
{
	if (EventTriggerHasWork(fcinfo, "forget_dropped_objects"))
		RunAsSettingsOwner(ForgetDroppedObjects);
	PG_RETURN_NULL();
}

/*
 * For each enabled user table that the command altered: the names of the
 * columns that the action (id) and the password trigger (password) depend
 * on, where they differ from the settings' (a rename). The action is the
 * one ActionFunction() finds: the table owner's, calling the extension, the
 * one in the table's schema first; the trigger is the one on the table. Then the tables the
 * command made inheritance children of an enabled user table, or of a
 * token table, with whether they have the guard.
 */
#define RENAMED_COLUMNS_QUERY \
	"WITH altered AS (SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands()" \
	"                  WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)" \
	"SELECT s.user_table::pg_catalog.oid, id_now.attname, pw_now.attname" \
	"  FROM %s.settings s JOIN altered a ON a.objid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid" \
	"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid" \
	"  LEFT JOIN LATERAL (SELECT att.attname FROM pg_catalog.pg_depend d" \
	"     JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid" \
	"     JOIN pg_catalog.pg_attribute att ON att.attrelid OPERATOR(pg_catalog.=) d.refobjid AND att.attnum OPERATOR(pg_catalog.=) d.refobjsubid" \
	"    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass" \
	"      AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"      AND d.refobjid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid AND d.refobjsubid OPERATOR(pg_catalog.>) 0" \
	"      AND p.proname OPERATOR(pg_catalog.=) s.action_name AND p.pronargs OPERATOR(pg_catalog.=) 1" \
	"      AND p.proargtypes[0] OPERATOR(pg_catalog.=) c.reltype AND p.proowner OPERATOR(pg_catalog.=) c.relowner" \
	"      AND EXISTS (SELECT FROM pg_catalog.pg_depend e JOIN pg_catalog.pg_proc q ON q.oid OPERATOR(pg_catalog.=) e.refobjid" \
	"                   WHERE e.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid OPERATOR(pg_catalog.=) p.oid" \
	"                     AND e.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.deptype OPERATOR(pg_catalog.=) 'n'" \
	"                     AND q.pronamespace OPERATOR(pg_catalog.=) 'logout_everywhere'::pg_catalog.regnamespace)" \
	"    ORDER BY p.pronamespace OPERATOR(pg_catalog.<>) c.relnamespace LIMIT 1) id_now ON true" \
	"  LEFT JOIN LATERAL (SELECT att.attname FROM pg_catalog.pg_depend d" \
	"     JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) d.objid" \
	"     JOIN pg_catalog.pg_attribute att ON att.attrelid OPERATOR(pg_catalog.=) d.refobjid AND att.attnum OPERATOR(pg_catalog.=) d.refobjsubid" \
	"    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass" \
	"      AND t.tgname OPERATOR(pg_catalog.=) '" PASSWORD_TRIGGER "' AND t.tgrelid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid" \
	"      AND d.refobjid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid AND d.refobjsubid OPERATOR(pg_catalog.>) 0 LIMIT 1) pw_now ON true" \
	" WHERE id_now.attname OPERATOR(pg_catalog.<>) s.id_column OR pw_now.attname OPERATOR(pg_catalog.<>) s.password_column"

#define ALTERED_USER_TABLES_QUERY \
	"SELECT s.user_table::pg_catalog.oid, s.action_name::pg_catalog.text FROM %s.settings s" \
	" WHERE s.user_table::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands()" \
	"       WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)"

#define NEW_CHILDREN_QUERY \
	"WITH RECURSIVE altered AS (SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands()" \
	"                  WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)," \
	" ancestors(child, ancestor) AS (" \
	"   SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i JOIN altered a ON a.objid OPERATOR(pg_catalog.=) i.inhrelid" \
	"   UNION SELECT an.child, i.inhparent FROM ancestors an JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) an.ancestor)" \
	"SELECT an.child, an.ancestor, an.ancestor OPERATOR(pg_catalog.=) ANY (SELECT user_table::pg_catalog.oid FROM %s.settings)" \
	"  FROM ancestors an JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) an.child" \
	" WHERE NOT c.relispartition AND (an.ancestor OPERATOR(pg_catalog.=) ANY (SELECT user_table::pg_catalog.oid FROM %s.settings)" \
	"    OR an.ancestor OPERATOR(pg_catalog.=) ANY (SELECT token_table::pg_catalog.oid FROM %s.settings))"

/*
 * Did the command make a table an inheritance child (CREATE TABLE ...
 * INHERITS, also a foreign table or one made in CREATE SCHEMA, ALTER TABLE
 * ... INHERIT)? Only then are new children looked for:
 * any other ALTER TABLE of an existing child leaves its guard alone (a
 * restore adds a child's primary key after loading the settings, and then
 * creates the child's guard itself).
 */
static bool command_adds_inheritance = false;

static bool
AddsInheritance(Node *parsetree)
{
	ListCell   *cell;

	if (parsetree == NULL)
		return false;
	if (IsA(parsetree, CreateStmt))
		return ((CreateStmt *) parsetree)->inhRelations != NIL;
	if (IsA(parsetree, CreateForeignTableStmt))
		return ((CreateForeignTableStmt *) parsetree)->base.inhRelations != NIL;
	/* CREATE SCHEMA ... CREATE TABLE ... INHERITS: its elements */
	if (IsA(parsetree, CreateSchemaStmt))
	{
		foreach(cell, ((CreateSchemaStmt *) parsetree)->schemaElts)
			if (AddsInheritance(lfirst(cell)))
				return true;
		return false;
	}
	/* ALTER TABLE and ALTER FOREIGN TABLE */
	if (!IsA(parsetree, AlterTableStmt))
		return false;
	foreach(cell, ((AlterTableStmt *) parsetree)->cmds)
		if (((AlterTableCmd *) lfirst(cell))->subtype == AT_AddInherit)
			return true;
	return false;
}

static void
FollowAlteredTables(void)
{
	const char *schema = quote_identifier(get_namespace_name(ExtensionSchemaOid()));
	uint64		renamed;
	uint64		children;
	SPITupleTable *rows;
	/* read first: the DDL below may fire this trigger again */
	bool		adds_inheritance = command_adds_inheritance;

	/* Not read_only: a snapshot taken now sees what the command changed. */
	if (SPI_execute(psprintf(RENAMED_COLUMNS_QUERY, schema), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read logout_everywhere.settings");
	renamed = SPI_processed;
	rows = SPI_tuptable;
	for (uint64 i = 0; i < renamed; i++)
	{
		bool		isnull;
		Oid			user_table = DatumGetObjectId(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		char	   *id_column = SPI_getvalue(rows->vals[i], rows->tupdesc, 2);
		char	   *password_column = SPI_getvalue(rows->vals[i], rows->tupdesc, 3);

		ereport(NOTICE,
				(errmsg("logout_everywhere follows the renamed columns of \"%s\"",
						get_rel_name(user_table))));
		FollowRenamedColumns(user_table, id_column, password_column);
	}

	if (SPI_execute(psprintf(ALTERED_USER_TABLES_QUERY, schema), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read logout_everywhere.settings");
	rows = SPI_tuptable;
	for (uint64 i = 0, n = SPI_processed; i < n; i++)
	{
		bool		isnull;

		MoveActionWithTable(DatumGetObjectId(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull)),
							SPI_getvalue(rows->vals[i], rows->tupdesc, 2));
	}

	if (!adds_inheritance)
		return;
	if (SPI_execute(psprintf(NEW_CHILDREN_QUERY, schema, schema, schema), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read logout_everywhere.settings");
	children = SPI_processed;
	rows = SPI_tuptable;
	for (uint64 i = 0; i < children; i++)
	{
		bool		isnull;
		Oid			child = DatumGetObjectId(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		Oid			ancestor = DatumGetObjectId(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull));
		bool		of_user_table = DatumGetBool(SPI_getbinval(rows->vals[i], rows->tupdesc, 3, &isnull));

		if (of_user_table)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("\"%s\" cannot inherit from \"%s\", a user table enabled for logout_everywhere",
							get_rel_name(child), get_rel_name(ancestor)),
					 errdetail("A password change in the child would not log its user out."),
					 errhint("Call logout_everywhere.disable() for \"%s\" first.", get_rel_name(ancestor))));
		GuardTokenTableChild(child);
	}
}

/* follow_altered_tables() RETURNS event_trigger, ON ddl_command_end. */
Datum
follow_altered_tables(PG_FUNCTION_ARGS)
{
	if (EventTriggerHasWork(fcinfo, "follow_altered_tables"))
	{
		command_adds_inheritance = AddsInheritance(((EventTriggerData *) fcinfo->context)->parsetree);
		RunAsSettingsOwner(FollowAlteredTables);
	}
	PG_RETURN_NULL();
}
