/* deliverer.h — the daemon's delivery thread: it owns the outbox while the
 * daemon runs, serves it once a second (or at once when kicked: a job has
 * queued deliveries), and once an hour removes the job result folders no
 * queued or dead delivery points into any more (iso_outbox_clean_results).
 *
 * Lifecycle: iso_deliverer_start opens DATA_DIR/outbox.sqlite and starts
 * the thread; jobs queue into iso_deliverer_outbox() and call
 * iso_deliverer_kick; iso_deliverer_stop lets the round in progress finish,
 * joins the thread and closes the outbox.  Kick and stop are safe from any
 * thread; the outbox itself is locked (outbox.h). */
#ifndef ISO_DELIVERER_H
#define ISO_DELIVERER_H

#include "config/config.h"
#include "deliver/outbox.h"
#include "util/err.h"

typedef struct iso_deliverer iso_deliverer;

/* cfg (and tls, the contexts for peers with tls = yes, or NULL) must
 * outlive the deliverer. */
iso_code iso_deliverer_start(const iso_config *cfg, iso_tls *tls, iso_metrics *metrics,
                             iso_deliverer **out, iso_err *err);
iso_outbox *iso_deliverer_outbox(iso_deliverer *d);
/* Starts a round now instead of within a second (arg: the deliverer; the
 * signature is that of iso_job_env's kick). */
void iso_deliverer_kick(void *arg);
/* NULL is accepted. */
void iso_deliverer_stop(iso_deliverer *d);

#endif
