/* path.h — the one path type.  Every file name isonode builds (under
 * data_dir, in a job's folder, in a reconstruction's output folder) is an
 * iso_path made by iso_path_fmt, which fails with a message rather than
 * truncate: a cut-off path names another file, so it must never be used. */
#ifndef ISO_PATH_H
#define ISO_PATH_H

#include <limits.h>

#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct iso_path {
    char s[PATH_MAX];
} iso_path;

/* out = the printf-style result; ISO_EINVAL and a message naming the start
 * of the path when it would not fit (out is then the empty string). */
iso_code iso_path_fmt(iso_path *out, iso_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
