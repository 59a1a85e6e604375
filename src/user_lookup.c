/*
 * user_lookup.c
 *    Does this user exist? log_out_everywhere asks on every call.
 *
 * SQL's answer, "SELECT FROM users WHERE id = $1", costs an executor run,
 * about as much as the revocation itself on the request path. Where it gives
 * the same answer, one descent of a btree index on the id column costs a
 * fraction of that. "The same answer" means: a plain table with no children
 * (SQL would search them too), no row level security for this role, the
 * caller allowed to read the id column, and a valid, non-partial btree index
 * led by the id column with the id type's default equality and the column's
 * collation. Anything else, and SQL it is.
 *
 * The index is remembered in the settings entry, which a change to the user
 * table resets; every call still checks it against the locked relations.
 * Locks are kept to the end of the transaction, as SQL keeps them.
 */
#include "logout_everywhere.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/* Would SQL, run now by this role, see exactly the rows of this table? */
static bool
TableAnswersAsSQLWould(Relation table, UserTableSettings *settings)
{
	Oid			relid = RelationGetRelid(table);
	Oid			role = GetUserId();
	Form_pg_attribute id_attribute;

	if (table->rd_rel->relkind != RELKIND_RELATION || table->rd_rel->relhassubclass)
		return false;

	/* The id column is still the one the settings describe. */
	if (settings->id_attnum < 1 || settings->id_attnum > RelationGetNumberOfAttributes(table))
		return false;
	id_attribute = TupleDescAttr(RelationGetDescr(table), settings->id_attnum - 1);
	if (id_attribute->attisdropped || id_attribute->atttypid != settings->id_type ||
		strcmp(NameStr(id_attribute->attname), settings->id_column) != 0)
		return false;

	if (table->rd_rel->relrowsecurity &&
		check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	return pg_class_aclcheck(relid, role, ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck(relid, settings->id_attnum, role, ACL_SELECT) == ACLCHECK_OK;
}

/*
 * Is this index of the user table one whose equality search on its first
 * column finds what "id = $1" finds? On success, *equality is the operator.
 */
static bool
IndexAnswersAsSQLWould(Relation index, Relation table, UserTableSettings *settings,
					   Oid *equality)
{
	Form_pg_index index_form = index->rd_index;
	TypeCacheEntry *type_entry;

	if (index->rd_rel->relkind != RELKIND_INDEX || index->rd_rel->relam != BTREE_AM_OID ||
		index_form->indrelid != RelationGetRelid(table) || !index_form->indisvalid ||
		!index_form->indislive || index_form->indkey.values[0] != settings->id_attnum ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	if (index->rd_opcintype[0] != settings->id_type ||
		index->rd_indcollation[0] !=
		TupleDescAttr(RelationGetDescr(table), settings->id_attnum - 1)->attcollation)
		return false;

	/* SQL's "=" is the type's default btree equality (UserIdCondition). */
	type_entry = lookup_type_cache(settings->id_type,
								   TYPECACHE_EQ_OPR | TYPECACHE_BTREE_OPFAMILY);
	if (index->rd_opfamily[0] != type_entry->btree_opf || !OidIsValid(type_entry->eq_opr))
		return false;
	*equality = type_entry->eq_opr;
	return true;
}

/* The first usable index on the id column, the primary key preferred. */
static Oid
FindIdIndex(Relation table, UserTableSettings *settings)
{
	List	   *indexes = RelationGetIndexList(table);
	Oid			found = InvalidOid;
	ListCell   *cell;

	foreach(cell, indexes)
	{
		Relation	index = index_open(lfirst_oid(cell), AccessShareLock);
		Oid			equality;

		if (IndexAnswersAsSQLWould(index, table, settings, &equality) &&
			(!OidIsValid(found) || index->rd_index->indisprimary))
			found = RelationGetRelid(index);
		index_close(index, NoLock);
	}
	list_free(indexes);
	return found;
}

/* Probe the index under the current snapshot. */
static bool
IndexHasId(Relation table, Relation index, Oid equality, Datum id)
{
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], get_opcode(equality), id);
	PushActiveSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(table, NULL);
	scan = index_beginscan(table, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	return found;
}

/*
 * Is there a row of the user table with this id (of the id column's type),
 * in the snapshot a query would read now? An index probe where one gives
 * SQL's answer, else SQL (UserExistsPlan), which also raises whatever error
 * SQL would: no privilege, a dropped table. Must be called inside an SPI
 * connection.
 */
bool
UserExists(UserTableSettings *settings, Datum id)
{
	Relation	table;
	Relation	index = NULL;
	Oid			equality;
	bool		probed = false;
	bool		found = false;

	PrepareUserInfo(settings);
	table = try_relation_open(settings->user_table, AccessShareLock);
	if (table != NULL && TableAnswersAsSQLWould(table, settings))
	{
		if (!settings->id_index_ready)
		{
			settings->id_index = FindIdIndex(table, settings);
			settings->id_index_ready = true;
		}
		if (OidIsValid(settings->id_index))
			index = try_relation_open(settings->id_index, AccessShareLock);
		if (index != NULL && IndexAnswersAsSQLWould(index, table, settings, &equality))
		{
			found = IndexHasId(table, index, equality, id);
			probed = true;
		}
	}
	if (index != NULL)
		relation_close(index, NoLock);
	if (table != NULL)
		relation_close(table, NoLock);
	if (probed)
		return found;

	if (SPI_execute_plan(UserExistsPlan(settings), &id, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking up the user failed");
	return SPI_processed > 0;
}
