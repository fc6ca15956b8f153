/* profile.h - what frugal bench runs: a list of stages (closed loop at N connections, or open loop at a
 * constant or linearly ramping rate, for a duration or a number of requests), read from a profile file
 * or built from the command line, plus the small value parsers both share (durations, rates).
 *
 * Profile file: one stage per line, '#' starts a comment, blank lines are skipped:
 *   step  RATE DURATION [name=TEXT]          constant open-loop rate (kind "constant")
 *   soak  RATE DURATION [name=TEXT]          the same, reported as a soak
 *   spike RATE DURATION [name=TEXT]          the same, reported as a spike
 *   ramp  FROM TO DURATION [name=TEXT]       rate moving linearly from FROM to TO
 *   closed N DURATION [name=TEXT]            closed loop with N connections
 * RATE is requests per second ("1000", "1000/s", "2.5k/s"); DURATION "10s", "500ms", "2m", "1h" or a
 * bare number of seconds. Errors name the file and line. */
#ifndef FG_BENCH_PROFILE_H
#define FG_BENCH_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FG_BENCH_MAX_STAGES 256
#define FG_BENCH_MAX_RATE 10e6        /* requests per second */
#define FG_BENCH_MAX_CONCURRENCY 100000
#define FG_BENCH_MAX_DURATION_S (7 * 86400.0)

typedef enum { FG_STAGE_CLOSED = 0, FG_STAGE_CONSTANT, FG_STAGE_RAMP, FG_STAGE_SOAK, FG_STAGE_SPIKE } fg_stage_kind;

/* One stage. Open-loop stages have rate (and rate_end for ramps; equal to rate otherwise); closed ones
 * concurrency. Exactly one of duration_s > 0 or requests > 0. */
typedef struct fg_stage {
    fg_stage_kind kind;
    double rate, rate_end;
    uint32_t concurrency;
    double duration_s;
    uint64_t requests;
    char name[96];
} fg_stage;

/* The name JSON uses for a kind: "closed", "constant", "ramp", "soak", "spike". Static. */
const char *fg_stage_kind_name(fg_stage_kind k);

/* Whether the stage is open loop (every kind but closed). */
int fg_stage_is_open(const fg_stage *s);

/* Parses a duration ("10s", "250ms", "2m", "1h", "1.5", "100us") into seconds; 0, or FG_EINVAL. */
int fg_bench_parse_duration(const char *s, double *out);

/* Parses a rate ("1000", "1000/s", "2.5k", "2.5k/s", "1M/s") into requests per second; 0, or FG_EINVAL. */
int fg_bench_parse_rate(const char *s, double *out);

/* Parses the profile text (len bytes, need not be NUL-terminated); src names it in errors
 * ("steps.txt:3: ..."). On success returns 0 with *stages (malloc'd, caller frees) and *n_stages >= 1;
 * else FG_EINVAL (or FG_ENOMEM) with e naming the line and the problem, *stages NULL. */
int fg_bench_profile_parse(const char *text, size_t len, const char *src, fg_stage **stages, size_t *n_stages,
                           fg_err *e);

/* Sets a default name ("closed 8 conns", "step 1000/s", "ramp 100/s..1000/s") on a stage without one. */
void fg_stage_default_name(fg_stage *s);

#endif
