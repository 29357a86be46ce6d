/* metrics.h — the daemon's counters for /metrics (net/http.c): plain
 * atomics, so counting on the hot path (a C-STORE, an association) takes
 * no lock.  One iso_metrics lives in the daemon and is handed to whoever
 * counts; NULL everywhere means "not counting".
 */
#ifndef ISO_METRICS_H
#define ISO_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Upper bounds (seconds) of the ingest latency histogram's buckets:
 * receive end -> acknowledged. */
#define ISO_LATENCY_BUCKETS 10
extern const double iso_latency_bounds[ISO_LATENCY_BUCKETS];

typedef enum {
    ISO_ASSOC_RELEASED = 0,
    ISO_ASSOC_ABORTED,
    ISO_ASSOC_TIMEOUT,
    ISO_ASSOC_ERROR,
    ISO_ASSOC_SHUTDOWN,
    ISO_ASSOC_REJECTED,
    ISO_ASSOC_RESULTS
} iso_assoc_result;

/* What became of one delivery (an object sent to a peer, or a storage
 * commitment asked of it). */
typedef enum {
    ISO_DELIVERY_DELIVERED = 0, /* C-STORE success or warning */
    ISO_DELIVERY_REFUSED,       /* the peer answered with a failure status */
    ISO_DELIVERY_NOT_SENT,      /* no association, or it broke: sent again later */
    ISO_DELIVERY_COMMITTED,     /* the peer's report says it keeps it */
    ISO_DELIVERY_NOT_COMMITTED, /* the report says it does not, or none came in time */
    ISO_DELIVERY_RESULTS
} iso_delivery_result;
extern const char *const iso_delivery_result_names[ISO_DELIVERY_RESULTS];

/* A job's stages, as /metrics reports their durations: the pipeline's
 * (recon/pipeline.c names them; a surface's "decimate:bone" counts as
 * "decimate") and the job's own steps after it. */
#define ISO_JOB_STAGES 13
extern const char *const iso_job_stage_names[ISO_JOB_STAGES];
#define ISO_STAGE_BUCKETS 12
extern const double iso_stage_bounds[ISO_STAGE_BUCKETS]; /* seconds; the last is +Inf */

typedef struct iso_metrics {
    atomic_long associations_open;
    atomic_ulong associations[ISO_ASSOC_RESULTS];
    atomic_ulong cstore_success, cstore_warning, cstore_failure;
    atomic_ulong received_bytes;
    atomic_ulong latency_bucket[ISO_LATENCY_BUCKETS]; /* not cumulative; the last is +Inf */
    atomic_ulong latency_count;
    atomic_ulong latency_sum_us;
    atomic_ulong deidentification_refusals;
    atomic_ulong tls_handshake_failures;
    atomic_ulong retention_removals;
    atomic_ulong retention_bytes;
    atomic_ulong deliveries[ISO_DELIVERY_RESULTS];
    atomic_ulong stage_bucket[ISO_JOB_STAGES][ISO_STAGE_BUCKETS]; /* not cumulative */
    atomic_ulong stage_count[ISO_JOB_STAGES];
    atomic_ulong stage_sum_us[ISO_JOB_STAGES];
    long start_time; /* Unix seconds */
} iso_metrics;

void iso_metrics_init(iso_metrics *m, long start_time);
/* One C-STORE answered with status after seconds from the data's end. */
void iso_metrics_cstore(iso_metrics *m, uint16_t status, double seconds, uint64_t bytes);

/* n deliveries ended so. */
void iso_metrics_delivery(iso_metrics *m, iso_delivery_result r, unsigned long n);
/* A job stage took seconds (name as the pipeline or the job calls it;
 * names not in iso_job_stage_names are not counted). */
void iso_metrics_stage(iso_metrics *m, const char *name, double seconds);

#endif
