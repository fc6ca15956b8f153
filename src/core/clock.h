/* clock.h - monotonic time in nanoseconds, for latency measurement. */
#ifndef FG_CORE_CLOCK_H
#define FG_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Returns CLOCK_MONOTONIC time in nanoseconds. */
static inline uint64_t fg_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
