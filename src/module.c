/*
 * module.c
 *    Module entry point: the GUC, the invalidation callbacks of the caches,
 *    and the transaction callback that keeps per-backend state in step with
 *    transactions.
 */
#include "logout_everywhere.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* logout_everywhere.current_jti: the token the password trigger spares. */
char	   *current_jti_setting = NULL;

/* logout_everywhere.synchronous_revocation: see PreCommit below. */
bool		synchronous_revocation_setting = true;

/* logout_everywhere.notify_channel: NOTIFY this channel per revoked subject. */
char	   *notify_channel_setting = NULL;

/* This transaction revoked at least one token. */
static bool revoked_in_transaction = false;

void
NoteRevocation(void)
{
	revoked_in_transaction = true;
}

/*
 * 25006 on a hot standby: a log-out, an expunge or a configuration change
 * writes. The checks (token_valid, is_revoked, require_valid_jwt) only read
 * and work there.
 */
void
RequireWritable(const char *function)
{
	PreventCommandDuringRecovery(function);
}

/*
 * A transaction that revoked a token commits with synchronous_commit raised
 * to remote_apply, so that once its COMMIT returns every synchronous standby
 * refuses the token too. Raised at the last moment before the commit record,
 * as SET LOCAL, so that no function's SET clause can undo it first, and never
 * lowered. Without synchronous standbys remote_apply waits for nothing.
 */
static void
PreCommit(void)
{
	RequireYieldedLocksDischarged();
	if (!revoked_in_transaction || !synchronous_revocation_setting ||
		synchronous_commit >= SYNCHRONOUS_COMMIT_REMOTE_APPLY)
		return;
	(void) set_config_option("synchronous_commit", "remote_apply",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
}

/* A channel name must be one NOTIFY takes (shorter than NAMEDATALEN). */
static bool
CheckNotifyChannel(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A channel name must be shorter than %d bytes.", NAMEDATALEN);
		return false;
	}
	return true;
}

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
		case XACT_EVENT_PRE_COMMIT:
			PreCommit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			RequireYieldedLocksDischarged();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			ResetConcurrencyState();
			FreeRetiredCaches();
			revoked_in_transaction = false;
			break;
		default:
			break;
	}
}

/* A subtransaction's end: see ConcurrencySubtransactionEnd. */
static void
SubtransactionCallback(SubXactEvent event, SubTransactionId subxact,
					   SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		ConcurrencySubtransactionEnd(true);
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		ConcurrencySubtransactionEnd(false);
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
	DefineCustomBoolVariable("logout_everywhere.synchronous_revocation",
							 "Commit a transaction that revoked tokens with synchronous_commit = remote_apply.",
							 "Once its COMMIT returns, every synchronous standby refuses the revoked tokens. Never lowers synchronous_commit.",
							 &synchronous_revocation_setting,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("logout_everywhere.notify_channel",
							   "Channel to NOTIFY, with the subject as payload, for each subject whose tokens a committed transaction revoked.",
							   "Empty (the default): no notification.",
							   &notify_channel_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckNotifyChannel, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("logout_everywhere");
#else
	EmitWarningsOnPlaceholders("logout_everywhere");
#endif

	RegisterXactCallback(TransactionCallback, NULL);
	RegisterSubXactCallback(SubtransactionCallback, NULL);
	SettingsInit();
	TokenTableInit();
}
