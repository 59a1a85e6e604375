/*
 * token_table.c
 *    The shape of a token table, checked against what AshAuthentication +
 *    AshPostgres create, and the SPI plans run on it, prepared once per
 *    backend and table and rebuilt when the relation cache says the table
 *    changed.
 *
 * Every statement names the table with quoted schema and name, every
 * operator and function with pg_catalog: nothing on search_path can step in.
 * The names are cached, so the cache also goes when any schema changes (a
 * renamed schema sends no relcache invalidation for its tables).
 */
#include "logout_everywhere.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* A handful of token tables at most: a small array will do. */
static TokenTable **token_tables = NULL;
static int	token_table_count = 0;
static int	token_table_capacity = 0;

/*
 * The type of a column with domains looked through, InvalidOid when the
 * column is missing and missing_ok, 42703 naming table and column otherwise.
 */
static Oid
ColumnBaseType(Relation rel, const char *column, bool missing_ok)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber)
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errdetail("A token table has the columns jti, subject, purpose and expires_at, as AshAuthentication creates them.")));
	}
	return getBaseType(get_atttype(RelationGetRelid(rel), attnum));
}

/*
 * 0A000 for a generated column: the revoking UPDATE writes subject and
 * purpose, and a BEFORE trigger sees no value of a stored generated column.
 */
static void
RefuseGeneratedColumn(Relation rel, const char *column)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum != InvalidAttrNumber &&
		TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attgenerated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of relation \"%s\" is a generated column",
						column, RelationGetRelationName(rel)),
				 errdetail("A token table's jti, subject, purpose and expires_at hold the values that are written.")));
}

/* 42804 unless the column is text or varchar. */
static void
RequireTextColumn(Relation rel, const char *column)
{
	Oid			type = ColumnBaseType(rel, column, false);

	if (type != TEXTOID && type != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s",
						column, RelationGetRelationName(rel), format_type_be(type)),
				 errdetail("The column must be of type text or varchar.")));
}

/*
 * 0A000 for a subject with a nondeterministic collation: the guard locks a
 * hash of the subject's bytes, and a log-out's UPDATE would also revoke
 * subjects that are equal but not the same bytes, without waiting for them.
 */
static void
RequireDeterministicSubject(Relation rel)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), "subject");
	Oid			collation = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attcollation;

	if (OidIsValid(collation) && !get_collation_isdeterministic(collation))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"subject\" of relation \"%s\" has a nondeterministic collation",
						RelationGetRelationName(rel)),
				 errdetail("A log-out orders itself against token writes by the subject's exact bytes."),
				 errhint("Use a deterministic collation for subject, such as \"C\" or \"default\".")));
}

/* 42804 unless the column is timestamp or timestamptz; returns which. */
static Oid
RequireTimestampColumn(Relation rel, const char *column, bool missing_ok)
{
	Oid			type = ColumnBaseType(rel, column, missing_ok);

	if (type != InvalidOid && type != TIMESTAMPOID && type != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s",
						column, RelationGetRelationName(rel), format_type_be(type)),
				 errdetail("The column must be of type timestamp or timestamptz.")));
	return type;
}

/*
 * Check that a relation can serve as a token table: a table with text-like
 * jti, subject and purpose, a timestamp or timestamptz expires_at and, if
 * there is one, updated_at.
 */
void
ValidateTokenTable(Relation rel)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("A token table must be a table.")));
	RequireTextColumn(rel, "jti");
	RequireTextColumn(rel, "subject");
	RequireDeterministicSubject(rel);
	RequireTextColumn(rel, "purpose");
	RequireTimestampColumn(rel, "expires_at", false);
	RequireTimestampColumn(rel, "updated_at", true);
	RefuseGeneratedColumn(rel, "jti");
	RefuseGeneratedColumn(rel, "subject");
	RefuseGeneratedColumn(rel, "purpose");
	RefuseGeneratedColumn(rel, "expires_at");
	RefuseGeneratedColumn(rel, "updated_at");
}

