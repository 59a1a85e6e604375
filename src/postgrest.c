/*
 * postgrest.c
 *    require_valid_jwt(): a db-pre-request hook for PostgREST, so that a
 *    revoked token is refused at once instead of living until it expires.
 */
#include "logout_everywhere.h"

#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(require_valid_jwt);

/* SQLSTATE PGRST: PostgREST reads the message and detail as JSON. */
#define ERRCODE_POSTGREST MAKE_SQLSTATE('P','G','R','S','T')

/* A top-level string claim, or NULL when it is absent or JSON null. */
static text *
StringClaim(Jsonb *claims, const char *key)
{
	JsonbValue *value;

	if (!JB_ROOT_IS_OBJECT(claims))
		return NULL;
	value = getKeyJsonValueFromContainer(&claims->root, key, strlen(key), NULL);
	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (value->type != jbvString)
		return cstring_to_text("");	/* matches no stored token */
	return cstring_to_text_with_len(value->val.string.val, value->val.string.len);
}

/*
 * require_valid_jwt() RETURNS void
 * Reads request.jwt.claims as PostgREST sets it. No claims, or claims
 * without a jti (an anonymous request): pass. Otherwise the jti must be a
 * valid stored token of the claimed purpose (default 'user'), or PostgREST
 * answers 401.
 */
Datum
require_valid_jwt(PG_FUNCTION_ARGS)
{
	const char *setting = GetConfigOption("request.jwt.claims", true, false);
	Jsonb	   *claims;
	text	   *jti;
	text	   *purpose;

	if (setting == NULL || setting[0] == '\0')
		PG_RETURN_VOID();
	claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(setting)));
	jti = StringClaim(claims, "jti");
	if (jti == NULL)
		PG_RETURN_VOID();
	purpose = StringClaim(claims, "purpose");
	if (purpose == NULL)
		purpose = cstring_to_text("user");

	/*
	 * A 'revocation' row is a tombstone, never a credential: a JWT claiming
	 * that purpose is refused whatever the table holds.
	 */
	if (strcmp(text_to_cstring(purpose), REVOCATION_PURPOSE) == 0 ||
		!TokenIsValid(ResolveTokenTable(InvalidOid), jti, purpose))
		ereport(ERROR,
				(errcode(ERRCODE_POSTGREST),
				 errmsg("{\"code\":\"LE401\",\"message\":\"token revoked or unknown\",\"details\":null,\"hint\":null}"),
				 errdetail("{\"status\":401,\"headers\":{\"WWW-Authenticate\":\"Bearer error=\\\"invalid_token\\\"\"}}")));
	PG_RETURN_VOID();
}
