/*
 * configuration.c
 *    enable() and disable(): the add-on's DSL as SQL.
 *
 * enable() checks everything before it changes anything; then, with
 * search_path set to pg_catalog only (as CREATE EXTENSION does), it records
 * the settings, makes sure the token table has an index led by subject and
 * the token guard trigger, creates the action and, if asked, the password
 * triggers. It runs as the caller: creating the index, triggers and action
 * needs the caller's own privileges. Only the settings row is written as the
 * settings table's owner, after the ownership check.
 */
#include "logout_everywhere.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/regproc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(enable);
PG_FUNCTION_INFO_V1(disable);

/*
 * enable() and disable() drop and create their own triggers and action; the
 * event trigger (dropped_objects.c) must not take those drops for a user's.
 */
static bool configuring = false;

bool
ConfigurationInProgress(void)
{
	return configuring;
}

/* What enable() was given, NULLs resolved. */
typedef struct EnableArguments
{
	Oid			user_table;
	Oid			token_table;
	char	   *id_column;
	char	   *password_column;
	char	   *subject_name;
	ArrayType  *include_purposes;
	ArrayType  *exclude_purposes;
	bool		apply_on_password_change;
	char	   *action_name;
	char	   *argument_name;
} EnableArguments;

static char *
NonEmptyName(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *value;

	RequireArgument(fcinfo, argno, name);
	value = pstrdup(NameStr(*PG_GETARG_NAME(argno)));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	return value;
}

/* 42501 unless the current user owns the relation. */
static void
RequireOwner(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
	if (!pg_class_ownercheck(relid, GetUserId()))
#endif
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind),
					   get_rel_name(relid));
}

static Relation
OpenTable(Oid relid, LOCKMODE mode)
{
	Relation	rel = try_relation_open(relid, mode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return rel;
}

static char *
QualifiedRelationName(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static char *
ExtensionSchemaName(void)
{
	return (char *) quote_identifier(get_namespace_name(ExtensionSchemaOid()));
}

/* "tokens" as the caller's search_path finds it (the contract's default). */
static Oid
DefaultTokenTable(void)
{
	Oid			relid = RangeVarGetRelid(makeRangeVar(NULL, "tokens", -1), NoLock, true);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"tokens\" does not exist"),
				 errhint("Pass token_table to logout_everywhere.enable(), or put the schema of \"tokens\" on search_path.")));
	return relid;
}

/* The default equality operator of a type, 42883 when it has none. */
static Oid
EqualityOperator(Oid type)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR);

	if (!OidIsValid(entry->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(type))));
	return entry->eq_opr;
}

/* A column of the user table must exist and be comparable. */
static void
RequireUserColumn(Relation rel, const char *column, const char *argument)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errhint("Pass the right column as %s.", argument)));
	(void) EqualityOperator(get_atttype(RelationGetRelid(rel), attnum));
}

/* Run one generated statement; every name in it is quoted. */
static void
RunStatement(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static void
DropTriggerIfExists(Oid relid, const char *trigger)
{
	if (OidIsValid(get_trigger_oid(relid, trigger, true)))
		RunStatement(psprintf("DROP TRIGGER %s ON %s", quote_identifier(trigger),
							  QualifiedRelationName(relid)));
}

/*
 * Does this function call one of ours? The action's SQL-standard body
 * records a dependency on log_out_everywhere; before PostgreSQL 14 enable()
 * recorded one on the extension.
 */
static bool
CallsExtension(Oid function)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	row;
	bool		found = false;

	ScanKeyInit(&keys[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ProcedureRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(function));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, keys);
	while (!found && HeapTupleIsValid(row = systable_getnext(scan)))
	{
		Form_pg_depend dependency = (Form_pg_depend) GETSTRUCT(row);

		/*
		 * A normal dependency only: ALTER FUNCTION ... DEPENDS ON EXTENSION,
		 * which any function owner may run, records an 'x' one.
		 */
		found = dependency->deptype == DEPENDENCY_NORMAL &&
			((dependency->refclassid == ProcedureRelationId &&
			  get_func_namespace(dependency->refobjid) == ExtensionSchemaOid()) ||
			 dependency->refclassid == ExtensionRelationId);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return found;
}

/* The table's owner, or InvalidOid when the table is gone. */
static Oid
TableOwner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * The action function of a user table, or InvalidOid: named action_name,
 * taking the table's row, owned by the table's owner (enable() gives it to it),
 * calling log_out_everywhere. The one in the table's schema if there is
 * one; else looked for in the other schemas, so that it is found after
 * ALTER TABLE ... SET SCHEMA moved the table away from it. Nobody but the
 * table's owner can make a function that qualifies.
 */
static Oid
ActionFunction(Oid user_table, const char *action_name)
{
	Oid			row_type = get_rel_type_id(user_table);
	Oid			table_schema = get_rel_namespace(user_table);
	Oid			table_owner = TableOwner(user_table);
	CatCList   *candidates;
	Oid			found = InvalidOid;

	if (!OidIsValid(table_owner))
		return InvalidOid;

	candidates = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(action_name));
	for (int i = 0; i < candidates->n_members; i++)
	{
		HeapTuple	tuple = &candidates->members[i]->tuple;
		Form_pg_proc function = (Form_pg_proc) GETSTRUCT(tuple);

		if (function->pronargs != 1 || function->proargtypes.values[0] != row_type ||
			function->proowner != table_owner || !CallsExtension(function->oid))
			continue;
		if (!OidIsValid(found) || function->pronamespace == table_schema)
			found = function->oid;
	}
	ReleaseSysCacheList(candidates);
	return found;
}

