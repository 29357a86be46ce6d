/* json.h — writing JSON strings safely.  Index text is meant to be UTF-8;
 * bytes that are not valid UTF-8 are written as U+FFFD so the output always
 * parses. */
#ifndef ISO_JSON_H
#define ISO_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal, quotes included. */
void iso_json_string(FILE *out, const char *s);

/* Reads a top-level member of a flat JSON object (the vault's values): a
 * string (unescaped, \uXXXX as UTF-8) or a number (as its text) into out.
 * Returns 1 if the key is there, 0 if not or if the text is not such an
 * object. */
int iso_json_get(const char *json, const char *key, char *out, size_t out_size);

#endif
