/*
 * password_trigger.c
 *    apply_on_password_change?: log a user out everywhere when the password
 *    column of their row changes, in the same transaction.
 *
 * enable() attaches password_trigger() twice to the user table:
 *   AFTER UPDATE FOR EACH ROW WHEN (old.pw IS DISTINCT FROM new.pw)
 *       collects the subject of each user whose password changed;
 *   AFTER UPDATE FOR EACH STATEMENT
 *       revokes all their tokens in one set-based UPDATE.
 * The WHEN clause keeps every other UPDATE free of any work of ours. The
 * collected subjects live in TopTransactionContext, tagged with the
 * subtransaction that collected them, so that an error, a cancel or a
 * ROLLBACK TO SAVEPOINT leaves nothing behind.
 */
#include "logout_everywhere.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(password_trigger);

typedef struct PendingSubject
{
	Oid			user_table;
	SubTransactionId subtransaction;
	Datum		subject;
} PendingSubject;

/* Subjects collected by row triggers and not yet revoked. */
static List *pending_subjects = NIL;

void
PasswordTriggerXactEnd(void)
{
	/* The memory goes with TopTransactionContext. */
	pending_subjects = NIL;
}

/*
 * Before commit nothing may be left: the statement trigger did not run
 * (disabled?) and committing would keep tokens that must be revoked.
 */
void
PasswordTriggerPreCommit(void)
{
	if (pending_subjects != NIL)
	{
		PendingSubject *first = (PendingSubject *) linitial(pending_subjects);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("password changes in \"%s\" were not followed by a log-out",
						get_rel_name(first->user_table)),
				 errhint("The trigger logout_everywhere_password_flush must be enabled with logout_everywhere_password.")));
	}
}

/* A subtransaction ends: hand its subjects to the parent, or forget them. */
void
PasswordTriggerSubXactEnd(bool commit, SubTransactionId my_subid,
						  SubTransactionId parent_subid)
{
	ListCell   *cell;

	foreach(cell, pending_subjects)
	{
		PendingSubject *pending = (PendingSubject *) lfirst(cell);

		if (pending->subtransaction != my_subid)
			continue;
		if (commit)
			pending->subtransaction = parent_subid;
		else
			pending_subjects = foreach_delete_current(pending_subjects, cell);
	}
}

static UserTableSettings *
SettingsForTrigger(Relation rel)
{
	UserTableSettings *settings = FindSettings(RelationGetRelid(rel));

	if (settings == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not enabled for logout_everywhere",
						RelationGetRelationName(rel)),
				 errhint("Call logout_everywhere.enable() for it, or drop its logout_everywhere triggers.")));
	return settings;
}

/* Row trigger: remember the subject of the user (by the old id). */
static void
CollectPasswordChange(TriggerData *trigger_data)
{
	UserTableSettings *settings = SettingsForTrigger(trigger_data->tg_relation);
	TupleDesc	desc = RelationGetDescr(trigger_data->tg_relation);
	Datum		id;
	bool		isnull;
	char	   *id_text;
	PendingSubject *pending;
	MemoryContext old;

	PrepareUserInfo(settings);
	id = heap_getattr(trigger_data->tg_trigtuple, settings->id_attnum, desc, &isnull);
	if (isnull)
		return;					/* no id, no subject, no token */
	id_text = OidOutputFunctionCall(settings->id_output_function, id);

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending = palloc(sizeof(PendingSubject));
	pending->user_table = settings->user_table;
	pending->subtransaction = GetCurrentSubTransactionId();
	pending->subject = PointerGetDatum(SubjectForIdText(settings, id_text));
	pending_subjects = lappend(pending_subjects, pending);
	MemoryContextSwitchTo(old);
	pfree(id_text);
}

/*
 * Statement trigger: revoke the tokens of every user collected for this
 * table, sparing logout_everywhere.current_jti. The list is detached first:
 * a statement run by the revocation itself collects and flushes its own.
 */
static void
FlushPasswordChanges(TriggerData *trigger_data)
{
	Oid			user_table = RelationGetRelid(trigger_data->tg_relation);
	Datum	   *subjects;
	int			count = 0;
	ListCell   *cell;
	UserTableSettings *settings;
	text	   *except_jti = NULL;

	if (pending_subjects == NIL)
		return;

	/* This table's subjects are taken; the others stay pending. */
	subjects = palloc(sizeof(Datum) * list_length(pending_subjects));
	foreach(cell, pending_subjects)
	{
		PendingSubject *pending = (PendingSubject *) lfirst(cell);

		if (pending->user_table == user_table)
		{
			subjects[count++] = pending->subject;
			pending_subjects = foreach_delete_current(pending_subjects, cell);
		}
	}
	if (count == 0)
		return;

	settings = SettingsForTrigger(trigger_data->tg_relation);
	if (current_jti_setting != NULL && current_jti_setting[0] != '\0')
		except_jti = cstring_to_text(current_jti_setting);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	RevokeSubjects(settings, subjects, count, NULL, NULL, except_jti);
	SPI_finish();
}

/*
 * password_trigger(): the row trigger collects, the statement trigger
 * revokes; both AFTER UPDATE.
 */
Datum
password_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigger_data = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("password_trigger: not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigger_data->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigger_data->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("password_trigger: must be fired AFTER UPDATE")));

	if (TRIGGER_FIRED_FOR_ROW(trigger_data->tg_event))
		CollectPasswordChange(trigger_data);
	else
		FlushPasswordChanges(trigger_data);
	return PointerGetDatum(NULL);
}