/*
 * Can enable() replace the user table's action in place (CREATE OR REPLACE,
 * which keeps its grants and what depends on it)? Only when it is in the
 * table's schema and has the same argument name: a new name or argument
 * name is a new function.
 */
static bool
ActionReplaceable(Oid user_table, const char *action_name, const char *argument_name)
{
	Oid			action = ActionFunction(user_table, action_name);
	HeapTuple	tuple;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	bool		same;

	if (!OidIsValid(action) || get_func_namespace(action) != get_rel_namespace(user_table))
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(action));
	if (!HeapTupleIsValid(tuple))
		return false;
	same = get_func_arg_info(tuple, &types, &names, &modes) == 1 &&
		names != NULL && strcmp(names[0], argument_name) == 0;
	ReleaseSysCache(tuple);
	return same;
}

/* Remove what enable() made on the user table (not the token guard). */
static void
DropUserTableObjects(Oid user_table, const char *action_name)
{
	Oid			action = ActionFunction(user_table, action_name);

	if (OidIsValid(action))
		RunStatement(psprintf("DROP FUNCTION %s", format_procedure_qualified(action)));
	DropTriggerIfExists(user_table, PASSWORD_TRIGGER);
}

/*
 * Make this backend see the settings it just wrote: SPI increments the
 * command counter before a statement, not after, so do it here and drop
 * the cached copy.
 */
static void
SettingsWritten(void)
{
	CommandCounterIncrement();
	ResetSettingsCache();
}

/* Insert or replace the settings row, as the settings table's owner. */
static void
WriteSettings(EnableArguments *args)
{
	Oid			types[10] = {REGCLASSOID, REGCLASSOID, NAMEOID, NAMEOID, TEXTOID,
		TEXTARRAYOID, TEXTARRAYOID, BOOLOID, NAMEOID, NAMEOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			saved_userid;
	int			saved_sec_context;
	char	   *sql;
	int			rc;

	values[0] = ObjectIdGetDatum(args->user_table);
	values[1] = ObjectIdGetDatum(args->token_table);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(args->id_column));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(args->password_column));
	values[4] = CStringGetTextDatum(args->subject_name);
	values[5] = PointerGetDatum(args->include_purposes);
	values[6] = PointerGetDatum(args->exclude_purposes);
	values[7] = BoolGetDatum(args->apply_on_password_change);
	values[8] = DirectFunctionCall1(namein, CStringGetDatum(args->action_name));
	values[9] = DirectFunctionCall1(namein, CStringGetDatum(args->argument_name));
	if (args->include_purposes == NULL)
		nulls[5] = 'n';
	if (args->exclude_purposes == NULL)
		nulls[6] = 'n';

	sql = psprintf("INSERT INTO %s.settings (user_table, token_table, id_column,"
				   " password_column, subject_name, include_purposes, exclude_purposes,"
				   " apply_on_password_change, action_name, argument_name)"
				   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
				   " ON CONFLICT (user_table) DO UPDATE SET token_table = excluded.token_table,"
				   " id_column = excluded.id_column, password_column = excluded.password_column,"
				   " subject_name = excluded.subject_name,"
				   " include_purposes = excluded.include_purposes,"
				   " exclude_purposes = excluded.exclude_purposes,"
				   " apply_on_password_change = excluded.apply_on_password_change,"
				   " action_name = excluded.action_name, argument_name = excluded.argument_name",
				   ExtensionSchemaName());
	SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
	rc = SPI_execute_with_args(sql, 10, types, values, nulls, false, 0);
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "writing logout_everywhere.settings failed: %s", SPI_result_code_string(rc));
	SettingsWritten();
}

