/* path.c — building an iso_path, whole or not at all (see path.h). */
#include "util/path.h"

#include <stdarg.h>
#include <stdio.h>

iso_code iso_path_fmt(iso_path *out, iso_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out->s, sizeof out->s, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof out->s)
        return ISO_OK;
    iso_code rc = iso_fail(err, ISO_EINVAL, "path too long (%d bytes, at most %zu): %.80s...",
                           n, sizeof out->s - 1, out->s);
    out->s[0] = '\0';
    return rc;
}
