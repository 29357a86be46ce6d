/* nesting.h — how deep a command set or data set nests, found without
 * recursion, before any recursive parser (DCMTK's) sees the bytes.
 *
 * DCMTK parses sequences recursively: one object of a few hundred KB with
 * thousands of nested sequences overruns any thread's stack.  This scanner
 * follows the encoding as DCMTK reads it (tag, VR, length; items and
 * delimiters; undefined-length UN read as implicit VR little endian
 * inside; encapsulated pixel data; in implicit VR, a defined-length value
 * that starts with an item tag is followed as a sequence, since only the
 * dictionary could say) and keeps an explicit stack, so its memory is
 * bounded by the depth it allows.  It is fed in pieces as bytes arrive
 * (command PDVs) or over a whole buffer or file.
 *
 * Outcomes: ISO_OK (nothing deeper than the limit; a stream that ends early
 * is fine: DCMTK cannot nest where there are no bytes), ISO_ENESTING
 * (deeper than max_depth), ISO_EDICOM (the structure cannot be followed: an
 * element longer than its item, an item where an element must be, a
 * delimiter out of place; DCMTK refuses those too).  The first failure
 * sticks.  Plain C, no DCMTK.
 */
#ifndef ISO_NESTING_H
#define ISO_NESTING_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iso_nest iso_nest;

/* A scanner for one data set (or command set) in the given encoding.
 * Returns NULL when out of memory. */
iso_nest *iso_nest_new(int max_depth, int explicit_vr, int little_endian);
void iso_nest_free(iso_nest *n);
/* Starts over (for the next command set). */
void iso_nest_reset(iso_nest *n);
/* Feeds the next len bytes. */
iso_code iso_nest_feed(iso_nest *n, const void *buf, size_t len, iso_err *err);
/* Bytes the scanner will pass over unread next (a value): a file reader
 * may seek past them and report them with iso_nest_skipped. */
uint64_t iso_nest_skippable(const iso_nest *n);
void iso_nest_skipped(iso_nest *n, uint64_t len);
/* The deepest sequence nesting seen so far. */
int iso_nest_deepest(const iso_nest *n);

/* The encoding of a data set in a transfer syntax: 0 on success; -1 for
 * a syntax that is not plain (deflated, or unknown: the caller inflates or
 * refuses). */
int iso_nest_encoding(const char *ts_uid, int *explicit_vr, int *little_endian);

/* Checks a whole Part 10 object in memory (preamble, meta group, data set
 * in the meta group's transfer syntax; a deflated data set is inflated in
 * pieces, never whole). */
iso_code iso_nest_check_part10(const void *buf, size_t len, int max_depth, iso_err *err);
/* The same for a file, reading it in pieces and seeking past values. */
iso_code iso_nest_check_file(const char *path, int max_depth, iso_err *err);

#ifdef __cplusplus
}
#endif

#endif