/*
 * "now" as a value of the column's type: a timestamp column holds the UTC
 * wall clock (as Ash writes it), whatever the session's TimeZone.
 */
static const char *
NowExpression(Oid type)
{
	if (type == TIMESTAMPOID)
		return "pg_catalog.timezone('UTC'::pg_catalog.text, pg_catalog.now())";
	return "pg_catalog.now()";
}

/* Does a trigger of the table fire only on UPDATE OF a list with this column? */
static bool
TriggerListsColumn(Relation rel, AttrNumber attnum)
{
	TriggerDesc *triggers = rel->trigdesc;

	if (triggers == NULL)
		return false;
	for (int i = 0; i < triggers->numtriggers; i++)
		for (int j = 0; j < triggers->triggers[i].tgnattr; j++)
			if (triggers->triggers[i].tgattr[j] == attnum)
				return true;
	return false;
}

/*
 * Does this table have the token guard that enable() creates: named so,
 * calling logout_everywhere.token_guard(), BEFORE INSERT OR UPDATE FOR EACH
 * ROW on every column, with no WHEN clause, firing in ordinary sessions
 * ('O' or 'A': a guard disabled or set to fire on replicas only is none)?
 */
bool
HasTokenGuard(Relation rel)
{
	TriggerDesc *triggers = rel->trigdesc;

	if (triggers == NULL)
		return false;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Trigger    *trigger = &triggers->triggers[i];
		char	   *schema;
		char	   *function;

		if (strcmp(trigger->tgname, TOKEN_GUARD_TRIGGER) != 0)
			continue;
		function = get_func_name(trigger->tgfoid);
		schema = get_namespace_name(get_func_namespace(trigger->tgfoid));
		return function != NULL && schema != NULL &&
			strcmp(function, "token_guard") == 0 &&
			strcmp(schema, "logout_everywhere") == 0 &&
			(trigger->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
			 trigger->tgenabled == TRIGGER_FIRES_ALWAYS) &&
			trigger->tgnattr == 0 && trigger->tgqual == NULL &&
			TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW,
								 TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_INSERT) &&
			TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW,
								 TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_UPDATE);
	}
	return false;
}

/*
 * Does a BEFORE ROW INSERT or UPDATE trigger fire after the guard (triggers
 * fire in name order)? It may change a row after the guard has seen it, so
 * writes there take the table-wide lock (concurrency.c), and so must the
 * log-outs whose UPDATE fires the guard there.
 */
bool
RowsChangeAfterGuard(Relation rel)
{
	TriggerDesc *triggers = rel->trigdesc;
	bool		after_guard = false;

	if (triggers == NULL)
		return false;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Trigger    *trigger = &triggers->triggers[i];

		if (strcmp(trigger->tgname, TOKEN_GUARD_TRIGGER) == 0)
			after_guard = true;
		else if (after_guard && trigger->tgenabled != TRIGGER_DISABLED &&
				 TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
				 (TRIGGER_FOR_INSERT(trigger->tgtype) || TRIGGER_FOR_UPDATE(trigger->tgtype)))
			return true;
	}
	return false;
}

static void
MissingGuard(const char *table)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s\" has no enabled logout_everywhere token guard", table),
			 errdetail("Without trigger %s, a login still open during a log-out would keep its token.",
					   TOKEN_GUARD_TRIGGER),
			 errhint("Call logout_everywhere.enable() again for the user table.")));
}

/*
 * A log-out's UPDATE reaches every partition and inheritance child of the
 * token table: each must have the guard, or a token written there during the
 * log-out would survive it. Partitions get a clone of the parent's trigger;
 * an inheritance child made after enable() has none. The children are
 * looked up on every log-out (no invalidation tells when one is added).
 * Returns whether a trigger of any of them may change rows after the guard.
 */
