/* hex.h — bytes as lower-case hexadecimal, the one way digests (SHA-256 of
 * files, content digests, result versions, marks, key fingerprints) are
 * written as text. */
#ifndef ISO_HEX_H
#define ISO_HEX_H

#include <stddef.h>

/* Writes the n bytes of in as 2n lower-case hex digits and a NUL into out
 * (at least 2n + 1 bytes). */
void iso_hex(const unsigned char *in, size_t n, char *out);

#endif