static void
DeleteSettings(Oid user_table)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(user_table)};
	Oid			saved_userid;
	int			saved_sec_context;
	int			rc;

	SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
	rc = SPI_execute_with_args(psprintf("DELETE FROM %s.settings WHERE user_table OPERATOR(pg_catalog.=) $1",
										ExtensionSchemaName()),
							   1, types, values, NULL, false, 0);
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "deleting from logout_everywhere.settings failed: %s", SPI_result_code_string(rc));
	SettingsWritten();
}

/*
 * Log-outs look tokens up by subject: a valid, non-partial btree index must
 * have subject as its leading column; enable() creates one if none has.
 */
static bool
HasSubjectIndex(Relation tokens)
{
	AttrNumber	subject = get_attnum(RelationGetRelid(tokens), "subject");
	List	   *indexes = RelationGetIndexList(tokens);
	ListCell   *cell;

	foreach(cell, indexes)
	{
		Relation	index = index_open(lfirst_oid(cell), AccessShareLock);
		bool		usable = index->rd_index->indkey.values[0] == subject &&
			index->rd_index->indisvalid &&
			index->rd_rel->relam == BTREE_AM_OID &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL);

		index_close(index, AccessShareLock);
		if (usable)
			return true;
	}
	return false;
}

static void
CreateSubjectIndex(Oid token_table)
{
	ereport(NOTICE,
			(errmsg("creating an index on \"%s\" (subject)", get_rel_name(token_table)),
			 errdetail("Log-outs look tokens up by subject.")));
	RunStatement(psprintf("CREATE INDEX ON %s (subject)", QualifiedRelationName(token_table)));
}

/*
 * The token table and its inheritance children, each of which takes token
 * writes of its own; partitions are left out, since they get a clone of the
 * parent's trigger.
 */
static List *
GuardedTables(Oid token_table)
{
	List	   *members = find_all_inheritors(token_table, NoLock, NULL);
	List	   *tables = NIL;
	ListCell   *cell;

	foreach(cell, members)
		if (lfirst_oid(cell) == token_table || !get_rel_relispartition(lfirst_oid(cell)))
			tables = lappend_oid(tables, lfirst_oid(cell));
	return tables;
}

/*
 * The trigger through which token writes take their locks (concurrency.c).
 * One that is there under the name but disabled or changed is made again.
 */
static void
GuardTable(Oid table)
{
	Relation	rel = relation_open(table, AccessShareLock);
	bool		guarded = HasTokenGuard(rel);

	relation_close(rel, NoLock);
	if (guarded)
		return;
	DropTriggerIfExists(table, TOKEN_GUARD_TRIGGER);
	RunStatement(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW"
						  " EXECUTE FUNCTION %s.token_guard()",
						  TOKEN_GUARD_TRIGGER, QualifiedRelationName(table),
						  ExtensionSchemaName()));
}

/* The guard on the token table and each inheritance child. */
static void
EnsureTokenGuard(Oid token_table)
{
	ListCell   *cell;

	foreach(cell, GuardedTables(token_table))
		GuardTable(lfirst_oid(cell));
}

/* Is one of the tables a partition or descendant of the other? */
static bool
InOneTree(Oid a, Oid b)
{
	return list_member_oid(find_all_inheritors(a, NoLock, NULL), b) ||
		list_member_oid(find_all_inheritors(b, NoLock, NULL), a);
}

/*
 * 0A000 for a token table above or below another user table's token table
 * (a partition or inheritance child of it, or its parent): the two would
 * share guards, which disable() and DETACH PARTITION take away from both.
 */
