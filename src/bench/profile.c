/* profile.c - frugal bench's stage list: the profile file parser and the duration and rate parsers.
 * Line-oriented and allocation-light; every error names the source and the line, since profiles are
 * written by hand. */
#include "bench/profile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

const char *fg_stage_kind_name(fg_stage_kind k) {
    switch (k) {
    case FG_STAGE_CLOSED: return "closed";
    case FG_STAGE_CONSTANT: return "constant";
    case FG_STAGE_RAMP: return "ramp";
    case FG_STAGE_SOAK: return "soak";
    case FG_STAGE_SPIKE: return "spike";
    }
    return "?";
}

int fg_stage_is_open(const fg_stage *s) { return s->kind != FG_STAGE_CLOSED; }

/* strtod that takes only plain decimal numbers (no sign but '+', hex, inf or nan). */
static int plain_number(const char *s, char **end, double *out) {
    const char *p = s[0] == '+' ? s + 1 : s;
    if (!(isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))))
        return -1;
    errno = 0;
    double v = strtod(p, end);
    if (errno || *end == p || !isfinite(v) || memchr(p, 'x', (size_t)(*end - p)) || memchr(p, 'X', (size_t)(*end - p)))
        return -1;
    *out = v;
    return 0;
}

int fg_bench_parse_duration(const char *s, double *out) {
    char *end;
    double v;
    if (plain_number(s, &end, &v) < 0)
        return FG_EINVAL;
    double mul;
    if (*end == 0 || strcmp(end, "s") == 0)
        mul = 1;
    else if (strcmp(end, "ms") == 0)
        mul = 1e-3;
    else if (strcmp(end, "us") == 0)
        mul = 1e-6;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mul = 60;
    else if (strcmp(end, "h") == 0)
        mul = 3600;
    else
        return FG_EINVAL;
    v *= mul;
    if (!(v > 0) || v > FG_BENCH_MAX_DURATION_S)
        return FG_EINVAL;
    *out = v;
    return 0;
}

int fg_bench_parse_rate(const char *s, double *out) {
    char *end;
    double v;
    if (plain_number(s, &end, &v) < 0)
        return FG_EINVAL;
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M')
        v *= 1e6, end++;
    if (strcmp(end, "/s") != 0 && *end != 0)
        return FG_EINVAL;
    if (!(v > 0) || v > FG_BENCH_MAX_RATE)
        return FG_EINVAL;
    *out = v;
    return 0;
}

static void fmt_rate(char *b, size_t n, double r) {
    if (r >= 1e6 && fmod(r, 1e5) == 0)
        snprintf(b, n, "%gM/s", r / 1e6);
    else if (r >= 1e3 && fmod(r, 100) == 0)
        snprintf(b, n, "%gk/s", r / 1e3);
    else
        snprintf(b, n, "%g/s", r);
}

void fg_stage_default_name(fg_stage *s) {
    if (s->name[0])
        return;
    char a[32], b[32];
    fmt_rate(a, sizeof a, s->rate);
    fmt_rate(b, sizeof b, s->rate_end);
    switch (s->kind) {
    case FG_STAGE_CLOSED: snprintf(s->name, sizeof s->name, "closed %u conns", s->concurrency); break;
    case FG_STAGE_CONSTANT: snprintf(s->name, sizeof s->name, "step %s", a); break;
    case FG_STAGE_RAMP: snprintf(s->name, sizeof s->name, "ramp %s..%s", a, b); break;
    case FG_STAGE_SOAK: snprintf(s->name, sizeof s->name, "soak %s", a); break;
    case FG_STAGE_SPIKE: snprintf(s->name, sizeof s->name, "spike %s", a); break;
    }
}

#define MAX_TOKENS 8

/* Splits line (modified in place) into whitespace-separated tokens; -1 when there are too many. */
static int tokenize(char *line, char **tok, size_t *n) {
    *n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        if (*n == MAX_TOKENS)
            return -1;
        tok[(*n)++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = 0;
    }
}

