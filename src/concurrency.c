/*
 * concurrency.c
 *    The handshake that makes token writes and log-outs of one subject meet.
 *
 * An UPDATE cannot see a row that another transaction inserted and has not
 * committed: a login still open while a log-out runs would leave a live
 * token behind. So both sides take locks in the lock manager, with tags of
 * the advisory kind that only this extension uses (field4 below keeps them
 * apart from pg_advisory_lock's):
 *
 *   subject lock (token table, hash of subject)
 *       token write  SHARE      - logins of one user never wait for each other
 *       log-out      EXCLUSIVE  - waits for open logins of that user; a login
 *                                 that comes later waits for the log-out
 *   table lock (token table)
 *       token write  ROW SHARE  - once per transaction
 *       log-out      ROW EXCLUSIVE, after its subject locks
 *       escalated token writer (more than MAX_SUBJECT_LOCKS subjects in one
 *                    transaction)  SHARE: stops taking subject locks
 *       escalated log-out (more than MAX_SUBJECT_LOCKS users in one
 *                    statement)    EXCLUSIVE: takes no subject locks
 *
 * The modes are chosen so that what must not wait does not: ROW SHARE,
 * ROW EXCLUSIVE and SHARE leave each other alone except ROW EXCLUSIVE and
 * SHARE (a log-out against a bulk writer), and EXCLUSIVE waits for all.
 * A log-out takes its subject locks in hash order, then the table lock; a
 * writer the table lock, then subject locks; neither order can close a cycle
 * between a log-out and a login. A hash collision between two subjects only
 * makes one wait for the other, never lets a token slip through.
 */
#include "logout_everywhere.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(token_guard);

/* field4 of our lock tags ("LE" and "LF"); pg_advisory_lock uses 1 and 2. */
#define SUBJECT_LOCK_FIELD4 0x4C45
#define TABLE_LOCK_FIELD4 0x4C46

/*
 * Per transaction and token table: how many subject locks token writes have
 * taken, and whether they escalated. Lives in TopTransactionContext; the
 * transaction callback forgets it. A subtransaction abort may release locks
 * while this stays: every row still asks the lock manager, which re-grants
 * what was released, so nothing is missed; the count only errs high.
 */
typedef struct WriterState
{
	Oid			token_table;
	int			subject_locks;
	bool		escalated;
} WriterState;

static List *writer_states = NIL;

void
ResetConcurrencyState(void)
{
	writer_states = NIL;
}

static void
SetSubjectLockTag(LOCKTAG *tag, Oid token_table, uint32 subject_hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, token_table, subject_hash,
						 SUBJECT_LOCK_FIELD4);
}

static void
SetTableLockTag(LOCKTAG *tag, Oid token_table)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, token_table, 0, TABLE_LOCK_FIELD4);
}

static uint32
SubjectHash(text *subject)
{
	return hash_bytes((const unsigned char *) VARDATA_ANY(subject),
					  VARSIZE_ANY_EXHDR(subject));
}

/* Take a transaction-level lock, waiting as long as it takes. */
static LockAcquireResult
TakeLock(LOCKTAG *tag, LOCKMODE mode)
{
	return LockAcquire(tag, mode, false, false);
}

static WriterState *
GetWriterState(Oid token_table)
{
	ListCell   *cell;
	WriterState *state;
	MemoryContext old;

	foreach(cell, writer_states)
	{
		state = (WriterState *) lfirst(cell);
		if (state->token_table == token_table)
			return state;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	state = palloc0(sizeof(WriterState));
	state->token_table = token_table;
	writer_states = lappend(writer_states, state);
	MemoryContextSwitchTo(old);
	return state;
}

/* The writer's side: called for every row that makes a token live. */
static void
LockSubjectForWrite(Oid token_table, text *subject)
{
	WriterState *state = GetWriterState(token_table);
	LOCKTAG		tag;

	SetTableLockTag(&tag, token_table);
	if (state->escalated)
	{
		TakeLock(&tag, ShareLock);
		return;
	}
	TakeLock(&tag, RowShareLock);

	SetSubjectLockTag(&tag, token_table, SubjectHash(subject));
	if (TakeLock(&tag, ShareLock) == LOCKACQUIRE_OK)
		state->subject_locks++;
	if (state->subject_locks > MAX_SUBJECT_LOCKS)
	{
		SetTableLockTag(&tag, token_table);
		TakeLock(&tag, ShareLock);
		state->escalated = true;
	}
}

static int
CompareHashes(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/*
 * The log-out's side: lock the subjects about to be revoked, so that every
 * open token write of theirs has committed (or rolled back) before the
 * revoking UPDATE takes its snapshot, and no new one starts until the
 * log-out's transaction ends.
 */
void
LockSubjectsForRevocation(Oid token_table, Datum *subjects, int count)
{
	LOCKTAG		tag;
	uint32	   *hashes;

	if (count > MAX_SUBJECT_LOCKS)
	{
		SetTableLockTag(&tag, token_table);
		TakeLock(&tag, ExclusiveLock);
		return;
	}

	/* One order for everybody: two log-outs cannot deadlock on these. */
	hashes = palloc(sizeof(uint32) * Max(count, 1));
	for (int i = 0; i < count; i++)
		hashes[i] = SubjectHash(DatumGetTextPP(subjects[i]));
	qsort(hashes, count, sizeof(uint32), CompareHashes);
	for (int i = 0; i < count; i++)
	{
		if (i > 0 && hashes[i] == hashes[i - 1])
			continue;
		SetSubjectLockTag(&tag, token_table, hashes[i]);
		TakeLock(&tag, ExclusiveLock);
	}
	pfree(hashes);

	SetTableLockTag(&tag, token_table);
	TakeLock(&tag, RowExclusiveLock);
}

/*
 * token_guard(): BEFORE INSERT OR UPDATE FOR EACH ROW on the token table.
 * A row whose new purpose is not 'revocation' makes a token live: lock its
 * subject. Revocations (ours included) need no lock. Changes nothing.
 */
Datum
token_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigger_data = (TriggerData *) fcinfo->context;
	HeapTuple	row;
	TupleDesc	desc;
	int			subject_column;
	int			purpose_column;
	Datum		value;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("token_guard: not called by trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigger_data->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigger_data->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigger_data->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("token_guard: must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));

	row = TRIGGER_FIRED_BY_UPDATE(trigger_data->tg_event)
		? trigger_data->tg_newtuple : trigger_data->tg_trigtuple;
	desc = RelationGetDescr(trigger_data->tg_relation);
	subject_column = SPI_fnumber(desc, "subject");
	purpose_column = SPI_fnumber(desc, "purpose");
	if (subject_column <= 0 || purpose_column <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation \"%s\" has no columns \"subject\" and \"purpose\"",
						RelationGetRelationName(trigger_data->tg_relation))));

	value = heap_getattr(row, purpose_column, desc, &isnull);
	if (!isnull)
	{
		text	   *purpose = DatumGetTextPP(value);

		if (VARSIZE_ANY_EXHDR(purpose) == strlen(REVOCATION_PURPOSE) &&
			memcmp(VARDATA_ANY(purpose), REVOCATION_PURPOSE,
				   strlen(REVOCATION_PURPOSE)) == 0)
			return PointerGetDatum(row);
	}

	value = heap_getattr(row, subject_column, desc, &isnull);
	if (!isnull)
		LockSubjectForWrite(RelationGetRelid(trigger_data->tg_relation),
							DatumGetTextPP(value));
	return PointerGetDatum(row);
}