static void
RefuseNestedTokenTable(Oid user_table, Oid token_table)
{
	ListCell   *cell;

	foreach(cell, SettingsTokenTables(user_table))
	{
		Oid			other = lfirst_oid(cell);

		if (other != token_table && InOneTree(other, token_table))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("token table \"%s\" is a partition, child or parent of \"%s\", the token table of another user table",
							get_rel_name(token_table), get_rel_name(other)),
					 errdetail("Two user tables can share one token table, but not tables of one partition or inheritance tree.")));
	}
}

/*
 * The token guard goes, from the table and its children, when no enabled
 * user table uses the table any more; a child that DDL after enable() made
 * part of another enabled token table's tree too keeps it.
 */
static void
DropTokenGuardIfUnused(Oid token_table)
{
	List	   *needed = NIL;
	ListCell   *cell;

	if (CountSettingsUsingTokenTable(token_table) != 0 ||
		get_rel_relkind(token_table) == '\0')
		return;
	foreach(cell, SettingsTokenTables(InvalidOid))
		needed = list_concat_unique_oid(needed,
										find_all_inheritors(lfirst_oid(cell), NoLock, NULL));
	foreach(cell, GuardedTables(token_table))
		if (!list_member_oid(needed, lfirst_oid(cell)))
			DropTriggerIfExists(lfirst_oid(cell), TOKEN_GUARD_TRIGGER);
}

/* The action's name and argument types, for REVOKE and COMMENT ON. */
static char *
ActionSignature(EnableArguments *args)
{
	return psprintf("%s(%s)",
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(args->user_table)),
											   args->action_name),
					format_type_be_qualified(get_rel_type_id(args->user_table)));
}

/* Revoke every grant on the function but its owner's. */
static void
RevokeActionGrants(const char *signature)
{
	List	   *grantees = NIL;
	ListCell   *cell;

	if (SPI_execute(psprintf("SELECT DISTINCT a.grantee FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a"
							 " WHERE p.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regprocedure"
							 "   AND a.grantee OPERATOR(pg_catalog.<>) p.proowner",
							 quote_literal_cstr(signature)), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the privileges of %s", signature);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		grantees = lappend_oid(grantees, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																		 SPI_tuptable->tupdesc, 1, &isnull)));
	}
	/* PUBLIC always: a function is executable by PUBLIC unless revoked. */
	RunStatement(psprintf("REVOKE ALL ON FUNCTION %s FROM PUBLIC", signature));
	foreach(cell, grantees)
		if (lfirst_oid(cell) != InvalidOid)
			RunStatement(psprintf("REVOKE ALL ON FUNCTION %s FROM %s", signature,
								  quote_identifier(GetUserNameFromId(lfirst_oid(cell), false))));
}

/*
 * The action <schema>.<action_name>(<argument_name> <user row>) RETURNS
 * bigint. From PostgreSQL 14 on its body is SQL-standard, so that the
 * server records that it depends on log_out_everywhere (DROP EXTENSION
 * without CASCADE refuses, with CASCADE drops it), also after a restore;
 * before 14 the dependency is recorded by hand.
 */
static void
CreateAction(EnableArguments *args, bool replace)
{
	char	   *signature = psprintf("%s(%s %s)",
									 quote_qualified_identifier(get_namespace_name(get_rel_namespace(args->user_table)),
																args->action_name),
									 quote_identifier(args->argument_name),
									 format_type_be_qualified(get_rel_type_id(args->user_table)));
	char	   *call = psprintf("%s.log_out_everywhere(($1).%s, user_table => %s::pg_catalog.regclass)",
								ExtensionSchemaName(), quote_identifier(args->id_column),
								quote_literal_cstr(QualifiedRelationName(args->user_table)));

#if PG_VERSION_NUM >= 140000
	RunStatement(psprintf("CREATE %sFUNCTION %s RETURNS pg_catalog.int8 LANGUAGE sql VOLATILE RETURN %s",
						  replace ? "OR REPLACE " : "", signature, call));
#else
	{
		ObjectAddress function;
		ObjectAddress extension;

		RunStatement(psprintf("CREATE %sFUNCTION %s RETURNS pg_catalog.int8 LANGUAGE sql VOLATILE AS %s",
							  replace ? "OR REPLACE " : "", signature,
							  quote_literal_cstr(psprintf("SELECT %s", call))));
		ObjectAddressSet(function, ProcedureRelationId,
						 ActionFunction(args->user_table, args->action_name));
		ObjectAddressSet(extension, ExtensionRelationId,
						 get_extension_oid("logout_everywhere", false));
		if (!replace)
			recordDependencyOn(&function, &extension, DEPENDENCY_NORMAL);
	}
#endif
	/*
	 * A new action is granted to nobody: not PUBLIC, nor whom the creating
	 * role's default privileges name. A replaced one keeps the grants the
	 * DBA gave it.
	 */
	if (!replace)
		RevokeActionGrants(ActionSignature(args));

	/*
	 * The action belongs to the table's owner, also when a superuser (or a
	 * member of the owner's role) enables the table: that is how enable(),
	 * disable() and the DDL triggers know it again (ActionFunction).
	 */
	if (!replace && GetUserId() != TableOwner(args->user_table))
	{
		/* the table is locked: it has an owner */
		const char *owner = GetUserNameFromId(TableOwner(args->user_table), false);
		const char *schema = get_namespace_name(get_rel_namespace(args->user_table));
		bool		isnull;

		/*
		 * ALTER FUNCTION ... OWNER TO needs it from a caller that is not a
		 * superuser, and its error names no one.
		 */
		if (!superuser())
		{
			if (SPI_execute(psprintf("SELECT pg_catalog.has_schema_privilege(%s, %s, 'CREATE')",
									 quote_literal_cstr(owner), quote_literal_cstr(schema)),
							false, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not check the privileges of role \"%s\"", owner);
			if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("role \"%s\", the owner of \"%s\", has no CREATE privilege on schema \"%s\"",
								owner, get_rel_name(args->user_table), schema),
						 errdetail("The action %s belongs to the user table's owner.", ActionSignature(args))));
		}
		RunStatement(psprintf("ALTER FUNCTION %s OWNER TO %s", ActionSignature(args),
							  quote_identifier(owner)));
	}
	RunStatement(psprintf("COMMENT ON FUNCTION %s IS %s",
						  ActionSignature(args),
						  quote_literal_cstr("Log this user out everywhere (made by logout_everywhere.enable; returns how many tokens it revoked)")));
}

