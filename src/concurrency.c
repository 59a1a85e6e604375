/*
 * concurrency.c
 *    The handshake that makes token writes and log-outs of one subject meet.
 *
 * An UPDATE cannot see a row that another transaction inserted and has not
 * committed: a login still open while a log-out runs would leave a live
 * token behind. So both sides take locks in the lock manager, with tags of
 * the advisory kind that only this extension uses (field4 below keeps them
 * apart from pg_advisory_lock's). The tags name a token table and the
 * subject. A log-out locks its token table's tag; a token write locks the
 * tag of the table it writes to and of every table above it (partition
 * parents, inheritance parents: GuardedTables), since a log-out's UPDATE of
 * any of those reaches the row. Keyed by table, one owner's token table
 * cannot delay log-outs on another's.
 *
 *   subject lock (table, hash of subject)
 *       token write  SHARE      - logins of one user never wait for each other
 *       log-out      EXCLUSIVE  - waits for open logins of that user; a login
 *                                 that comes later waits for the log-out
 *   table lock (table)
 *       token write  ROW SHARE
 *       log-out      ROW EXCLUSIVE, after its subject locks
 *       escalated token writer  SHARE: takes no more subject locks
 *       escalated log-out       EXCLUSIVE: takes no more subject locks
 *
 * A transaction escalates once it would hold more than MAX_SUBJECT_LOCKS
 * subject locks, counting token writes and log-outs together, so that no
 * statement shape (a bulk INSERT, SELECT log_out_everywhere(u) FROM users,
 * a loop of password changes) can exhaust the shared lock table. A token
 * write whose row a later BEFORE trigger may still change escalates at
 * once: the guard cannot know the subject that will be stored.
 *
 * The modes are chosen so that what must not wait does not: ROW SHARE,
 * ROW EXCLUSIVE and SHARE leave each other alone except ROW EXCLUSIVE and
 * SHARE (a log-out against an escalated writer), and EXCLUSIVE waits for
 * all. A log-out takes its subject locks in hash order, then the table
 * lock; a writer its subject lock, then the table lock, table by table. A
 * login waiting for a log-out of its user so holds nothing of the table's,
 * and a log-out that escalates part-way (EXCLUSIVE on the table, after its
 * subject locks) waits only for logins that are not waiting for it. A hash
 * collision between two subjects only makes one wait for the other.
 *
 * A transaction that wrote a token for a user (SHARE) and then logs that
 * user out (EXCLUSIVE) upgrades its lock; two such transactions would wait
 * for each other. When the upgrade cannot be granted at once, the SHARE
 * lock is given back first and the EXCLUSIVE one waited for. Another
 * log-out of that user may then run first and miss this transaction's
 * tokens, which it cannot see: so the yielding log-out revokes every token
 * this transaction wrote for the subject, whatever purposes or jti it was
 * asked to spare (the guard keeps their jtis).
 */
#include "logout_everywhere.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/fmgroids.h"
#include "utils/resowner.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(token_guard);

/* field4 of our lock tags ("LE" and "LF"); pg_advisory_lock uses 1 and 2. */
#define SUBJECT_LOCK_FIELD4 0x4C45
#define TABLE_LOCK_FIELD4 0x4C46

/*
 * What this transaction holds. Every lock is taken for the whole
 * transaction (TakeLock), so a subtransaction's abort releases none of them
 * and these stay true; the transaction callback resets them.
 */
static int	subject_locks = 0;
static bool writer_escalated = false;
static bool logout_escalated = false;

/*
 * The live tokens this transaction wrote under a subject lock: their
 * subject's hash and jti, in TopTransactionContext.
 */
typedef struct WrittenToken
{
	Oid			table;
	uint32		subject_hash;
	text	   *jti;
	int			level;			/* subtransaction nesting level of the write */
} WrittenToken;

static List *written_tokens = NIL;
static int	written_count = 0;
static Size written_bytes = 0;

