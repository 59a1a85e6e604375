/*
 * logout_everywhere.h
 *    Declarations shared by the files of the logout_everywhere extension.
 *
 * One file per concern:
 *    module.c            _PG_init, the GUC, the transaction callback
 *    cache.c             cache memory, retired plans, kept plans (a leaf)
 *    settings.c          logout_everywhere.settings, cached per backend
 *    token_table.c       shape of a token table and its cached SPI plans
 *    concurrency.c       the lock handshake between token writes and log-outs
 *    revocation.c        log_out_everywhere, revoke_subject, subject_for
 *    user_lookup.c       the stored ids of a user, asked of SQL
 *    checks.c            token_valid, is_revoked, expunge_expired
 *    postgrest.c         require_valid_jwt (PostgREST db-pre-request hook)
 *    password_trigger.c  the trigger that logs out on a password change
 *    configuration.c     enable and disable
 *    ddl_events.c        the event triggers that keep the settings in step
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
 * A transaction that would hold more subject locks than this takes one
 * lock per token table instead (concurrency.c). It keeps the shared lock
 * table, sized for about 64 locks per backend, safe.
 */
#define MAX_SUBJECT_LOCKS 64

/* The triggers that enable() creates. */
#define PASSWORD_TRIGGER "logout_everywhere_password"
#define TOKEN_GUARD_TRIGGER "logout_everywhere_token_guard"

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
	SPIPlanPtr	user_lookup_plan;
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
	bool		guarded;		/* its own token guard is there and enabled */
	bool		has_children;	/* partitioned, or with inheritance children */
	bool		rows_change_after_guard;	/* see RowsChangeAfterGuard */
	SPIPlanPtr	revoke_own_plan;	/* see RevokeOwnTokens */
	/* the revoking UPDATE: [restating subject][RETURNING subject, to NOTIFY] */
	SPIPlanPtr	revoke_plans[2][2];
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
extern bool synchronous_revocation_setting;
extern char *notify_channel_setting;
extern void NoteRevocation(void);
extern void RequireWritable(const char *function);

/* cache.c */
extern MemoryContext LogoutEverywhereCacheContext(void);
extern void RetirePlan(SPIPlanPtr plan);
extern void RetireContext(MemoryContext context);
extern void FreeRetiredCaches(void);
extern SPIPlanPtr KeepPlan(const char *query, int nargs, Oid *argtypes);
extern void RequireSchemaUsage(Oid relid);

/* settings.c */
extern void SettingsInit(void);
extern Oid	SettingsTableOid(bool missing_ok);
extern Oid	ExtensionSchemaOid(void);
extern UserTableSettings *FindSettings(Oid user_table);
extern UserTableSettings *ResolveSettings(Oid user_table_or_invalid);
extern Oid	ResolveTokenTable(Oid token_table_or_invalid);
extern int	CountSettingsUsingTokenTable(Oid token_table);
extern List *SettingsTokenTables(Oid except_user_table);
extern void PrepareUserInfo(UserTableSettings *settings);
extern SPIPlanPtr UserLookupPlan(UserTableSettings *settings);
extern void PreparePasswordInfo(UserTableSettings *settings);
extern void ResetSettingsCache(void);
extern void SwitchToSettingsOwner(Oid *saved_userid, int *saved_sec_context);

/* token_table.c */
extern void TokenTableInit(void);
extern TokenTable *GetTokenTable(Oid relid);
extern bool HasTokenGuard(Relation rel);
extern bool RowsChangeAfterGuard(Relation rel);
extern bool RequireTokenGuards(TokenTable *table);
extern SPIPlanPtr RevokeOwnPlan(TokenTable *table);
extern void ValidateTokenTable(Relation rel);
extern char *RevokeStatement(TokenTable *table, bool restate_subject, bool returning);
extern SPIPlanPtr RevokePlan(TokenTable *table, bool returning);
extern SPIPlanPtr ValidPlan(TokenTable *table);
extern SPIPlanPtr RevokedPlan(TokenTable *table);
extern SPIPlanPtr ExpungePlan(TokenTable *table);
extern void ValidatePurposes(ArrayType *purposes, const char *argument);

/* configuration.c */
extern bool ConfigurationInProgress(void);
extern int	UseSafeSearchPath(void);
extern void RemoveConfiguration(Oid user_table, const char *action_name, Oid token_table);
extern void ForgetPasswordTrigger(Oid user_table);
extern void FollowRenamedColumns(Oid user_table, const char *id_column,
								 const char *password_column);
extern void GuardTokenTableChild(Oid child);
extern void MoveActionWithTable(Oid user_table, const char *action_name);

/* concurrency.c */
extern uint32 SubjectLockHash(text *subject);
extern List *LockSubjectsForRevocation(Oid table, Datum *subjects, int count, bool wide);
extern void DischargeYieldedLocks(Oid table, Datum *subjects, int count);
extern void ConcurrencySubtransactionEnd(bool commit);
extern void RequireYieldedLocksDischarged(void);
extern void ResetConcurrencyState(void);

/* revocation.c */
extern uint64 RevokeSubjects(UserTableSettings *settings, Datum *subjects, int count,
							 ArrayType *include_purposes, ArrayType *exclude_purposes,
							 text *except_jti);
extern text *SubjectForIdText(UserTableSettings *settings, const char *id_text);

/* user_lookup.c */
extern int	FindStoredIds(UserTableSettings *settings, Datum id, bool read_only,
						  char ***id_texts);

/* checks.c */
extern bool TokenIsValid(Oid token_table, text *jti, text *purpose);

#endif							/* LOGOUT_EVERYWHERE_H */
