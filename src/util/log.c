/* log.c — stderr logging (see log.h).  The level and output style are set
 * once at start-up and only read afterwards, so no lock is needed. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static iso_log_level log_level = ISO_LOG_INFO;
static int log_journal = 0;

void iso_log_init(iso_log_level level)
{
    log_level = level;
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

int iso_log_enabled(iso_log_level level) { return level <= log_level; }

void iso_log(iso_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    static const int prio[] = {3, 4, 6, 7};
    char line[2048];
    size_t n;
    if (log_journal) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                              names[level]);
    }
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    /* One call, one record: peer text (AE titles, UIDs, comments) reaches
     * many lines, so control bytes and backslashes are escaped here, where
     * no line can forget it, and a newline can never forge a record. */
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof line; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            line[n++] = '\\';
            if (*p == '\\') {
                line[n++] = '\\';
            } else {
                line[n++] = 'x';
                line[n++] = hex[*p >> 4];
                line[n++] = hex[*p & 15];
            }
        } else {
            line[n++] = (char)*p;
        }
    }
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported; the daemon carries on. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