/*
 * Past this many live tokens written in one transaction, or this many bytes
 * of their jtis, a writer escalates too: the jtis kept for a give-back
 * (LockSubjectExclusive) would otherwise grow with every row.
 */
#define MAX_WRITTEN_TOKENS 10000
#define MAX_WRITTEN_BYTES (1024 * 1024)

/*
 * A subject lock this transaction gave back (LockSubjectExclusive). A
 * log-out that ran meanwhile could not see the tokens the transaction wrote
 * under it, so those must be revoked before it commits. discharged_level is
 * the subtransaction nesting level at which a log-out of the subject did so,
 * 0 while none has: a savepoint rolled back takes the revocation with it.
 */
typedef struct YieldedLock
{
	Oid			table;
	uint32		subject_hash;
	int			discharged_level;
} YieldedLock;

static List *yielded_locks = NIL;

static List *WrittenUnder(Oid table, uint32 subject_hash, List *jtis);

void
ResetConcurrencyState(void)
{
	subject_locks = 0;
	writer_escalated = false;
	logout_escalated = false;
	written_tokens = NIL;
	written_count = 0;
	written_bytes = 0;
	yielded_locks = NIL;
}

static YieldedLock *
FindYieldedLock(Oid table, uint32 subject_hash)
{
	ListCell   *cell;

	foreach(cell, yielded_locks)
	{
		YieldedLock *yielded = (YieldedLock *) lfirst(cell);

		if (yielded->table == table && yielded->subject_hash == subject_hash)
			return yielded;
	}
	return NULL;
}

static void
NoteYieldedLock(Oid table, uint32 subject_hash)
{
	MemoryContext old;
	YieldedLock *yielded = FindYieldedLock(table, subject_hash);

	if (yielded != NULL)
	{
		yielded->discharged_level = 0;
		return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	yielded = palloc(sizeof(YieldedLock));
	yielded->table = table;
	yielded->subject_hash = subject_hash;
	yielded->discharged_level = 0;
	yielded_locks = lappend(yielded_locks, yielded);
	MemoryContextSwitchTo(old);
}

/*
 * A log-out of these subjects has revoked this transaction's own tokens of
 * every subject lock it gave back among theirs (RevokeSubjects).
 */
void
DischargeYieldedLocks(Oid table, Datum *subjects, int count)
{
	for (int i = 0; yielded_locks != NIL && i < count; i++)
	{
		YieldedLock *yielded = FindYieldedLock(table, SubjectLockHash(DatumGetTextPP(subjects[i])));

		if (yielded != NULL && yielded->discharged_level == 0)
			yielded->discharged_level = GetCurrentTransactionNestLevel();
	}
}

/*
 * End of a subtransaction: a revocation or a token write rolled back with
 * it no longer counts; one it committed now belongs to its parent.
 */
void
ConcurrencySubtransactionEnd(bool commit)
{
	int			level = GetCurrentTransactionNestLevel();
	int			keep = list_length(written_tokens);
	ListCell   *cell;

	/*
	 * The subtransaction's writes are the tail of the list: everything
	 * appended since it began, and nothing else.
	 */
	while (keep > 0)
	{
		WrittenToken *written = (WrittenToken *) list_nth(written_tokens, keep - 1);

		if (written->level < level)
			break;
		if (commit)
			written->level = level - 1;
		else
		{
			written_count--;
			if (written->jti)
			{
				written_bytes -= VARSIZE(written->jti);
				pfree(written->jti);
			}
			pfree(written);
		}
		keep--;
	}
	if (!commit)
		written_tokens = list_truncate(written_tokens, keep);
	foreach(cell, yielded_locks)
	{
		YieldedLock *yielded = (YieldedLock *) lfirst(cell);

		if (yielded->discharged_level >= level)
			yielded->discharged_level = commit ? level - 1 : 0;
	}
}

/*
 * Before COMMIT or PREPARE: 40001 if a subject lock was given back and no
 * log-out that revoked this transaction's own tokens of it stands (it
 * failed, was cancelled, or a savepoint rolled it back). Committing would
 * leave tokens that a log-out which ran meanwhile could not see.
 */
void
RequireYieldedLocksDischarged(void)
{
	ListCell   *cell;

	foreach(cell, yielded_locks)
	{
		YieldedLock *yielded = (YieldedLock *) lfirst(cell);

		if (yielded->discharged_level == 0 &&
			WrittenUnder(yielded->table, yielded->subject_hash, NIL) != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not commit: a log-out in this transaction gave back its lock on tokens the transaction wrote, and did not complete"),
					 errdetail("Another log-out of that user may have run meanwhile without seeing them."),
					 errhint("Retry the transaction, or log the user out again before COMMIT.")));
	}
}

