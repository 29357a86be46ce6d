/* err.h — the error value every isonode function fills.
 *
 * A function that can fail returns an iso_code and, on failure, fills the
 * caller's iso_err with a code and a one-line message.  The first error wins:
 * a callee never overwrites a message already set, so the root cause reaches
 * the log.  Codes are part of the interface and are never renumbered.
 */
#ifndef ISO_ERR_H
#define ISO_ERR_H

#include <stddef.h>

/* Cheap invariant checks stay on in every build, as SQLite keeps its own:
 * an invariant that breaks in the field must stop the process before it
 * acknowledges anything, not go on silently. */
#ifdef NDEBUG
#error "isonode is built with assert() on: do not define NDEBUG"
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ISO_OK = 0,
    ISO_EINVAL = 1,    /* bad argument or bad input from a peer */
    ISO_EIO = 2,       /* read/write/fsync/rename failed */
    ISO_ENOSPC = 3,    /* disk full or below min_free_mb */
    ISO_ENOMEM = 4,    /* allocation failed */
    ISO_EDB = 5,       /* SQLite error */
    ISO_EDICOM = 6,    /* malformed or unsupported DICOM */
    ISO_ENET = 7,      /* network or association failure */
    ISO_ECONFIG = 8,   /* configuration error */
    ISO_ENOTFOUND = 9, /* no such object */
    ISO_EMISMATCH = 10,/* data contradicts what was announced or recorded */
    ISO_ESTOPPED = 11, /* the component is shutting down */
    ISO_EREFUSED = 12, /* input not suitable (e.g. a series that cannot be reconstructed) */
    ISO_ENESTING = 13, /* sequences nested deeper than max_nesting */
    ISO_ELIMIT = 14,   /* a size limit of the node: max_object_mb, an inflation cap */
} iso_code;

typedef struct iso_err {
    iso_code code;
    char msg[512];
} iso_err;

/* Sets err (if not NULL and not yet set) and returns code. printf-style. */
iso_code iso_fail(iso_err *err, iso_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err so it can be reused. */
void iso_err_clear(iso_err *err);

/* Puts what was being done in front of a set message ("what: message"),
 * keeping its code.  No effect on an unset err. */
void iso_err_context(iso_err *err, const char *what);


#ifdef __cplusplus
}
#endif

#endif
