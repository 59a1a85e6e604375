/*
 * form_encoding.h
 *    application/x-www-form-urlencoded encoding of one value, as
 *    AshAuthentication (URI.encode_query) writes a user id into a subject.
 *
 * Pure C with no PostgreSQL dependency, so that the fuzzer can link it alone.
 */
#ifndef FORM_ENCODING_H
#define FORM_ENCODING_H

#include <stddef.h>

/* The most bytes form_encode() can write for an input of len bytes. */
#define FORM_ENCODED_MAX_LEN(len) ((len) * 3)

/*
 * Encode in[0..len) into out, which must have room for
 * FORM_ENCODED_MAX_LEN(len) bytes.  Unreserved bytes (A-Z a-z 0-9 - . _ ~)
 * are copied, a space becomes '+', every other byte "%XX" in upper case.
 * No terminating NUL is written.  Returns the number of bytes written.
 */
extern size_t form_encode(const char *in, size_t len, char *out);

#endif							/* FORM_ENCODING_H */