static void
SetSubjectLockTag(LOCKTAG *tag, Oid table, uint32 subject_hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, table, subject_hash, SUBJECT_LOCK_FIELD4);
}

static void
SetTableLockTag(LOCKTAG *tag, Oid table)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, table, 0, TABLE_LOCK_FIELD4);
}

uint32
SubjectLockHash(text *subject)
{
	return hash_bytes((const unsigned char *) VARDATA_ANY(subject),
					  VARSIZE_ANY_EXHDR(subject));
}

static bool
HoldsLock(LOCKTAG *tag, LOCKMODE mode)
{
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(tag, mode, false);
#else
	return LockHeldByMe(tag, mode);
#endif
}

/*
 * Take a lock until the end of the top-level transaction, waiting as long as
 * it takes unless no_wait. It belongs to the transaction, not to the current
 * subtransaction: a ROLLBACK TO SAVEPOINT must not release the lock of a
 * token write or a log-out that an outer level also made, and only the owner
 * of a lock can give it back (LockSubjectExclusive).
 */
static LockAcquireResult
TakeLock(LOCKTAG *tag, LOCKMODE mode, bool no_wait)
{
	ResourceOwner saved = CurrentResourceOwner;
	LockAcquireResult result;

	/* An error (a cancel while waiting) resets the owner with the abort. */
	CurrentResourceOwner = TopTransactionResourceOwner;
	result = LockAcquire(tag, mode, false, no_wait);
	CurrentResourceOwner = saved;
	return result;
}

/* Give back every hold this transaction has on a lock in this mode. */
static void
ReleaseLock(LOCKTAG *tag, LOCKMODE mode)
{
	ResourceOwner saved = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	while (HoldsLock(tag, mode) && LockRelease(tag, mode, false))
		;
	CurrentResourceOwner = saved;
}

static void
TakeTableLock(Oid table, LOCKMODE mode)
{
	LOCKTAG		tag;

	SetTableLockTag(&tag, table);
	TakeLock(&tag, mode, false);
}

/*
 * The writer's side, for one of the tables the row is stored under: called
 * for every row that makes a token live. With row_may_change, a later
 * trigger may still rewrite the row, so no subject lock can stand for it.
 */
static void
LockSubjectForWrite(Oid table, text *subject, text *jti, bool row_may_change)
{
	LOCKTAG		tag;
	uint32		hash;
	MemoryContext old;
	WrittenToken *written;

	/* escalated, by writes or log-outs: SHARE on this table, no subject lock */
	if (writer_escalated || logout_escalated || row_may_change)
	{
		TakeTableLock(table, ShareLock);
		writer_escalated = true;
		return;
	}

	/*
	 * The subject lock first, then the table lock: a login that waits for a
	 * log-out of its user then holds none of the table's locks, so a log-out
	 * that escalates part-way through (EXCLUSIVE on the table) never waits
	 * for it.
	 */
	hash = SubjectLockHash(subject);
	SetSubjectLockTag(&tag, table, hash);
	if (TakeLock(&tag, ShareLock, false) == LOCKACQUIRE_OK)
		subject_locks++;
	if (subject_locks > MAX_SUBJECT_LOCKS || written_count >= MAX_WRITTEN_TOKENS ||
		(jti != NULL && written_bytes + toast_raw_datum_size(PointerGetDatum(jti)) > MAX_WRITTEN_BYTES))
	{
		TakeTableLock(table, ShareLock);
		writer_escalated = true;
		return;
	}
	TakeTableLock(table, RowShareLock);
	written_count++;
	old = MemoryContextSwitchTo(TopTransactionContext);
	written = palloc(sizeof(WrittenToken));
	written->table = table;
	written->subject_hash = hash;
	written->jti = jti ? (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(jti)) : NULL;
	if (written->jti)
		written_bytes += VARSIZE(written->jti);
	written->level = GetCurrentTransactionNestLevel();
	written_tokens = lappend(written_tokens, written);
	MemoryContextSwitchTo(old);
}

