/*
 * cache.c
 *    The memory that per-backend caches live in, and the plans and contexts
 *    they replace while a transaction runs.
 *
 * A leaf module: settings.c and token_table.c keep their caches here and
 * call it; it calls neither. Each cache registers its own invalidation
 * callbacks with PostgreSQL and resets itself. Also the one privilege
 * check that running a cached plan skips.
 */
#include "logout_everywhere.h"

#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static MemoryContext cache_context = NULL;

/*
 * Plans and contexts replaced while a transaction runs are kept until it
 * ends: a caller further up the stack may still be using them.
 */
static List *retired_plans = NIL;
static List *retired_contexts = NIL;

/*
 * The context for everything cached across transactions (settings, token
 * table shapes). Plans kept with SPI_keepplan live under CacheMemoryContext.
 */
MemoryContext
LogoutEverywhereCacheContext(void)
{
	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(CacheMemoryContext,
											  "logout_everywhere cache",
											  ALLOCSET_SMALL_SIZES);
	return cache_context;
}

/* Keep a replaced plan until the end of the transaction, then free it. */
void
RetirePlan(SPIPlanPtr plan)
{
	MemoryContext old;

	if (plan == NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	retired_plans = lappend(retired_plans, plan);
	MemoryContextSwitchTo(old);
}

/* Keep a replaced cache context until the end of the transaction. */
void
RetireContext(MemoryContext context)
{
	MemoryContext old;

	if (context == NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	retired_contexts = lappend(retired_contexts, context);
	MemoryContextSwitchTo(old);
}

/* At the end of a transaction nothing uses what was retired any more. */
void
FreeRetiredCaches(void)
{
	ListCell   *cell;

	foreach(cell, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(cell));
	list_free(retired_plans);
	retired_plans = NIL;

	foreach(cell, retired_contexts)
		MemoryContextDelete((MemoryContext) lfirst(cell));
	list_free(retired_contexts);
	retired_contexts = NIL;
}

/*
 * Prepare and keep a plan; called inside an SPI connection. The plans are
 * generic: their parameters never change the best plan (an index lookup),
 * and a custom plan would be planned again on every call.
 */
SPIPlanPtr
KeepPlan(const char *query, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(query, nargs, argtypes,
										  CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", query,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * 42501 unless the current role may use the schema of this relation. A
 * cached plan was parsed once, maybe by another role (SET ROLE, a pool):
 * the executor checks table and column privileges and row-level security
 * on every run, but the parser's check of the schema is not repeated, so
 * it is made here, with the same function and the same error.
 */
void
RequireSchemaUsage(Oid relid)
{
	Oid			namespace = get_rel_namespace(relid);
	AclResult	result;

#if PG_VERSION_NUM >= 160000
	result = object_aclcheck(NamespaceRelationId, namespace, GetUserId(), ACL_USAGE);
#else
	result = pg_namespace_aclcheck(namespace, GetUserId(), ACL_USAGE);
#endif
	if (result != ACLCHECK_OK)
		aclcheck_error(result, OBJECT_SCHEMA, get_namespace_name(namespace));
}
