/*
 * fuzz_form_encoding.c
 *    libFuzzer harness for form_encode() (src/form_encoding.c), the
 *    application/x-www-form-urlencoded encoder that turns a user id into the
 *    "<subject_name>?id=<encoded id>" token subject.
 *
 * Every input is encoded by form_encode() and by the plain reference encoder
 * below, written from the contract's wording and deliberately naive (a table
 * of the unreserved characters, sprintf for "%XX").  The harness aborts when
 *  - the two outputs differ in length or bytes,
 *  - form_encode() claims more than FORM_ENCODED_MAX_LEN(len) bytes,
 *  - form_encode() writes past the length it returns (sentinel bytes), or
 *  - the output contains a byte that form encoding never produces,
 *  - decoding the output does not give back the input.
 * The output buffer is allocated at exactly 3 * len bytes so that
 * AddressSanitizer catches a write past the documented maximum.
 *
 * Build (see t/fuzz.sh):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *         fuzz/fuzz_form_encoding.c src/form_encoding.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form_encoding.h"

#define SENTINEL 0xA5

/* The reference: one byte at a time, straight from the contract. */
static size_t
reference_encode(const unsigned char *in, size_t len, char *out)
{
	static const char *unreserved =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (in[i] != '\0' && strchr(unreserved, in[i]) != NULL)
			out[n++] = (char) in[i];
		else if (in[i] == ' ')
			out[n++] = '+';
		else
		{
			char		buf[4];

			snprintf(buf, sizeof(buf), "%%%02X", (unsigned int) in[i]);
			memcpy(out + n, buf, 3);
			n += 3;
		}
	}
	return n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;				/* lower case is not allowed either */
}

static void
fail(const char *what, size_t len)
{
	fprintf(stderr, "form_encode mismatch: %s (input length %zu)\n", what, len);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		max = FORM_ENCODED_MAX_LEN(size);
	/* exact size; malloc(0) may return NULL, so never ask for 0 */
	char	   *out = malloc(max > 0 ? max : 1);
	char	   *ref = malloc(max > 0 ? max : 1);
	unsigned char *back = malloc(size > 0 ? size : 1);
	size_t		n,
				rn,
				bn = 0;

	if (out == NULL || ref == NULL || back == NULL)
		abort();
	memset(out, SENTINEL, max);

	n = form_encode((const char *) data, size, out);
	rn = reference_encode(data, size, ref);

	if (n > max)
		fail("returned more than FORM_ENCODED_MAX_LEN", size);
	if (n != rn)
		fail("length differs from the reference", size);
	if (memcmp(out, ref, n) != 0)
		fail("bytes differ from the reference", size);
	for (size_t i = n; i < max; i++)
		if ((unsigned char) out[i] != SENTINEL)
			fail("wrote past the returned length", size);

	/* Only unreserved bytes, '+' and "%XX" (upper case) may appear, and
	 * decoding must give the input back. */
	for (size_t i = 0; i < n;)
	{
		char		c = out[i];

		if (c == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= n)
				fail("truncated %XX", size);
			hi = hexval(out[i + 1]);
			lo = hexval(out[i + 2]);
			if (hi < 0 || lo < 0)
				fail("bad %XX escape", size);
			back[bn++] = (unsigned char) (hi * 16 + lo);
			i += 3;
		}
		else if (c == '+')
		{
			back[bn++] = ' ';
			i++;
		}
		else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				 (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
		{
			back[bn++] = (unsigned char) c;
			i++;
		}
		else
			fail("byte that form encoding never writes", size);
		if (bn > size)
			fail("decodes to more bytes than the input", size);
	}
	if (bn != size || memcmp(back, data, size) != 0)
		fail("decoding does not give the input back", size);

	free(out);
	free(ref);
	free(back);
	return 0;
}