static int
CompareHashes(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/*
 * EXCLUSIVE on one subject. If this transaction wrote tokens of the subject
 * (it holds SHARE) and somebody else holds it too, give SHARE back before
 * waiting, or two such transactions would wait for each other; the lock is
 * noted as given back first (NoteYieldedLock): a log-out may run in the
 * meantime without seeing those tokens.
 */
static void
LockSubjectExclusive(Oid table, uint32 subject_hash)
{
	LOCKTAG		tag;
	LockAcquireResult result;

	SetSubjectLockTag(&tag, table, subject_hash);
	result = TakeLock(&tag, ExclusiveLock, true);
	if (result == LOCKACQUIRE_NOT_AVAIL)
	{
		int			holders = 0;

		/*
		 * Only another holder can make the upgrade wait for ever. A mere
		 * waiter (a log-out of this user queued behind our SHARE) lets the
		 * lock manager grant it ahead of that waiter: keep SHARE then.
		 */
		if (HoldsLock(&tag, ShareLock))
			(void) GetLockConflicts(&tag, ExclusiveLock, &holders);
		if (holders > 0)
		{
			/* noted before the wait, which a timeout or a cancel may end */
			NoteYieldedLock(table, subject_hash);
			ReleaseLock(&tag, ShareLock);
		}
		result = TakeLock(&tag, ExclusiveLock, false);
	}
	if (result == LOCKACQUIRE_OK)
		subject_locks++;
}

/* The jtis this transaction wrote for a subject whose lock it yielded. */
static List *
WrittenUnder(Oid table, uint32 subject_hash, List *jtis)
{
	ListCell   *cell;

	foreach(cell, written_tokens)
	{
		WrittenToken *written = (WrittenToken *) lfirst(cell);

		if (written->table == table && written->subject_hash == subject_hash &&
			written->jti != NULL)
			jtis = lappend(jtis, written->jti);
	}
	return jtis;
}

/*
 * The log-out's side: lock the subjects about to be revoked, so that every
 * open token write of theirs has committed (or rolled back) before the
 * revoking UPDATE takes its snapshot, and no new one starts until the
 * log-out's transaction ends. With wide (the token table has a trigger that
 * may change rows after the guard, whose writes take the table lock), the
 * table lock EXCLUSIVE at once. Returns the jtis of this
 * transaction's own tokens that the log-out must revoke whatever it spares
 * (LockSubjectExclusive), as text Datums; usually NIL.
 */
List *
LockSubjectsForRevocation(Oid table, Datum *subjects, int count, bool wide)
{
	uint32	   *hashes;
	List	   *own = NIL;

	bool		escalate = wide || logout_escalated ||
		subject_locks + count > MAX_SUBJECT_LOCKS;

	/* One order for everybody: two log-outs cannot deadlock on these. */
	hashes = palloc(sizeof(uint32) * Max(count, 1));
	for (int i = 0; i < count; i++)
		hashes[i] = SubjectLockHash(DatumGetTextPP(subjects[i]));
	qsort(hashes, count, sizeof(uint32), CompareHashes);
	if (escalate)
	{
		TakeTableLock(table, ExclusiveLock);
		logout_escalated = true;
	}
	for (int i = 0; i < count; i++)
	{
		if (i > 0 && hashes[i] == hashes[i - 1])
			continue;
		if (!escalate)
			LockSubjectExclusive(table, hashes[i]);
		/* a lock given back now or earlier (whose log-out may not stand) */
		if (FindYieldedLock(table, hashes[i]) != NULL)
			own = WrittenUnder(table, hashes[i], own);
	}
	pfree(hashes);

	if (!escalate)
	{
		TakeTableLock(table, writer_escalated ? ExclusiveLock : RowExclusiveLock);
		if (writer_escalated)
			logout_escalated = true;
	}
	return own;
}

/*
 * The tables that a row stored in rel is stored under: rel and every table
 * above it, each reached by a log-out's UPDATE of that table. Found once per
 * statement and trigger (the list lives in fn_extra), since tables are
 * attached and detached.
 *
 * Partition trees and inheritance trees do not mix. A partition's parents
 * change only by ATTACH and DETACH PARTITION; ATTACH locks the joining
 * table and all its partitions ACCESS EXCLUSIVE, so it waits for this
 * statement, which holds rel. ALTER TABLE ... INHERIT locks only the
 * joining table so: the walk up an inheritance tree locks each parent
 * (ACCESS SHARE, to the end of the transaction) before reading the parents
 * of that parent, or an ancestor could join a token table while this
 * transaction may still commit a token below it.
 *
 * A parent that is a token table passes subject down, so the walk goes up
 * only from a table whose subject is inherited: a token table that has no
 * parent, the common case, costs no catalog access.
 */
typedef struct GuardedTableList
{
	Oid			relid;			/* the table the trigger fires on */
	int			count;
	Oid			tables[FLEXIBLE_ARRAY_MEMBER];
} GuardedTableList;

static bool
SubjectInherited(Relation rel)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), "subject");

	return attnum > 0 && TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attinhcount > 0;
}

