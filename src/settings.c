/*
 * settings.c
 *    logout_everywhere.settings, read once per backend and cached until the
 *    table (or a user or token table named in it, or any schema) changes.
 *
 * The settings table has no grant for application roles: the cache reads
 * it directly, as pg_cron reads its job table, with a catalog snapshot
 * taken at that moment rather than the caller's transaction snapshot. So a
 * backend whose REPEATABLE READ transaction began before an enable() or
 * disable() committed does not cache what was true before it, and no user
 * code runs during the read.
 */
#include "logout_everywhere.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
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
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "catalog/pg_operator.h"

PG_FUNCTION_INFO_V1(settings_changed);

/* The columns of logout_everywhere.settings, in the install script's order. */
enum SettingsColumn
{
	SETTINGS_USER_TABLE,
	SETTINGS_TOKEN_TABLE,
	SETTINGS_ID_COLUMN,
	SETTINGS_PASSWORD_COLUMN,
	SETTINGS_SUBJECT_NAME,
	SETTINGS_INCLUDE_PURPOSES,
	SETTINGS_EXCLUDE_PURPOSES,
	SETTINGS_APPLY_ON_PASSWORD_CHANGE,
	SETTINGS_ACTION_NAME,
	SETTINGS_ARGUMENT_NAME,
	SETTINGS_COLUMNS
};

static bool settings_valid = false;
static MemoryContext settings_context = NULL;
static UserTableSettings *settings_entries = NULL;
static int	settings_count = 0;

/*
 * Bumped by every invalidation that resets the cache: a load during which
 * one arrived serves its caller but is not kept.
 */
static uint64 settings_generation = 0;

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

/*
 * Forget the cached settings. What callers still hold stays valid until the
 * end of the transaction. A rolled-back enable() needs no code here: the
 * abort replays its invalidations locally, which calls this.
 */
void
ResetSettingsCache(void)
{
	if (settings_context != NULL)
	{
		for (int i = 0; i < settings_count; i++)
			RetirePlan(settings_entries[i].user_lookup_plan);
		RetireContext(settings_context);
	}
	settings_context = NULL;
	settings_entries = NULL;
	settings_count = 0;
	settings_valid = false;
	settings_generation++;
	extension_schema = InvalidOid;
	settings_relid = InvalidOid;
}

/*
 * Relcache callback: the settings table, or a user or token table named in
 * it, changed (the plans are built from both tables' names and columns).
 */
static void
SettingsRelcacheCallback(Datum arg, Oid relid)
{
	bool		affected = !OidIsValid(relid) || relid == settings_relid;

	for (int i = 0; !affected && i < settings_count; i++)
		affected = settings_entries[i].user_table == relid ||
			settings_entries[i].token_table == relid;
	if (affected)
		ResetSettingsCache();
}

/*
 * A schema changed (a rename): the plans name tables by schema, and would be
 * parsed again under the old name.
 */
static void
SettingsNamespaceCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	ResetSettingsCache();
}

void
SettingsInit(void)
{
	CacheRegisterRelcacheCallback(SettingsRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, SettingsNamespaceCallback, (Datum) 0);
}

static char *
CopyName(Datum value, bool isnull)
{
	return isnull ? NULL : pstrdup(NameStr(*DatumGetName(value)));
}

