/*
 * form_encoding.c
 *    The form encoding of user ids in token subjects (see form_encoding.h).
 */
#include "form_encoding.h"

/* True for the bytes that application/x-www-form-urlencoded leaves alone. */
static int
IsUnreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

size_t
form_encode(const char *in, size_t len, char *out)
{
	static const char hex_digits[] = "0123456789ABCDEF";
	size_t		written = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (IsUnreserved(c))
			out[written++] = (char) c;
		else if (c == ' ')
			out[written++] = '+';
		else
		{
			out[written++] = '%';
			out[written++] = hex_digits[c >> 4];
			out[written++] = hex_digits[c & 0x0F];
		}
	}
	return written;
}
