/* clock.h — seconds on the monotonic clock, for durations and deadlines
 * (never wall time: settle times and stage timings must not jump with NTP). */
#ifndef ISO_CLOCK_H
#define ISO_CLOCK_H

#include <time.h>

static inline double iso_mono_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#endif