bool
RequireTokenGuards(TokenTable *table)
{
	Relation	rel;
	List	   *members;
	ListCell   *cell;
	bool		rows_change = table->rows_change_after_guard;

	if (!table->guarded)
		MissingGuard(get_rel_name(table->relid));
	if (!table->has_children)
		return rows_change;

	rel = relation_open(table->relid, AccessShareLock);
	members = find_all_inheritors(table->relid, AccessShareLock, NULL);
	relation_close(rel, NoLock);
	foreach(cell, members)
	{
		Relation	member;

		if (lfirst_oid(cell) == table->relid)
			continue;
		member = relation_open(lfirst_oid(cell), NoLock);
		if (member->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		{
			if (!HasTokenGuard(member))
				MissingGuard(RelationGetRelationName(member));
			rows_change = rows_change || RowsChangeAfterGuard(member);
		}
		relation_close(member, NoLock);
	}
	list_free(members);
	return rows_change;
}

/* Read the table's shape into a (re)used cache entry. */
static void
DescribeTokenTable(TokenTable *table)
{
	Relation	rel = try_relation_open(table->relid, AccessShareLock);
	MemoryContext old;

	/* The settings can outlive a token table dropped after enable(). */
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the token table (OID %u) recorded by logout_everywhere.enable() no longer exists",
						table->relid),
				 errhint("Call logout_everywhere.enable() again with the new token table, or logout_everywhere.disable() the user table.")));

	ValidateTokenTable(rel);
	old = MemoryContextSwitchTo(LogoutEverywhereCacheContext());
	if (table->qualified_name)
		pfree(table->qualified_name);
	table->qualified_name =
		pstrdup(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel)));
	MemoryContextSwitchTo(old);
	table->expires_type = RequireTimestampColumn(rel, "expires_at", false);
	table->updated_type = RequireTimestampColumn(rel, "updated_at", true);

	/*
	 * Where writing subject in the revoking UPDATE can make a difference that
	 * anyone sees, it is not written (RevokeStatement): a trigger UPDATE OF
	 * subject would fire, and the UPDATE of a partitioned table or of one with
	 * children reaches tables whose triggers are not looked at here.
	 */
	table->subject_attnum = get_attnum(table->relid, "subject");
	table->has_children = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
		rel->rd_rel->relhassubclass;
	table->subject_restatable = !table->has_children &&
		!TriggerListsColumn(rel, table->subject_attnum);
	table->guarded = HasTokenGuard(rel);
	table->rows_change_after_guard = RowsChangeAfterGuard(rel);
	relation_close(rel, AccessShareLock);
	table->valid = true;
}

/* Hand the plans of a stale entry over to be freed at transaction end. */
static void
ForgetPlans(TokenTable *table)
{
	for (int restate = 0; restate < 2; restate++)
		for (int returning = 0; returning < 2; returning++)
		{
			RetirePlan(table->revoke_plans[restate][returning]);
			table->revoke_plans[restate][returning] = NULL;
		}
	RetirePlan(table->revoke_own_plan);
	RetirePlan(table->valid_plan);
	RetirePlan(table->revoked_plan);
	RetirePlan(table->expunge_plan);
	table->revoke_own_plan = table->valid_plan = NULL;
	table->revoked_plan = table->expunge_plan = NULL;
}

/*
 * The cache entry of a token table, described and checked; plans are made
 * on first use. 42P01 when the table does not exist.
 */
TokenTable *
GetTokenTable(Oid relid)
{
	TokenTable *table = NULL;

	for (int i = 0; i < token_table_count; i++)
		if (token_tables[i]->relid == relid)
			table = token_tables[i];

	if (table == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(LogoutEverywhereCacheContext());

		if (token_table_count == token_table_capacity)
		{
			token_table_capacity = Max(4, token_table_capacity * 2);
			token_tables = token_tables
				? repalloc(token_tables, sizeof(TokenTable *) * token_table_capacity)
				: palloc(sizeof(TokenTable *) * token_table_capacity);
		}
		table = palloc0(sizeof(TokenTable));
		table->relid = relid;
		token_tables[token_table_count++] = table;
		MemoryContextSwitchTo(old);
	}

	if (!table->valid)
	{
		ForgetPlans(table);
		DescribeTokenTable(table);
	}
	return table;
}