/*
 * The password trigger (password_trigger.c): one statement trigger that
 * sees the old and new rows. It reads the password column by name, so it
 * is recorded as depending on that column, as a WHEN clause naming it
 * would be: dropping the column or changing its type is refused while the
 * trigger exists.
 */
static void
CreatePasswordTrigger(EnableArguments *args)
{
	ObjectAddress trigger;
	ObjectAddress column;

	RunStatement(psprintf("CREATE TRIGGER %s AFTER UPDATE ON %s"
						  " REFERENCING OLD TABLE AS logout_everywhere_old_rows"
						  " NEW TABLE AS logout_everywhere_new_rows"
						  " FOR EACH STATEMENT EXECUTE FUNCTION %s.password_trigger()",
						  PASSWORD_TRIGGER, QualifiedRelationName(args->user_table),
						  ExtensionSchemaName()));
	ObjectAddressSet(trigger, TriggerRelationId,
					 get_trigger_oid(args->user_table, PASSWORD_TRIGGER, false));
	ObjectAddressSubSet(column, RelationRelationId, args->user_table,
						get_attnum(args->user_table, args->password_column));
	recordDependencyOn(&trigger, &column, DEPENDENCY_NORMAL);
}

/* Read and check enable()'s arguments; opens nothing. */
static void
ReadEnableArguments(FunctionCallInfo fcinfo, EnableArguments *args)
{
	RequireArgument(fcinfo, 0, "user_table");
	args->user_table = PG_GETARG_OID(0);
	args->token_table = PG_ARGISNULL(1) ? DefaultTokenTable() : PG_GETARG_OID(1);
	args->id_column = NonEmptyName(fcinfo, 2, "id_column");
	args->password_column = NonEmptyName(fcinfo, 3, "password_column");
	RequireArgument(fcinfo, 4, "subject_name");
	args->subject_name = text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (args->subject_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject_name must not be empty")));
	args->include_purposes = PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P_COPY(5);
	args->exclude_purposes = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P_COPY(6);
	ValidatePurposes(args->include_purposes, "include_purposes");
	ValidatePurposes(args->exclude_purposes, "exclude_purposes");
	RequireArgument(fcinfo, 7, "apply_on_password_change");
	args->apply_on_password_change = PG_GETARG_BOOL(7);
	args->action_name = NonEmptyName(fcinfo, 8, "action_name");
	args->argument_name = NonEmptyName(fcinfo, 9, "argument_name");
	if (args->user_table == args->token_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the user table and the token table must differ")));
}

/* Set search_path to pg_catalog for what follows; returns the GUC level. */
int
UseSafeSearchPath(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return level;
}

/*
 * enable(user_table, token_table, id_column, password_column, subject_name,
 *        include_purposes, exclude_purposes, apply_on_password_change,
 *        action_name, argument_name) RETURNS void
 */
Datum
enable(PG_FUNCTION_ARGS)
{
	EnableArguments args;
	Relation	users;
	Relation	tokens;
	UserTableSettings *previous;
	char	   *volatile previous_action = NULL;
	volatile Oid previous_token_table = InvalidOid;
	volatile bool replace_action = false;
	bool		needs_index;
	int			guc_level;

	RequireWritable("logout_everywhere.enable()");
	ReadEnableArguments(fcinfo, &args);

	/* Check everything first: a failure leaves no trace. */
	RequireOwner(args.user_table);
	users = OpenTable(args.user_table, ShareRowExclusiveLock);
	if (users->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(users)),
				 errdetail("A user table must be a plain (not partitioned) table.")));
	/* The password trigger of a table does not see UPDATEs of its children. */
	if (users->rd_rel->relhassubclass && find_inheritance_children(args.user_table, NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("user table \"%s\" has inheritance children", RelationGetRelationName(users)),
				 errdetail("A password change in a child would not log its user out.")));
	RequireUserColumn(users, args.id_column, "id_column");
	if (args.apply_on_password_change)
		RequireUserColumn(users, args.password_column, "password_column");
	/*
	 * enable() installs a trigger on the token table: it must be ours,
	 * checked before its lock, which would queue behind its token writes.
	 */
	RequireOwner(args.token_table);
	tokens = OpenTable(args.token_table, ShareRowExclusiveLock);
	ValidateTokenTable(tokens);
	RefuseNestedTokenTable(args.user_table, args.token_table);
	needs_index = !HasSubjectIndex(tokens);
	/* Keep the locks; the DDL below needs the relations closed. */
	relation_close(tokens, NoLock);
	relation_close(users, NoLock);

	previous = FindSettings(args.user_table);
	if (previous != NULL)
	{
		previous_action = pstrdup(previous->action_name);
		previous_token_table = previous->token_table;
		replace_action = strcmp(previous_action, args.action_name) == 0 &&
			ActionReplaceable(args.user_table, args.action_name, args.argument_name);
	}

	guc_level = UseSafeSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	configuring = true;
	PG_TRY();
	{
		if (replace_action)
			DropTriggerIfExists(args.user_table, PASSWORD_TRIGGER);
		else if (previous_action != NULL)
			DropUserTableObjects(args.user_table, previous_action);
		WriteSettings(&args);
		if (OidIsValid(previous_token_table) && previous_token_table != args.token_table)
			DropTokenGuardIfUnused(previous_token_table);
		if (needs_index)
			CreateSubjectIndex(args.token_table);
		EnsureTokenGuard(args.token_table);
		CreateAction(&args, replace_action);
		if (args.apply_on_password_change)
			CreatePasswordTrigger(&args);
	}
	PG_FINALLY();
	{
		configuring = false;
	}
	PG_END_TRY();
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	PG_RETURN_VOID();
}

