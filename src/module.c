/*
 * module.c
 *    Module entry point: the GUC, and the callbacks that keep per-backend
 *    state in step with transactions and with the relation cache.
 */
#include "logout_everywhere.h"

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* logout_everywhere.current_jti: the token the password trigger spares. */
char	   *current_jti_setting = NULL;

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
 * A relation changed (or all did, relid = InvalidOid): drop what was derived
 * from it, so that no plan or setting outlives the definition it came from.
 */
static void
RelcacheCallback(Datum arg, Oid relid)
{
	SettingsRelcacheCallback(relid);
	TokenTableRelcacheCallback(relid);
}

/* End of a transaction: no state of ours may survive it. */
static void
TransactionCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			SettingsTransactionEnd(event == XACT_EVENT_ABORT ||
								   event == XACT_EVENT_PARALLEL_ABORT, true);
			ResetConcurrencyState();
			FreeRetiredCaches();
			break;
		default:
			break;
	}
}

/* A ROLLBACK TO SAVEPOINT drops settings cached from its own writes. */
static void
SubtransactionCallback(SubXactEvent event, SubTransactionId my_subid,
					   SubTransactionId parent_subid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		SettingsTransactionEnd(true, false);
}

void
_PG_init(void)
{
	DefineCustomStringVariable("logout_everywhere.current_jti",
							   "Token (jti) of the current session, which the password trigger does not revoke.",
							   "Set it with SET LOCAL in the transaction that changes the password.",
							   &current_jti_setting,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("logout_everywhere");
#else
	EmitWarningsOnPlaceholders("logout_everywhere");
#endif

	RegisterXactCallback(TransactionCallback, NULL);
	RegisterSubXactCallback(SubtransactionCallback, NULL);
	CacheRegisterRelcacheCallback(RelcacheCallback, (Datum) 0);
}