/* Relcache callback: a token table changed, so describe it again. */
static void
TokenTableRelcacheCallback(Datum arg, Oid relid)
{
	for (int i = 0; i < token_table_count; i++)
		if (!OidIsValid(relid) || token_tables[i]->relid == relid)
			token_tables[i]->valid = false;
}

/* A schema changed (a rename): the cached names may be stale. */
static void
TokenTableNamespaceCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	TokenTableRelcacheCallback(arg, InvalidOid);
}

void
TokenTableInit(void)
{
	CacheRegisterRelcacheCallback(TokenTableRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, TokenTableNamespaceCallback, (Datum) 0);
}

/*
 * The revocation: $1 subjects (text[]), $2 include (text[], NULL: all),
 * $3 exclude (text[], NULL: none), $4 the jti to spare (NULL: none).
 * One set-based UPDATE for one user or ten thousand.
 *
 * With restate_subject, the SET list also has "subject = subject". The new
 * row is the same and HOT applies as before (heap_update compares values),
 * but the executor no longer hints to the subject index that its new entry
 * is an unchanged version of an old one (it reads the hint off the SET
 * list). On that hint, btree tries a bottom-up deletion pass before it
 * splits a full leaf page. A leaf of the subject index is all duplicates,
 * their rows spread over many heap pages, and the old versions the pass
 * would remove are the revocation's own, still live: the pass visits those
 * pages and fails. Without it a bulk revocation on a packed table is 1.6x
 * faster (README, Performance). Deduplication and the removal of entries
 * known dead still run.
 */
char *
RevokeStatement(TokenTable *table, bool restate_subject, bool returning)
{
	char	   *set_updated_at = "";

	if (OidIsValid(table->updated_type))
		set_updated_at = psprintf(", updated_at = %s", NowExpression(table->updated_type));
	return psprintf("UPDATE %s SET purpose = '" REVOCATION_PURPOSE "'%s%s"
					" WHERE subject OPERATOR(pg_catalog.=) ANY ($1)"
					" AND expires_at OPERATOR(pg_catalog.>) %s"
					" AND purpose OPERATOR(pg_catalog.<>) '" REVOCATION_PURPOSE "'"
					" AND ($2 IS NULL OR purpose OPERATOR(pg_catalog.=) ANY ($2))"
					" AND ($3 IS NULL OR NOT (purpose OPERATOR(pg_catalog.=) ANY ($3)))"
					" AND ($4 IS NULL OR jti OPERATOR(pg_catalog.<>) $4)%s",
					table->qualified_name, set_updated_at,
					restate_subject ? ", subject = subject" : "",
					NowExpression(table->expires_type),
					returning ? " RETURNING subject" : "");
}

/*
 * The revoking UPDATE for this caller: restating subject where that changes
 * nothing anyone sees and the caller may update subject (a role granted
 * UPDATE on purpose and updated_at only gets the plain statement); with
 * returning, it returns the subject of each row it revoked.
 */
SPIPlanPtr
RevokePlan(TokenTable *table, bool returning)
{
	Oid			types[4] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID};
	Oid			role = GetUserId();
	bool		restate = table->subject_restatable &&
		(pg_class_aclcheck(table->relid, role, ACL_UPDATE) == ACLCHECK_OK ||
		 pg_attribute_aclcheck(table->relid, table->subject_attnum, role,
							   ACL_UPDATE) == ACLCHECK_OK);
	SPIPlanPtr *plan = &table->revoke_plans[restate][returning];

	if (*plan == NULL)
		*plan = KeepPlan(RevokeStatement(table, restate, returning), 4, types);
	return *plan;
}

