/*
 * logout_everywhere.h
 *    Declarations shared by the files of the logout_everywhere extension.
 *
 * One file per concern:
 *    module.c            _PG_init, the GUC, transaction callbacks
 *    settings.c          logout_everywhere.settings, cached per backend
 *    token_table.c       shape of a token table and its cached SPI plans
 *    concurrency.c       the lock handshake between token writes and log-outs
 *    revocation.c        log_out_everywhere, revoke_subject, subject_for
 *    user_lookup.c       does a user exist: an index probe where SQL agrees
 *    checks.c            token_valid, is_revoked, expunge_expired
 *    postgrest.c         require_valid_jwt (PostgREST db-pre-request hook)
 *    password_trigger.c  the trigger that logs out on a password change
 *    configuration.c     enable and disable
 *    form_encoding.c     the subject encoder (pure C)
 */
#ifndef LOGOUT_EVERYWHERE_H
#define LOGOUT_EVERYWHERE_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"

/* The purpose that marks a revoked token, as AshAuthentication writes it. */
#define REVOCATION_PURPOSE "revocation"

/*
 * A transaction that locks more subjects than this, or a statement that logs
 * out more users than this, takes one table-wide lock instead (concurrency.c).
 * It keeps the shared lock table, sized for about 64 locks per backend, safe.
 */
#define MAX_SUBJECT_LOCKS 64

/* One row of logout_everywhere.settings, plus what is derived from it. */
typedef struct UserTableSettings
{
	Oid			user_table;
	Oid			token_table;
	char	   *id_column;
	char	   *password_column;
	char	   *subject_name;
	ArrayType  *include_purposes;	/* NULL: every purpose */
	ArrayType  *exclude_purposes;	/* NULL: none */
	bool		apply_on_password_change;
	char	   *action_name;
	char	   *argument_name;

	/*
	 * Derived lazily from the user and token tables; reset with the
	 * settings, which a change to either table resets.
	 */
	bool		user_info_ready;
	AttrNumber	id_attnum;
	Oid			id_type;
	Oid			id_output_function;
	SPIPlanPtr	user_exists_plan;
	bool		id_index_ready;
	Oid			id_index;		/* UserExists probes it; InvalidOid: none fits */
	bool		password_info_ready;
	AttrNumber	password_attnum;
	Oid			password_type;
	Oid			password_collation;
} UserTableSettings;

/* The cached shape and plans of one token table. */
typedef struct TokenTable
{
	Oid			relid;
	bool		valid;			/* false once the relcache says it changed */
	char	   *qualified_name; /* quoted schema.table */
	Oid			expires_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	Oid			updated_type;	/* likewise, or InvalidOid: no updated_at */
	AttrNumber	subject_attnum;
	bool		subject_restatable; /* see RevokeStatement */
	SPIPlanPtr	revoke_plan;	/* the UPDATE restating subject */
	SPIPlanPtr	revoke_plain_plan;	/* the UPDATE of purpose and updated_at only */
	SPIPlanPtr	valid_plan;
	SPIPlanPtr	revoked_plan;
	SPIPlanPtr	expunge_plan;
} TokenTable;

/* 22004 when a required argument is NULL. */
static inline void
RequireArgument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

/* module.c */
extern char *current_jti_setting;
extern MemoryContext LogoutEverywhereCacheContext(void);
extern void RetirePlan(SPIPlanPtr plan);
extern void RetireContext(MemoryContext context);
extern void FreeRetiredCaches(void);

/* settings.c */
extern Oid	SettingsTableOid(bool missing_ok);
extern Oid	ExtensionSchemaOid(void);
extern UserTableSettings *FindSettings(Oid user_table);
extern UserTableSettings *ResolveSettings(Oid user_table_or_invalid);
extern Oid	ResolveTokenTable(Oid token_table_or_invalid);
extern int	CountSettingsUsingTokenTable(Oid token_table);
extern void PrepareUserInfo(UserTableSettings *settings);
extern SPIPlanPtr UserExistsPlan(UserTableSettings *settings);
extern void PreparePasswordInfo(UserTableSettings *settings);
extern void ResetSettingsCache(void);
extern void SettingsTransactionEnd(bool abort, bool top_level);
extern void SettingsRelcacheCallback(Oid relid);
extern void SwitchToSettingsOwner(Oid *saved_userid, int *saved_sec_context);

/* token_table.c */
extern TokenTable *GetTokenTable(Oid relid);
extern SPIPlanPtr KeepPlan(const char *query, int nargs, Oid *argtypes);
extern void ValidateTokenTable(Relation rel);
extern char *RevokeStatement(TokenTable *table, bool restate_subject);
extern SPIPlanPtr RevokePlan(TokenTable *table);
extern SPIPlanPtr ValidPlan(TokenTable *table);
extern SPIPlanPtr RevokedPlan(TokenTable *table);
extern SPIPlanPtr ExpungePlan(TokenTable *table);
extern void TokenTableRelcacheCallback(Oid relid);
extern void ValidatePurposes(ArrayType *purposes, const char *argument);

/* concurrency.c */
extern void LockSubjectsForRevocation(Oid token_table, Datum *subjects, int count);
extern void ResetConcurrencyState(void);

/* revocation.c */
extern uint64 RevokeSubjects(UserTableSettings *settings, Datum *subjects, int count,
							 ArrayType *include_purposes, ArrayType *exclude_purposes,
							 text *except_jti);
extern text *SubjectForIdText(UserTableSettings *settings, const char *id_text);

/* user_lookup.c */
extern bool UserExists(UserTableSettings *settings, Datum id);

/* checks.c */
extern bool TokenIsValid(Oid token_table, text *jti, text *purpose);

#endif							/* LOGOUT_EVERYWHERE_H */
