/* completion.h — deciding when a series is complete.
 *
 * The SCP reports every stored instance (with the association it came on)
 * and every association's end.  A series is ready when
 *   - every association that delivered part of it has ended and nothing
 *     arrived for settle_seconds, or
 *   - Images in Acquisition (0020,1002) said how many to expect and that
 *     many have arrived (no waiting for the association or the settle time).
 * Nothing here is persistent: the index is.  After a restart the daemon
 * re-adds every stored series its jobs do not cover (iso_completion_pending)
 * and they settle again.  The tracker is shared by the SCP's connection
 * threads and the scheduler, behind its own mutex.
 */
#ifndef ISO_JOBS_COMPLETION_H
#define ISO_JOBS_COMPLETION_H

#include <stdint.h>

#include "util/err.h"

typedef struct iso_completion iso_completion;

typedef struct iso_ready_series {
    char series_uid[65];
    char calling_ae[17];
} iso_ready_series;

iso_code iso_completion_new(iso_completion **out, iso_err *err);
void iso_completion_free(iso_completion *c);

/* An instance of series_uid was stored on association assoc at time now
 * (seconds, monotonic); expected = Images in Acquisition or 0.  duplicate:
 * it was stored already (a re-send): it keeps the series open like any
 * arrival but does not count towards expected, which counts instances. */
iso_code iso_completion_stored(iso_completion *c, uint64_t assoc, const char *series_uid,
                               const char *calling_ae, long expected, int duplicate, double now,
                               iso_err *err);
/* Association assoc ended (released, aborted or timed out); the settle time
 * counts from the series' last arrival, not from here. */
void iso_completion_assoc_end(iso_completion *c, uint64_t assoc);
/* A stored series found after a restart, not covered by a job. */
iso_code iso_completion_pending(iso_completion *c, const char *series_uid,
                                const char *calling_ae, double now, iso_err *err);

/* Moves up to max ready series into out; returns how many. */
int iso_completion_take_ready(iso_completion *c, double now, double settle_seconds,
                              iso_ready_series *out, int max);
/* Series being tracked (not yet ready). */
int iso_completion_count(iso_completion *c);

#endif