/*
 * The revocation of this transaction's own tokens, whatever the purposes
 * and the jti to spare: $1 jtis (text[]), $2 the subject locks' hashes
 * (int4[], hashtext() of the subject: the lock is shared by subjects whose
 * hashes collide); returns the subject of each row it revoked. See
 * LockSubjectsForRevocation.
 */
SPIPlanPtr
RevokeOwnPlan(TokenTable *table)
{
	if (table->revoke_own_plan == NULL)
	{
		Oid			types[2] = {TEXTARRAYOID, INT4ARRAYOID};
		char	   *set_updated_at = "";

		if (OidIsValid(table->updated_type))
			set_updated_at = psprintf(", updated_at = %s", NowExpression(table->updated_type));
		table->revoke_own_plan =
			KeepPlan(psprintf("UPDATE %s SET purpose = '" REVOCATION_PURPOSE "'%s"
							  " WHERE jti OPERATOR(pg_catalog.=) ANY ($1)"
							  " AND pg_catalog.hashtext(subject) OPERATOR(pg_catalog.=) ANY ($2)"
							  " AND expires_at OPERATOR(pg_catalog.>) %s"
							  " AND purpose OPERATOR(pg_catalog.<>) '" REVOCATION_PURPOSE "'"
							  " RETURNING subject",
							  table->qualified_name, set_updated_at,
							  NowExpression(table->expires_type)),
					 2, types);
	}
	return table->revoke_own_plan;
}

/* token_valid: $1 jti, $2 purpose. */
SPIPlanPtr
ValidPlan(TokenTable *table)
{
	if (table->valid_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, TEXTOID};
		char	   *query;

		query = psprintf("SELECT 1 FROM %s WHERE jti OPERATOR(pg_catalog.=) $1"
						 " AND purpose OPERATOR(pg_catalog.=) $2"
						 " AND expires_at OPERATOR(pg_catalog.>) %s LIMIT 1",
						 table->qualified_name, NowExpression(table->expires_type));
		table->valid_plan = KeepPlan(query, 2, types);
	}
	return table->valid_plan;
}

/* is_revoked: $1 jti. */
SPIPlanPtr
RevokedPlan(TokenTable *table)
{
	if (table->revoked_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		char	   *query;

		query = psprintf("SELECT 1 FROM %s WHERE jti OPERATOR(pg_catalog.=) $1"
						 " AND purpose OPERATOR(pg_catalog.=) '" REVOCATION_PURPOSE "' LIMIT 1",
						 table->qualified_name);
		table->revoked_plan = KeepPlan(query, 1, types);
	}
	return table->revoked_plan;
}

/*
 * expunge_expired, one batch of at most $1 rows. The outer condition repeats
 * the expiry test so that, even where ctid is not unique (partitions), only
 * expired rows are ever deleted.
 */
SPIPlanPtr
ExpungePlan(TokenTable *table)
{
	if (table->expunge_plan == NULL)
	{
		Oid			types[1] = {INT4OID};
		const char *now = NowExpression(table->expires_type);
		char	   *query;

		query = psprintf("DELETE FROM %s WHERE expires_at OPERATOR(pg_catalog.<) %s"
						 " AND ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
						 "SELECT ctid FROM %s WHERE expires_at OPERATOR(pg_catalog.<) %s"
						 " LIMIT $1))",
						 table->qualified_name, now, table->qualified_name, now);
		table->expunge_plan = KeepPlan(query, 1, types);
	}
	return table->expunge_plan;
}

/*
 * A purposes argument must be one-dimensional (2202E) and hold no NULL
 * (22004). NULL itself is fine: it means "the configured value".
 */
void
ValidatePurposes(ArrayType *purposes, const char *argument)
{
	if (purposes == NULL)
		return;
	if (ARR_NDIM(purposes) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argument)));
	if (array_contains_nulls(purposes))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL", argument)));
}
