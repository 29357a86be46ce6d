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
    long start_time; /* Unix seconds */
} iso_metrics;

void iso_metrics_init(iso_metrics *m, long start_time);
/* One C-STORE answered with status after seconds from the data's end. */
void iso_metrics_cstore(iso_metrics *m, uint16_t status, double seconds, uint64_t bytes);

#endif
