/*
 * settings.c
 *    logout_everywhere.settings, read once per backend and cached until the
 *    table (or a user table named in it) changes.
 *
 * The settings table has no grant for application roles: they read it
 * through the cache, which is filled as the table's owner (the extension's
 * installer) for the one fixed query below, and never runs user code.
 */
#include "logout_everywhere.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "catalog/pg_operator.h"

PG_FUNCTION_INFO_V1(settings_changed);

static bool settings_valid = false;

/* This transaction wrote the settings: an abort must drop the cache. */
static bool settings_written = false;
static MemoryContext settings_context = NULL;
static UserTableSettings *settings_entries = NULL;
static int	settings_count = 0;

/* Catalog facts about the extension itself, reset with the cache. */
static Oid	extension_schema = InvalidOid;
static Oid	settings_relid = InvalidOid;

/*
 * The extension's schema. The control file fixes it (schema =
 * logout_everywhere, not relocatable), so the name is known.
 */
Oid
ExtensionSchemaOid(void)
{
	if (!OidIsValid(extension_schema))
	{
		(void) get_extension_oid("logout_everywhere", false);
		extension_schema = get_namespace_oid("logout_everywhere", false);
	}
	return extension_schema;
}

/* The OID of logout_everywhere.settings. */
Oid
SettingsTableOid(bool missing_ok)
{
	if (!OidIsValid(settings_relid))
		settings_relid = get_relname_relid("settings", ExtensionSchemaOid());
	if (!OidIsValid(settings_relid) && !missing_ok)
		elog(ERROR, "logout_everywhere.settings is missing");
	return settings_relid;
}

/*
 * Run as the owner of the settings table, in a restricted security context,
 * until the caller restores saved_userid/saved_sec_context. An error resets
 * the user id with the (sub)transaction.
 */