/*
 * disable(user_table) RETURNS void: remove the settings, action and
 * triggers that enable() made; the token guard goes with the last user
 * table that uses its token table. The index stays; no token changes.
 */
Datum
disable(PG_FUNCTION_ARGS)
{
	Oid			user_table;
	Relation	users;
	UserTableSettings *settings;
	char	   *action_name;
	Oid			token_table;
	int			guc_level;

	RequireWritable("logout_everywhere.disable()");
	RequireArgument(fcinfo, 0, "user_table");
	user_table = PG_GETARG_OID(0);
	RequireOwner(user_table);
	users = OpenTable(user_table, ShareRowExclusiveLock);

	settings = FindSettings(user_table);
	if (settings == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not enabled for logout_everywhere",
						RelationGetRelationName(users)),
				 errhint("logout_everywhere.settings lists the tables given to logout_everywhere.enable().")));
	action_name = pstrdup(settings->action_name);
	token_table = settings->token_table;
	relation_close(users, NoLock);

	guc_level = UseSafeSearchPath();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	configuring = true;
	PG_TRY();
	{
		RemoveConfiguration(user_table, action_name, token_table);
	}
	PG_FINALLY();
	{
		configuring = false;
	}
	PG_END_TRY();
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	PG_RETURN_VOID();
}