/* The direct inheritance parents of a table, from pg_inherits. */
static List *
InheritanceParents(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	return parents;
}

static List *
InheritanceAncestors(Relation rel)
{
	List	   *found = NIL;
	List	   *pending = list_make1_oid(RelationGetRelid(rel));

	while (pending != NIL)
	{
		List	   *parents = InheritanceParents(linitial_oid(pending));
		ListCell   *cell;

		pending = list_delete_first(pending);
		foreach(cell, parents)
		{
			Oid			parent = lfirst_oid(cell);
			Relation	parent_rel;

			if (list_member_oid(found, parent))
				continue;
			parent_rel = relation_open(parent, AccessShareLock);
			if (SPI_fnumber(RelationGetDescr(parent_rel), "subject") > 0)
			{
				found = lappend_oid(found, parent);
				if (SubjectInherited(parent_rel))
					pending = lappend_oid(pending, parent);
			}
			relation_close(parent_rel, NoLock);
		}
		list_free(parents);
	}
	return found;
}

static GuardedTableList *
GuardedTables(FunctionCallInfo fcinfo, Relation rel)
{
	GuardedTableList *list = (GuardedTableList *) fcinfo->flinfo->fn_extra;
	List	   *ancestors = NIL;
	int			n = 0;
	ListCell   *cell;

	if (list != NULL && list->relid == RelationGetRelid(rel))
		return list;
	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(RelationGetRelid(rel));
	else if (SubjectInherited(rel))
		ancestors = InheritanceAncestors(rel);

	list = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
							  offsetof(GuardedTableList, tables) +
							  sizeof(Oid) * (1 + list_length(ancestors)));
	list->relid = RelationGetRelid(rel);
	list->tables[n++] = RelationGetRelid(rel);
	foreach(cell, ancestors)
		list->tables[n++] = lfirst_oid(cell);
	list->count = n;
	list_free(ancestors);
	fcinfo->flinfo->fn_extra = list;
	return list;
}

