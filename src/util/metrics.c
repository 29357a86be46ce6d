/* metrics.c — the counters' few helpers (see metrics.h). */
#include "util/metrics.h"

#include <string.h>

const double iso_latency_bounds[ISO_LATENCY_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.02,
                                                        0.05,  0.1,   0.25,  1.0,  1e300};

void iso_metrics_init(iso_metrics *m, long start_time)
{
    memset(m, 0, sizeof *m);
    m->start_time = start_time;
}

void iso_metrics_cstore(iso_metrics *m, uint16_t status, double seconds, uint64_t bytes)
{
    if (m == NULL)
        return;
    if (status == 0)
        atomic_fetch_add_explicit(&m->cstore_success, 1, memory_order_relaxed);
    else if ((status & 0xF000) == 0xB000 || status == 0x0107 || status == 0x0116)
        atomic_fetch_add_explicit(&m->cstore_warning, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&m->cstore_failure, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->received_bytes, bytes, memory_order_relaxed);
    int b = 0;
    while (b < ISO_LATENCY_BUCKETS - 1 && seconds > iso_latency_bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->latency_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us, (unsigned long)(seconds * 1e6),
                              memory_order_relaxed);
}