/*
 * What the event trigger (dropped_objects.c) does when a table or column
 * that a settings row names was dropped. Called inside an SPI connection,
 * with a safe search_path, as the settings table's owner.
 */

/*
 * disable() for a user table, or for one that is gone (its action and
 * trigger went with it): the settings row, and the token guard if no other
 * user table uses the token table.
 */
void
RemoveConfiguration(Oid user_table, const char *action_name, Oid token_table)
{
	if (get_rel_relkind(user_table) != '\0')
		DropUserTableObjects(user_table, action_name);
	DeleteSettings(user_table);
	DropTokenGuardIfUnused(token_table);
}

/*
 * An inheritance child made of a token table gets the guard too. One whose
 * guard its owner disabled keeps it so (and a log-out refuses the table).
 */
void
GuardTokenTableChild(Oid child)
{
	if (!OidIsValid(get_trigger_oid(child, TOKEN_GUARD_TRIGGER, true)))
		GuardTable(child);
}

/*
 * The user table moved to another schema (ALTER TABLE ... SET SCHEMA): its
 * action, <schema of user_table>.<action_name>, moves with it.
 */
void
MoveActionWithTable(Oid user_table, const char *action_name)
{
	Oid			action = ActionFunction(user_table, action_name);

	if (OidIsValid(action) && get_func_namespace(action) != get_rel_namespace(user_table))
		RunStatement(psprintf("ALTER FUNCTION %s SET SCHEMA %s",
							  format_procedure_qualified(action),
							  quote_identifier(get_namespace_name(get_rel_namespace(user_table)))));
}

/* The id or password column was renamed: the settings take the new name. */
void
FollowRenamedColumns(Oid user_table, const char *id_column, const char *password_column)
{
	Oid			types[3] = {REGCLASSOID, NAMEOID, NAMEOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	Oid			saved_userid;
	int			saved_sec_context;
	int			rc;

	values[0] = ObjectIdGetDatum(user_table);
	values[1] = id_column ? DirectFunctionCall1(namein, CStringGetDatum(id_column)) : (Datum) 0;
	values[2] = password_column ? DirectFunctionCall1(namein, CStringGetDatum(password_column)) : (Datum) 0;
	if (id_column == NULL)
		nulls[1] = 'n';
	if (password_column == NULL)
		nulls[2] = 'n';
	SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
	rc = SPI_execute_with_args(psprintf("UPDATE %s.settings SET id_column = coalesce($2, id_column),"
										" password_column = coalesce($3, password_column)"
										" WHERE user_table OPERATOR(pg_catalog.=) $1",
										ExtensionSchemaName()),
							   3, types, values, nulls, false, 0);
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating logout_everywhere.settings failed: %s", SPI_result_code_string(rc));
	SettingsWritten();
}

/* The password trigger is gone or going: the settings must not claim it. */
void
ForgetPasswordTrigger(Oid user_table)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(user_table)};
	Oid			saved_userid;
	int			saved_sec_context;
	int			rc;

	DropTriggerIfExists(user_table, PASSWORD_TRIGGER);
	SwitchToSettingsOwner(&saved_userid, &saved_sec_context);
	rc = SPI_execute_with_args(psprintf("UPDATE %s.settings SET apply_on_password_change = false"
										" WHERE user_table OPERATOR(pg_catalog.=) $1",
										ExtensionSchemaName()),
							   1, types, values, NULL, false, 0);
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating logout_everywhere.settings failed: %s", SPI_result_code_string(rc));
	SettingsWritten();
}
