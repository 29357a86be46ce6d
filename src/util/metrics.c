/* metrics.c — the counters' few helpers (see metrics.h). */
#include "util/metrics.h"

#include <string.h>

const double iso_latency_bounds[ISO_LATENCY_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.02,
                                                        0.05,  0.1,   0.25,  1.0,  1e300};

const char *const iso_delivery_result_names[ISO_DELIVERY_RESULTS] = {
    "delivered", "refused", "not_sent", "committed", "not_committed"};

const char *const iso_job_stage_names[ISO_JOB_STAGES] = {
    "load",   "resample", "normalize", "gaussian", "isosurface", "islands", "smooth",
    "decimate", "normals", "measure", "render", "derive", "store"};

const double iso_stage_bounds[ISO_STAGE_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                    1.0,  2.5,   5.0,  10,  60,   1e300};

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

void iso_metrics_delivery(iso_metrics *m, iso_delivery_result r, unsigned long n)
{
    if (m != NULL && n > 0)
        atomic_fetch_add_explicit(&m->deliveries[r], n, memory_order_relaxed);
}

void iso_metrics_stage(iso_metrics *m, const char *name, double seconds)
{
    if (m == NULL)
        return;
    size_t len = strcspn(name, ":"); /* "decimate:bone" is a decimate */
    for (int s = 0; s < ISO_JOB_STAGES; s++) {
        if (strlen(iso_job_stage_names[s]) != len || strncmp(name, iso_job_stage_names[s], len) != 0)
            continue;
        int b = 0;
        while (b < ISO_STAGE_BUCKETS - 1 && seconds > iso_stage_bounds[b])
            b++;
        atomic_fetch_add_explicit(&m->stage_bucket[s][b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->stage_count[s], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->stage_sum_us[s], (unsigned long)(seconds * 1e6),
                                  memory_order_relaxed);
        return;
    }
}