void
SwitchToSettingsOwner(Oid *saved_userid, int *saved_sec_context)
{
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(SettingsTableOid(false)));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", SettingsTableOid(false));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	GetUserIdAndSecContext(saved_userid, saved_sec_context);
	SetUserIdAndSecContext(owner, *saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/* Forget the cached settings; what callers still hold stays valid until
 * the end of the transaction. */
void
ResetSettingsCache(void)
{
	if (settings_context != NULL)
	{
		for (int i = 0; i < settings_count; i++)
		{
			RetirePlan(settings_entries[i].user_exists_plan);
		}
		RetireContext(settings_context);
	}
	settings_context = NULL;
	settings_entries = NULL;
	settings_count = 0;
	settings_valid = false;
	extension_schema = InvalidOid;
	settings_relid = InvalidOid;
}

/*
 * A (sub)transaction ends. If it wrote the settings and aborts, what was
 * cached from its writes goes; otherwise the cache stays: a rollback of
 * anything else must not cost the next call a reload.
 */
void
SettingsTransactionEnd(bool abort, bool top_level)
{
	if (abort && settings_written)
		ResetSettingsCache();
	if (top_level)
		settings_written = false;
}

/*
 * Relcache callback: the settings table, or a user or token table named in
 * it, changed (the log-out plan is built from both tables' names).
 */
void
SettingsRelcacheCallback(Oid relid)
{
	bool		affected = !OidIsValid(relid) || relid == settings_relid;

	for (int i = 0; !affected && i < settings_count; i++)
		affected = settings_entries[i].user_table == relid ||
			settings_entries[i].token_table == relid;
	if (affected)
		ResetSettingsCache();
}

/* Copy a NULL-able name or text column of an SPI row into the cache. */
static char *
CopyTextColumn(HeapTuple row, TupleDesc desc, int column)
{
	char	   *value = SPI_getvalue(row, desc, column);

	return value ? pstrdup(value) : NULL;
}

/* Copy a NULL-able text[] column of an SPI row into the cache. */
static ArrayType *
CopyArrayColumn(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		value = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? NULL : DatumGetArrayTypePCopy(value);
}

/* Read logout_everywhere.settings into a fresh cache context. */
static void
LoadSettings(void)
{
	MemoryContext new_context;
	MemoryContext old_context;
	Oid			saved_userid;
	int			saved_sec_context;
	char	   *query;
	int			count = 0;

	ResetSettingsCache();
	query = psprintf("SELECT user_table::pg_catalog.oid, token_table::pg_catalog.oid,"
					 " id_column, password_column, subject_name, include_purposes,"
					 " exclude_purposes, apply_on_password_change, action_name,"
					 " argument_name FROM %s.settings",
					 quote_identifier(get_namespace_name(ExtensionSchemaOid())));

	new_context = AllocSetContextCreate(LogoutEverywhereCacheContext(),
										"logout_everywhere settings",
										ALLOCSET_SMALL_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * Read with a snapshot taken now, not the calling statement's: a backend
	 * must see the settings that its own enable() or disable() just wrote.
	 */
	SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute(query, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read logout_everywhere.settings");
	PopActiveSnapshot();
	SetUserIdAndSecContext(saved_userid, saved_sec_context);

	old_context = MemoryContextSwitchTo(new_context);
	settings_entries = palloc0(sizeof(UserTableSettings) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		UserTableSettings *entry = &settings_entries[count];
		bool		isnull;

		entry->user_table = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		/* A row left behind by a dropped user table is no setting. */
		if (get_rel_relkind(entry->user_table) == '\0')
			continue;
		entry->token_table = DatumGetObjectId(SPI_getbinval(row, desc, 2, &isnull));
		entry->id_column = CopyTextColumn(row, desc, 3);
		entry->password_column = CopyTextColumn(row, desc, 4);
		entry->subject_name = CopyTextColumn(row, desc, 5);
		entry->include_purposes = CopyArrayColumn(row, desc, 6);
		entry->exclude_purposes = CopyArrayColumn(row, desc, 7);
		entry->apply_on_password_change =
			DatumGetBool(SPI_getbinval(row, desc, 8, &isnull));
		entry->action_name = CopyTextColumn(row, desc, 9);
		entry->argument_name = CopyTextColumn(row, desc, 10);
		count++;
	}
	MemoryContextSwitchTo(old_context);
	SPI_finish();

	settings_context = new_context;
	settings_count = count;
	settings_valid = true;
	/* Remember the table's OID so that the relcache callback knows it. */
	(void) SettingsTableOid(false);
}

static void
EnsureSettingsLoaded(void)
{
	if (!settings_valid)
		LoadSettings();
}

/* The settings of one user table, or NULL when it is not enabled. */
UserTableSettings *
FindSettings(Oid user_table)
{
	EnsureSettingsLoaded();
	for (int i = 0; i < settings_count; i++)
		if (settings_entries[i].user_table == user_table)
			return &settings_entries[i];
	return NULL;
}

/*
 * The settings for a function's user_table argument: the named table, or the
 * only enabled one when it is NULL (InvalidOid). 55000 otherwise.
 */
UserTableSettings *
ResolveSettings(Oid user_table)
{
	UserTableSettings *settings;

	if (OidIsValid(user_table))
	{
		settings = FindSettings(user_table);
		if (settings == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not enabled for logout_everywhere",
							get_rel_name(user_table)),
					 errhint("Call logout_everywhere.enable('%s') first.",
							 get_rel_name(user_table))));
		return settings;
	}

	EnsureSettingsLoaded();
	if (settings_count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no user table is enabled for logout_everywhere"),
				 errhint("Call logout_everywhere.enable(user_table) first.")));
	if (settings_count > 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("several user tables are enabled for logout_everywhere"),
				 errhint("Pass user_table to say which one; logout_everywhere.settings lists the tables given to logout_everywhere.enable().")));
	return &settings_entries[0];
}

/*
 * The token table for a function's token_table argument: the named table,
 * or the one token table of the enabled user tables. 55000 otherwise.
 */
Oid
ResolveTokenTable(Oid token_table)
{
	Oid			found = InvalidOid;

	if (OidIsValid(token_table))
		return token_table;

	EnsureSettingsLoaded();
	if (settings_count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no user table is enabled for logout_everywhere"),
				 errhint("Call logout_everywhere.enable(user_table) first, or pass token_table.")));
	for (int i = 0; i < settings_count; i++)
	{
		if (OidIsValid(found) && found != settings_entries[i].token_table)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the enabled user tables use several token tables"),
					 errhint("Pass token_table to say which one; logout_everywhere.settings lists what logout_everywhere.enable() recorded.")));
		found = settings_entries[i].token_table;
	}
	return found;
}

/* How many enabled user tables keep their tokens in this table. */
int
CountSettingsUsingTokenTable(Oid token_table)
{
	int			count = 0;

	EnsureSettingsLoaded();
	for (int i = 0; i < settings_count; i++)
		if (settings_entries[i].token_table == token_table)
			count++;
	return count;
}

