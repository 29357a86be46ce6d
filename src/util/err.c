/* err.c — filling iso_err values (see err.h). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

iso_code iso_fail(iso_err *err, iso_code code, const char *fmt, ...)
{
    if (err == NULL || err->code != ISO_OK)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void iso_err_clear(iso_err *err)
{
    if (err) {
        err->code = ISO_OK;
        err->msg[0] = '\0';
    }
}

void iso_err_context(iso_err *err, const char *what)
{
    if (err == NULL || err->code == ISO_OK)
        return;
    char msg[sizeof err->msg];
    int n = snprintf(msg, sizeof msg, "%s: %s", what, err->msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof msg) /* a message may be cut, visibly */
        memcpy(msg + sizeof msg - 4, "...", 4);
    memcpy(err->msg, msg, sizeof msg);
}