/* Parses one non-empty line into *st; 0 or FG_EINVAL with e (the caller prefixes src:line). */
static int parse_line(char *line, fg_stage *st, fg_err *e) {
    char *tok[MAX_TOKENS];
    size_t n;
    if (tokenize(line, tok, &n) < 0)
        return fg_err_set(e, FG_EINVAL, "too many fields (at most %d)", MAX_TOKENS);
    memset(st, 0, sizeof *st);
    /* a trailing name=TEXT takes the rest of the fields: names may hold spaces */
    size_t n_pos = n;
    for (size_t i = 1; i < n; i++)
        if (strncmp(tok[i], "name=", 5) == 0) {
            n_pos = i;
            size_t off = 0;
            for (size_t j = i; j < n; j++) {
                const char *t = j == i ? tok[j] + 5 : tok[j];
                off += (size_t)snprintf(st->name + off, sizeof st->name - off, "%s%s", j == i ? "" : " ", t);
                if (off >= sizeof st->name)
                    return fg_err_set(e, FG_EINVAL, "name is longer than %zu bytes", sizeof st->name - 1);
            }
            if (!st->name[0])
                return fg_err_set(e, FG_EINVAL, "empty name=");
            break;
        }
    const char *kind = tok[0];
    size_t want;
    if (strcmp(kind, "step") == 0 || strcmp(kind, "soak") == 0 || strcmp(kind, "spike") == 0) {
        st->kind = kind[1] == 't' ? FG_STAGE_CONSTANT : kind[1] == 'o' ? FG_STAGE_SOAK : FG_STAGE_SPIKE;
        want = 3;
    } else if (strcmp(kind, "ramp") == 0) {
        st->kind = FG_STAGE_RAMP;
        want = 4;
    } else if (strcmp(kind, "closed") == 0) {
        st->kind = FG_STAGE_CLOSED;
        want = 3;
    } else {
        return fg_err_set(e, FG_EINVAL, "unknown stage '%.40s' (expected step, ramp, soak, spike or closed)", kind);
    }
    if (n_pos != want) {
        static const char *const forms[] = {"closed N DURATION", "step RATE DURATION", "ramp FROM TO DURATION",
                                            "soak RATE DURATION", "spike RATE DURATION"};
        return fg_err_set(e, FG_EINVAL, "'%s' takes %zu values, got %zu (expected: %s [name=TEXT])", kind,
                          want - 1, n_pos - 1, forms[st->kind]);
    }
    if (st->kind == FG_STAGE_CLOSED) {
        char *end;
        errno = 0;
        unsigned long long c = strtoull(tok[1], &end, 10);
        if (errno || end == tok[1] || *end || !isdigit((unsigned char)tok[1][0]) || c < 1 ||
            c > FG_BENCH_MAX_CONCURRENCY)
            return fg_err_set(e, FG_EINVAL, "bad connection count '%.40s' (expected 1..%d)", tok[1],
                              FG_BENCH_MAX_CONCURRENCY);
        st->concurrency = (uint32_t)c;
    } else {
        if (fg_bench_parse_rate(tok[1], &st->rate) < 0)
            return fg_err_set(e, FG_EINVAL, "bad rate '%.40s' (expected requests per second like 1000, 1000/s or 2k/s, "
                              "up to %g)", tok[1], FG_BENCH_MAX_RATE);
        st->rate_end = st->rate;
        if (st->kind == FG_STAGE_RAMP && fg_bench_parse_rate(tok[2], &st->rate_end) < 0)
            return fg_err_set(e, FG_EINVAL, "bad rate '%.40s' (expected requests per second like 1000, 1000/s or 2k/s, "
                              "up to %g)", tok[2], FG_BENCH_MAX_RATE);
    }
    if (fg_bench_parse_duration(tok[want - 1], &st->duration_s) < 0)
        return fg_err_set(e, FG_EINVAL, "bad duration '%.40s' (expected like 10s, 500ms, 2m; at most 7 days)",
                          tok[want - 1]);
    fg_stage_default_name(st);
    return 0;
}

int fg_bench_profile_parse(const char *text, size_t len, const char *src, fg_stage **stages, size_t *n_stages,
                           fg_err *e) {
    *stages = NULL;
    *n_stages = 0;
    fg_stage *out = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char line[1024];
    size_t i = 0;
    int rc = 0;
    while (i < len) {
        lineno++;
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t l = j - i;
        if (l && text[i + l - 1] == '\r')
            l--;
        if (l >= sizeof line) {
            rc = fg_err_set(e, FG_EINVAL, "%s:%zu: line longer than %zu bytes", src, lineno, sizeof line - 1);
            goto fail;
        }
        memcpy(line, text + i, l);
        line[l] = 0;
        i = j + 1;
        if (memchr(line, 0, l)) {
            rc = fg_err_set(e, FG_EINVAL, "%s:%zu: NUL byte in line", src, lineno);
            goto fail;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        int blank = 1;
        for (char *p = line; *p; p++) {
            if (*p != ' ' && *p != '\t')
                blank = 0;
            if ((unsigned char)*p < 0x20 && *p != '\t') {
                rc = fg_err_set(e, FG_EINVAL, "%s:%zu: control character in line", src, lineno);
                goto fail;
            }
        }
        if (blank)
            continue;
        if (n == FG_BENCH_MAX_STAGES) {
            rc = fg_err_set(e, FG_EINVAL, "%s:%zu: more than %d stages", src, lineno, FG_BENCH_MAX_STAGES);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            out = fg_xrealloc(out, cap * sizeof *out);
        }
        fg_err le = {0};
        if (parse_line(line, &out[n], &le) < 0) {
            rc = fg_err_set(e, FG_EINVAL, "%s:%zu: %s", src, lineno, le.msg);
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        rc = fg_err_set(e, FG_EINVAL, "%s: no stages (expected lines like 'step 1000/s 10s')", src);
        goto fail;
    }
    *stages = out;
    *n_stages = n;
    return 0;
fail:
    free(out);
    return rc;
}
