/* json.h — writing JSON strings safely.  Index text is meant to be UTF-8;
 * bytes that are not valid UTF-8 are written as U+FFFD so the output always
 * parses. */
#ifndef ISO_JSON_H
#define ISO_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal, quotes included. */
void iso_json_string(FILE *out, const char *s);

#endif
