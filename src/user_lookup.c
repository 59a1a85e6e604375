/*
 * user_lookup.c
 *    Which rows of the user table have this id? log_out_everywhere asks on
 *    every call, and builds the subject from the answer.
 *
 * The question is SQL, "SELECT id FROM users WHERE id = $1", run through
 * SPI with the caller's privileges: SELECT on the id column, row-level
 * security and everything else PostgreSQL checks apply as they would to
 * the caller's own query. The plan is cached, so the schema check that
 * parsing makes is repeated here (RequireSchemaUsage).
 *
 * The subject comes from the id as stored, not as given: an id given in
 * another form that the type's equality takes as equal (a numeric with
 * another scale, a text id under a case-insensitive collation) names the
 * row found, and the row's own text form goes into the subject.
 */
#include "logout_everywhere.h"

#include "utils/lsyscache.h"

/*
 * The text forms of the stored ids that equal this id (a value of the id
 * column's type), in the snapshot a query would read now (read_only: the
 * calling statement's, for a STABLE caller); returns how many. Must be
 * called inside an SPI connection.
 */
int
FindStoredIds(UserTableSettings *settings, Datum id, bool read_only, char ***id_texts)
{
	SPIPlanPtr	plan = UserLookupPlan(settings);
	int			found = 0;

	RequireSchemaUsage(settings->user_table);
	if (SPI_execute_plan(plan, &id, NULL, read_only, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking up the user failed");

	*id_texts = palloc(sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		stored = SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			(*id_texts)[found++] = OidOutputFunctionCall(settings->id_output_function,
														 stored);
	}
	return found;
}