/*
 * The number of a column that enable() recorded by name; 42703 when it was
 * renamed or dropped since, with a hint to call enable() again.
 */
static AttrNumber
RecordedColumn(UserTableSettings *settings, const char *column, const char *argument)
{
	AttrNumber	attnum = get_attnum(settings->user_table, column);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(settings->user_table)),
				 errhint("Call logout_everywhere.enable() again with the right %s, or disable() the table.",
						 argument)));
	return attnum;
}

/*
 * Fill in what the settings need from the user table itself: the id
 * column's number, type and output function.
 */
void
PrepareUserInfo(UserTableSettings *settings)
{
	bool		is_varlena;

	if (settings->user_info_ready)
		return;

	settings->id_attnum = RecordedColumn(settings, settings->id_column, "id_column");
	settings->id_type = get_atttype(settings->user_table, settings->id_attnum);
	getTypeOutputInfo(settings->id_type, &settings->id_output_function, &is_varlena);
	settings->user_info_ready = true;
}

/*
 * "<id column> = $n" on the user table, with the id type's own equality
 * operator named with its schema: nothing on search_path takes part.
 */
static char *
UserIdCondition(UserTableSettings *settings, int param)
{
	TypeCacheEntry *type_entry;
	HeapTuple	operator_tuple;
	Form_pg_operator operator_form;
	char	   *condition;

	type_entry = lookup_type_cache(settings->id_type, TYPECACHE_EQ_OPR);
	if (!OidIsValid(type_entry->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(settings->id_type))));
	operator_tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(type_entry->eq_opr));
	if (!HeapTupleIsValid(operator_tuple))
		elog(ERROR, "cache lookup failed for operator %u", type_entry->eq_opr);
	operator_form = (Form_pg_operator) GETSTRUCT(operator_tuple);
	condition = psprintf("%s OPERATOR(%s.%s) $%d",
						 quote_identifier(settings->id_column),
						 quote_identifier(get_namespace_name(operator_form->oprnamespace)),
						 NameStr(operator_form->oprname), param);
	ReleaseSysCache(operator_tuple);
	return condition;
}

static char *
QualifiedUserTable(UserTableSettings *settings)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(settings->user_table)),
									  get_rel_name(settings->user_table));
}

/*
 * Keep a plan just built for a settings entry. Building it opens relations,
 * which can deliver an invalidation that resets the cache: the entry the
 * caller holds is then retired, and so must the plan be, or nothing would
 * ever free it (it stays usable until the end of the transaction).
 */
static SPIPlanPtr
KeepSettingsPlan(UserTableSettings *settings, SPIPlanPtr plan)
{
	for (int i = 0; i < settings_count; i++)
		if (&settings_entries[i] == settings)
			return plan;
	RetirePlan(plan);
	return plan;
}

/*
 * The plan that checks that a user exists: $1 is an id of the id column's
 * type. Must be called inside an SPI connection.
 */
SPIPlanPtr
UserExistsPlan(UserTableSettings *settings)
{
	PrepareUserInfo(settings);
	if (settings->user_exists_plan == NULL)
		settings->user_exists_plan =
			KeepSettingsPlan(settings,
							 KeepPlan(psprintf("SELECT 1 FROM %s WHERE %s LIMIT 1",
											   QualifiedUserTable(settings),
											   UserIdCondition(settings, 1)),
									  1, &settings->id_type));
	return settings->user_exists_plan;
}

/*
 * What the password trigger needs: the password column's number, type and
 * collation. Looked up by name, so a renamed column is an error (enable()
 * again) rather than a password change that goes unnoticed.
 */
void
PreparePasswordInfo(UserTableSettings *settings)
{
	int32		typmod;

	if (settings->password_info_ready)
		return;

	settings->password_attnum = RecordedColumn(settings, settings->password_column,
											   "password_column");
	get_atttypetypmodcoll(settings->user_table, settings->password_attnum,
						  &settings->password_type, &typmod,
						  &settings->password_collation);
	settings->password_info_ready = true;
}

/*
 * Trigger on logout_everywhere.settings: after any change, every backend
 * (this one at its next command) drops its cached settings.
 */
Datum
settings_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigger_data = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("settings_changed: not called by trigger manager")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigger_data->tg_relation));
	settings_written = true;
	return PointerGetDatum(NULL);
}
