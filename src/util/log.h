/* log.h — one-line log records to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line carries a "<N>" syslog priority
 * prefix so journald files it at the right level; otherwise it carries a UTC
 * timestamp and the level name.  Lines are written with one write() so that
 * concurrent threads never interleave within a line.
 */
#ifndef ISO_LOG_H
#define ISO_LOG_H

typedef enum { ISO_LOG_ERROR = 0, ISO_LOG_WARN, ISO_LOG_INFO, ISO_LOG_DEBUG } iso_log_level;

/* Called once at start-up, before threads exist. */
void iso_log_init(iso_log_level level);
/* Parses "error|warn|info|debug"; returns -1 if unknown. */
int iso_log_enabled(iso_log_level level);

void iso_log(iso_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ISO_ERROR(...) iso_log(ISO_LOG_ERROR, __VA_ARGS__)
#define ISO_WARN(...) iso_log(ISO_LOG_WARN, __VA_ARGS__)
#define ISO_INFO(...) iso_log(ISO_LOG_INFO, __VA_ARGS__)
#define ISO_DEBUG(...) do { if (iso_log_enabled(ISO_LOG_DEBUG)) iso_log(ISO_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