/* 42804 unless the column is text or varchar (domains looked through). */
static void
RequireTextAttribute(Relation rel, int attnum, const char *column)
{
	Oid			type = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;

	if (type == TEXTOID || type == VARCHAROID)
		return;
	type = getBaseType(type);
	if (type != TEXTOID && type != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is of type %s",
						column, RelationGetRelationName(rel), format_type_be(type)),
				 errdetail("logout_everywhere's token guard needs text or varchar columns \"subject\" and \"purpose\".")));
}

/*
 * Does a BEFORE ROW trigger that fires after this one (triggers fire in
 * name order) run for this event? It may change the row after we saw it.
 */
static bool
LaterBeforeRowTrigger(TriggerData *trigger_data)
{
	TriggerDesc *triggers = trigger_data->tg_relation->trigdesc;
	int			event = TRIGGER_FIRED_BY_INSERT(trigger_data->tg_event)
		? TRIGGER_TYPE_INSERT : TRIGGER_TYPE_UPDATE;
	bool		after_us = false;

	if (triggers == NULL)
		return false;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Trigger    *trigger = &triggers->triggers[i];

		if (trigger->tgoid == trigger_data->tg_trigger->tgoid)
			after_us = true;
		else if (after_us && trigger->tgenabled != TRIGGER_DISABLED &&
				 TRIGGER_TYPE_MATCHES(trigger->tgtype, TRIGGER_TYPE_ROW,
									  TRIGGER_TYPE_BEFORE, event))
			return true;
	}
	return false;
}

/*
 * token_guard(): BEFORE INSERT OR UPDATE FOR EACH ROW on the token table
 * (and, through cloning, on each partition). A row whose new purpose is
 * not 'revocation' makes a token live: lock its subject. Revocations (ours
 * included) need no lock. Changes nothing. The table may be anything its
 * owner attached the trigger to: the columns are checked before they are
 * read.
 */
Datum
token_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigger_data = (TriggerData *) fcinfo->context;
	Relation	rel;
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
		TRIGGER_FIRED_BY_DELETE(trigger_data->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(trigger_data->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("token_guard: must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));

	rel = trigger_data->tg_relation;
	row = TRIGGER_FIRED_BY_UPDATE(trigger_data->tg_event)
		? trigger_data->tg_newtuple : trigger_data->tg_trigtuple;
	desc = RelationGetDescr(rel);
	subject_column = SPI_fnumber(desc, "subject");
	purpose_column = SPI_fnumber(desc, "purpose");
	if (subject_column <= 0 || purpose_column <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation \"%s\" has no columns \"subject\" and \"purpose\"",
						RelationGetRelationName(rel))));
	RequireTextAttribute(rel, subject_column, "subject");
	RequireTextAttribute(rel, purpose_column, "purpose");

	/*
	 * A later trigger may still change anything, a revocation into a live
	 * token included: the table locks, whatever the row says now.
	 */
	if (LaterBeforeRowTrigger(trigger_data))
	{
		GuardedTableList *tables = GuardedTables(fcinfo, rel);

		for (int i = 0; i < tables->count; i++)
			LockSubjectForWrite(tables->tables[i], NULL, NULL, true);
		return PointerGetDatum(row);
	}

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
	{
		int			jti_column = SPI_fnumber(desc, "jti");
		text	   *jti = NULL;
		Datum		jti_value;
		bool		jti_null = true;
		GuardedTableList *tables;

		if (jti_column > 0)
		{
			RequireTextAttribute(rel, jti_column, "jti");
			jti_value = heap_getattr(row, jti_column, desc, &jti_null);
			if (!jti_null)
				jti = DatumGetTextPP(jti_value);
		}
		tables = GuardedTables(fcinfo, rel);
		for (int i = 0; i < tables->count; i++)
			LockSubjectForWrite(tables->tables[i], DatumGetTextPP(value), jti, false);
	}
	return PointerGetDatum(row);
}