/* Read logout_everywhere.settings into a fresh cache context. */
static void
LoadSettings(void)
{
	MemoryContext new_context;
	MemoryContext old_context;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	row;
	uint64		generation;
	int			capacity = 4;
	int			count = 0;
	UserTableSettings *entries;

	ResetSettingsCache();
	generation = settings_generation;
	new_context = AllocSetContextCreate(LogoutEverywhereCacheContext(),
										"logout_everywhere settings",
										ALLOCSET_SMALL_SIZES);
	old_context = MemoryContextSwitchTo(new_context);
	entries = palloc0(sizeof(UserTableSettings) * capacity);

	/* No snapshot given: a catalog snapshot, taken after the lock. */
	rel = table_open(SettingsTableOid(false), AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(row = systable_getnext(scan)))
	{
		Datum		values[SETTINGS_COLUMNS];
		bool		nulls[SETTINGS_COLUMNS];
		UserTableSettings *entry;

		if (RelationGetDescr(rel)->natts < SETTINGS_COLUMNS)
			elog(ERROR, "logout_everywhere.settings has %d columns, expected %d",
				 RelationGetDescr(rel)->natts, SETTINGS_COLUMNS);
		heap_deform_tuple(row, RelationGetDescr(rel), values, nulls);
		/* A row left behind by a dropped user table is no setting. */
		if (get_rel_relkind(DatumGetObjectId(values[SETTINGS_USER_TABLE])) == '\0')
			continue;
		if (count == capacity)
		{
			capacity *= 2;
			entries = repalloc(entries, sizeof(UserTableSettings) * capacity);
		}
		entry = &entries[count++];
		memset(entry, 0, sizeof(UserTableSettings));
		entry->user_table = DatumGetObjectId(values[SETTINGS_USER_TABLE]);
		entry->token_table = DatumGetObjectId(values[SETTINGS_TOKEN_TABLE]);
		entry->id_column = CopyName(values[SETTINGS_ID_COLUMN], nulls[SETTINGS_ID_COLUMN]);
		entry->password_column = CopyName(values[SETTINGS_PASSWORD_COLUMN],
										  nulls[SETTINGS_PASSWORD_COLUMN]);
		entry->subject_name = TextDatumGetCString(values[SETTINGS_SUBJECT_NAME]);
		entry->include_purposes = nulls[SETTINGS_INCLUDE_PURPOSES] ? NULL :
			DatumGetArrayTypePCopy(values[SETTINGS_INCLUDE_PURPOSES]);
		entry->exclude_purposes = nulls[SETTINGS_EXCLUDE_PURPOSES] ? NULL :
			DatumGetArrayTypePCopy(values[SETTINGS_EXCLUDE_PURPOSES]);
		entry->apply_on_password_change =
			DatumGetBool(values[SETTINGS_APPLY_ON_PASSWORD_CHANGE]);
		entry->action_name = CopyName(values[SETTINGS_ACTION_NAME], nulls[SETTINGS_ACTION_NAME]);
		entry->argument_name = CopyName(values[SETTINGS_ARGUMENT_NAME],
										nulls[SETTINGS_ARGUMENT_NAME]);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	MemoryContextSwitchTo(old_context);

	settings_context = new_context;
	settings_entries = entries;
	settings_count = count;
	/* Remember the table's OID so that the relcache callback knows it. */
	(void) SettingsTableOid(false);
	settings_valid = (generation == settings_generation);
}

/*
 * Take in what other backends committed (an enable() or disable()) before
 * answering: cheap when nothing arrived, and the first call of a statement
 * then acts on the settings in force, not on what the last lock it took
 * happened to let in.
 */
static void
EnsureSettingsLoaded(void)
{
	AcceptInvalidationMessages();
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

/* The token tables of every enabled user table but one (or InvalidOid). */
List *
SettingsTokenTables(Oid except_user_table)
{
	List	   *tables = NIL;

	EnsureSettingsLoaded();
	for (int i = 0; i < settings_count; i++)
		if (settings_entries[i].user_table != except_user_table)
			tables = list_append_unique_oid(tables, settings_entries[i].token_table);
	return tables;
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
 * The plan that finds a user: $1 is an id of the id column's type; it
 * returns the id as stored in each row found. Must be called inside an SPI
 * connection.
 */
SPIPlanPtr
UserLookupPlan(UserTableSettings *settings)
{
	PrepareUserInfo(settings);
	if (settings->user_lookup_plan == NULL)
		settings->user_lookup_plan =
			KeepSettingsPlan(settings,
							 KeepPlan(psprintf("SELECT %s FROM %s WHERE %s",
											   quote_identifier(settings->id_column),
											   QualifiedUserTable(settings),
											   UserIdCondition(settings, 1)),
									  1, &settings->id_type));
	return settings->user_lookup_plan;
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
	return PointerGetDatum(NULL);
}
