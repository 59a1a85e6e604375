/*
 * module.c
 *    Module entry point: the GUC, the invalidation callbacks of the caches,
 *    and the transaction callback that keeps per-backend state in step with
 *    transactions.
 */
#include "logout_everywhere.h"

#include "access/xact.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* logout_everywhere.current_jti: the token the password trigger spares. */
char	   *current_jti_setting = NULL;

/*
 * End of a transaction: its locks are gone, and nothing uses what the
 * caches retired any more. The caches themselves follow invalidations,
 * which an abort also replays for what the transaction changed.
 */
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
			ResetConcurrencyState();
			FreeRetiredCaches();
			break;
		default:
			break;
	}
}

void
_PG_init(void)
{
	DefineCustomStringVariable("logout_everywhere.current_jti",
							   "Token (jti) of the current session, which the password trigger does not revoke.",
							   "Set it with SET LOCAL, or set_config(name, value, true) with a bound value, in the transaction that changes the password.",
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
	SettingsInit();
	TokenTableInit();
}
