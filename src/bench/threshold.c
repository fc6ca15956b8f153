/* threshold.c - parsing and evaluation of frugal bench's --threshold gates. Strict on purpose: a gate
 * that silently means something else (a latency without a unit, an unknown metric) would let a CI run
 * pass that should fail. */
#include "bench/threshold.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[] = {"p50", "p90", "p95", "p99", "p999", "max", "errors", "dropped", "rps"};

int fg_bench_threshold_parse(const char *s, fg_threshold *t, fg_err *e) {
    memset(t, 0, sizeof *t);
    t->stage = -1;
    if (strlen(s) >= sizeof t->expr)
        return fg_err_set(e, FG_EINVAL, "threshold '%.40s...' is too long", s);
    snprintf(t->expr, sizeof t->expr, "%s", s);
    const char *p = s;
    if (isdigit((unsigned char)*p)) {
        char *end;
        errno = 0;
        long st = strtol(p, &end, 10);
        if (*end != ':' || errno || st < 0 || st > 100000)
            return fg_err_set(e, FG_EINVAL, "threshold '%s': expected STAGE:METRIC OP VALUE or METRIC OP VALUE", s);
        t->stage = st;
        p = end + 1;
    }
    size_t ml = 0;
    while (isalnum((unsigned char)p[ml]))
        ml++;
    int m = -1;
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
        if (strlen(metric_names[i]) == ml && strncmp(p, metric_names[i], ml) == 0)
            m = (int)i;
    if (m < 0)
        return fg_err_set(e, FG_EINVAL,
                          "threshold '%s': unknown metric '%.*s' (expected p50, p90, p95, p99, p999, max, errors, "
                          "dropped or rps)", s, (int)(ml > 20 ? 20 : ml), p);
    t->metric = (fg_thr_metric)m;
    p += ml;
    while (*p == ' ')
        p++;
    if (p[0] == '<')
        t->op = p[1] == '=' ? FG_THR_LE : FG_THR_LT;
    else if (p[0] == '>')
        t->op = p[1] == '=' ? FG_THR_GE : FG_THR_GT;
    else
        return fg_err_set(e, FG_EINVAL, "threshold '%s': expected <, <=, > or >= after '%s'", s, metric_names[m]);
    p += (t->op == FG_THR_LE || t->op == FG_THR_GE) ? 2 : 1;
    while (*p == ' ')
        p++;
    if (!(isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))))
        return fg_err_set(e, FG_EINVAL, "threshold '%s': expected a number after the operator", s);
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno || !isfinite(v) || memchr(p, 'x', (size_t)(end - p)) || memchr(p, 'X', (size_t)(end - p)))
        return fg_err_set(e, FG_EINVAL, "threshold '%s': bad number", s);
    const char *unit = end;
    if (t->metric <= FG_THR_MAX) {
        double mul = strcmp(unit, "us") == 0 ? 1 : strcmp(unit, "ms") == 0 ? 1e3 : strcmp(unit, "s") == 0 ? 1e6 : 0;
        if (mul == 0)
            return fg_err_set(e, FG_EINVAL, "threshold '%s': a latency needs a unit: us, ms or s (like p99<20ms)", s);
        v *= mul;
    } else if (t->metric == FG_THR_RPS) {
        if (*unit && strcmp(unit, "/s") != 0)
            return fg_err_set(e, FG_EINVAL, "threshold '%s': rps takes a plain number (like rps>1000)", s);
    } else {
        if (strcmp(unit, "%") == 0) {
            t->percent = 1;
            if (v > 100)
                return fg_err_set(e, FG_EINVAL, "threshold '%s': a percentage above 100", s);
        } else if (*unit) {
            return fg_err_set(e, FG_EINVAL, "threshold '%s': %s takes a count or a percentage (like %s<0.1%%)", s,
                              metric_names[m], metric_names[m]);
        }
    }
    t->limit = v;
    return 0;
}

double fg_bench_threshold_value(const fg_threshold *t, const fg_thr_input *in) {
    switch (t->metric) {
    case FG_THR_P50: return in->sent > 0 ? in->p50 : NAN;
    case FG_THR_P90: return in->sent > 0 ? in->p90 : NAN;
    case FG_THR_P95: return in->sent > 0 ? in->p95 : NAN;
    case FG_THR_P99: return in->sent > 0 ? in->p99 : NAN;
    case FG_THR_P999: return in->sent > 0 ? in->p999 : NAN;
    case FG_THR_MAX: return in->sent > 0 ? in->max : NAN;
    case FG_THR_ERRORS:
        if (!t->percent)
            return in->errors;
        return in->sent > 0 ? 100.0 * in->errors / in->sent : NAN;
    case FG_THR_DROPPED:
        if (!t->percent)
            return in->dropped;
        return in->sent + in->dropped > 0 ? 100.0 * in->dropped / (in->sent + in->dropped) : NAN;
    case FG_THR_RPS: return in->sent > 0 ? in->throughput_rps : NAN;
    }
    return NAN;
}

int fg_bench_threshold_passes(const fg_threshold *t, double v) {
    if (isnan(v))
        return 0;
    switch (t->op) {
    case FG_THR_LT: return v < t->limit;
    case FG_THR_LE: return v <= t->limit;
    case FG_THR_GT: return v > t->limit;
    case FG_THR_GE: return v >= t->limit;
    }
    return 0;
}
