/* doctor.c - `frugal doctor URL`: scrapes a frugal server's /metrics twice (or reads two saved
 * scrapes), computes each model's KPIs over the interval (throughput and errors by outcome, latency
 * quantiles from histogram bucket deltas, queue vs compute time, batching, instance busy share, CPU,
 * cost, cache) and runs a checklist of known problems, each finding with its evidence and a concrete
 * change (a flag or a config.pbtxt field). Exit 0 healthy, 1 findings, 2 could not read. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/http.h"
#include "serve/promtext.h"
#include "tools/tools.h"

#define MAX_BODY (64u << 20)
#define CONNECT_MS 3000
#define READ_MS 10000
#define NBUCKETS 64

static void doctor_usage(FILE *f) {
    fprintf(f,
            "usage: frugal doctor URL [options]\n"
            "       frugal doctor --from SCRAPE1 --to SCRAPE2 [options]\n\n"
            "Reads a frugal server's /metrics twice, --interval apart (URL like http://127.0.0.1:8000), or\n"
            "two saved scrapes, computes each model's KPIs over that interval and checks them for known\n"
            "problems: small batches at low CPU, p99 over the SLO (queue- or compute-bound), errors by kind,\n"
            "cache thrash, warmup spikes, idle cost, cost over budget. Each finding names its evidence and\n"
            "a change to make (a flag of frugal serve or a config.pbtxt field). Server CPU use is counted\n"
            "against this machine's cores: an estimate when the server runs elsewhere.\n\n"
            "options:\n"
            "  --interval SECS      time between the two scrapes (default 5)\n"
            "  --slo-p99-ms MS      p99 latency objective (default 250)\n"
            "  --budget-per-1k USD  flag a cost per 1000 requests above USD\n"
            "  --from FILE1         with --to FILE2: two saved scrapes (curl URL/metrics > FILE) instead of\n"
            "  --to FILE2           a live server; the interval is the difference of their uptimes\n"
            "  --json               print one JSON object instead of text\n"
            "  -h, --help           this help\n"
            "\nexit status: 0 healthy (or no traffic), 1 findings, 2 could not read the metrics (one line\n"
            "on stderr) or bad usage\n");
}

/* ---------------------------------------------------------------- a small blocking HTTP/1.1 client */

typedef struct {
    char host[256];
    char port[8];
    char path[1024];
    int local;
} url_parts;

static int parse_url(const char *url, url_parts *u, char *err, size_t errn) {
    memset(u, 0, sizeof *u);
    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errn, "%s: https is not supported (http:// only; put a TLS proxy's plain side here)", url);
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errn, "%s: not an http:// URL (expected http://HOST[:PORT][/PATH])", url);
        return -1;
    }
    const char *p = url + 7, *hs, *he;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (!he) {
            snprintf(err, errn, "%s: unterminated [IPv6] host", url);
            return -1;
        }
        p = he + 1;
    } else {
        hs = p;
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
            p++;
        he = p;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof u->host) {
        snprintf(err, errn, "%s: missing or too long host", url);
        return -1;
    }
    memcpy(u->host, hs, (size_t)(he - hs));
    for (const char *c = u->host; *c; c++)
        if (*c == '@' || (unsigned char)*c <= ' ') {
            snprintf(err, errn, "%s: bad host (user info is not supported)", url);
            return -1;
        }
    strcpy(u->port, "80");
    if (*p == ':') {
        p++;
        char *end;
        errno = 0;
        long port = strtol(p, &end, 10);
        if (end == p || errno || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errn, "%s: bad port", url);
            return -1;
        }
        snprintf(u->port, sizeof u->port, "%ld", port);
        p = end;
    } else if (*p && *p != '/') {
        snprintf(err, errn, "%s: bad URL after the host", url);
        return -1;
    }
    size_t pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    if (pl + sizeof "/metrics" >= sizeof u->path) {
        snprintf(err, errn, "%s: path too long", url);
        return -1;
    }
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
            snprintf(err, errn, "%s: bad character in the path", url);
            return -1;
        }
    memcpy(u->path, p, pl);
    if (pl < 8 || strcmp(u->path + pl - 8, "/metrics") != 0)
        strcat(u->path, "/metrics");
    u->local = strcmp(u->host, "127.0.0.1") == 0 || strcasecmp(u->host, "localhost") == 0 ||
               strcmp(u->host, "::1") == 0;
    return 0;
}

static int connect_to(const url_parts *u, char *err, size_t errn) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errn, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last = errno;
                close(fd);
                fd = -1;
                continue;
            }
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            int pr = poll(&pf, 1, CONNECT_MS);
            if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
                last = pr == 0 ? ETIMEDOUT : soerr ? soerr : errno;
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errn, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
    return fd;
}

static int header_value(const char *hdr, size_t hl, const char *name, char *out, size_t outn) {
    size_t nl = strlen(name);
    const char *p = hdr, *end = hdr + hl;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= outn)
                vl = outn - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* Decodes a chunked body in place with the server's own (fuzzed) decoder; its length, or -1 when it is
 * malformed or incomplete. */
static long dechunk(char *b, size_t n) {
    fg_http_chunked ch;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_body_bytes = MAX_BODY;
    fg_http_chunked_reset(&ch);
    return fg_http_chunked_decode(&ch, b, n, &lim) == 1 ? (long)ch.body_len : -1;
}

/* GET url; *body (NUL-terminated, malloc'd) and *len on success, else -1 with err filled */
static int http_get(const url_parts *u, const char *url, char **body, size_t *len, char *err, size_t errn) {
    int fd = connect_to(u, err, errn);
    if (fd < 0)
        return -1;
    char req[1600];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: frugal-doctor\r\nAccept: text/plain\r\n"
                      "Connection: close\r\n\r\n",
                      u->path, u->host, u->port);
    size_t sent = 0;
    while (sent < (size_t)rl) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, READ_MS) <= 0) {
            snprintf(err, errn, "%s: timed out sending the request", url);
            close(fd);
            return -1;
        }
        ssize_t k = send(fd, req + sent, (size_t)rl - sent, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(err, errn, "%s: send: %s", url, strerror(errno));
            close(fd);
            return -1;
        }
        if (k > 0)
            sent += (size_t)k;
    }
    size_t cap = 1 << 16, n = 0, hdr_end = 0;
    char *b = fg_xmalloc(cap + 1);
    long clen = -1;
    int chunked = 0, rc = -1;
    for (;;) {
        if (hdr_end && clen >= 0 && n - hdr_end >= (size_t)clen)
            break;
        if (hdr_end && chunked && n - hdr_end >= 5 && memcmp(b + n - 5, "0\r\n\r\n", 5) == 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, READ_MS);
        if (pr <= 0) {
            snprintf(err, errn, "%s: timed out reading the response", url);
            goto out;
        }
        if (n == cap) {
            if (cap >= MAX_BODY + (1u << 16)) {
                snprintf(err, errn, "%s: response larger than 64 MiB", url);
                goto out;
            }
            cap *= 2;
            b = fg_xrealloc(b, cap + 1);
        }
        ssize_t k = recv(fd, b + n, cap - n, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0) {
            snprintf(err, errn, "%s: recv: %s", url, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (!hdr_end) {
            b[n] = 0;
            char *e = strstr(b, "\r\n\r\n");
            if (!e && n > (1u << 16)) {
                snprintf(err, errn, "%s: response headers too long", url);
                goto out;
            }
            if (e) {
                hdr_end = (size_t)(e - b) + 4;
                char v[64];
                if (header_value(b, hdr_end, "Content-Length", v, sizeof v)) {
                    char *end;
                    errno = 0;
                    long long cl = strtoll(v, &end, 10);
                    if (errno || *end || cl < 0 || cl > (long long)MAX_BODY) {
                        snprintf(err, errn, "%s: bad or too large Content-Length '%s'", url, v);
                        goto out;
                    }
                    clen = (long)cl;
                }
                if (header_value(b, hdr_end, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked"))
                    chunked = 1, clen = -1;
            }
        }
    }
    b[n] = 0;
    int major, minor, status;
    if (!hdr_end || sscanf(b, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
        snprintf(err, errn, "%s: not an HTTP response", url);
        goto out;
    }
    if (status != 200) {
        snprintf(err, errn, "%s: HTTP status %d", url, status);
        goto out;
    }
    size_t bl = n - hdr_end;
    if (chunked) {
        long d = dechunk(b + hdr_end, bl);
        if (d < 0) {
            snprintf(err, errn, "%s: malformed chunked body", url);
            goto out;
        }
        bl = (size_t)d;
    } else if (clen >= 0) {
        if (bl < (size_t)clen) {
            snprintf(err, errn, "%s: body shorter than its Content-Length (%zu of %ld bytes)", url, bl, clen);
            goto out;
        }
        bl = (size_t)clen;
    }
    if (bl > MAX_BODY) {
        snprintf(err, errn, "%s: response larger than 64 MiB", url);
        goto out;
    }
    memmove(b, b + hdr_end, bl);
    b[bl] = 0;
    *body = b;
    *len = bl;
    b = NULL;
    rc = 0;
out:
    free(b);
    close(fd);
    return rc;
}

static int read_file(const char *path, char **body, size_t *len, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errn, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = fg_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > MAX_BODY) {
                snprintf(err, errn, "%s: larger than 64 MiB", path);
                free(b);
                fclose(f);
                return -1;
            }
            cap *= 2;
            b = fg_xrealloc(b, cap + 1);
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errn, "%s: read error", path);
        free(b);
        return -1;
    }
    b[n] = 0;
    *body = b;
    *len = n;
    return 0;
}

/* ---------------------------------------------------------------- KPIs */

static const char *const outcomes[] = {"success", "bad_request", "rejected", "timeout", "unavailable", "error"};
#define N_OUT 6

typedef struct {
    char *model, *version;
    double req[N_OUT], total, rps;
    double p50, p95, p99, lat_mean;
    double queue_mean, compute_mean;
    double batch_mean, batch_eff, max_batch;
    size_t n_inst;
    char **inst;
    double *busy, busy_mean;
    double hits_local, misses_local, hits_redis, misses_redis, evictions, insertions, bypassed, hit_ratio;
    double queue_depth;
    int warmup;
    double warm_lo, warm_p99;
} model_kpi;

typedef struct {
    double interval, uptime1, uptime2;
    double cpu_share, ncpu;
    int cpu_estimate;
    double price, cost, requests, rps, cost_per_1k, idle_share;
    size_t n_inst;
    model_kpi *m;
    size_t n_models;
} server_kpi;

typedef struct {
    const char *id, *severity;
    const model_kpi *m;
    size_t seq; /* checklist order, to keep it within a severity */
    char evidence[512], change[512];
} finding;

typedef struct {
    finding *f;
    size_t n, cap;
} findings;

static finding *add(findings *fs, const char *id, const char *sev, const model_kpi *m) {
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? 2 * fs->cap : 16;
        fs->f = fg_xrealloc(fs->f, fs->cap * sizeof *fs->f);
    }
    finding *f = &fs->f[fs->n++];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->severity = sev;
    f->m = m;
    f->seq = fs->n;
    return f;
}

static double counter_delta(const fg_prom_doc *a, const fg_prom_doc *b, const char *name, const char *const *m,
                            size_t np) {
    double v1 = fg_prom_sum(a, name, m, np, NULL), v2 = fg_prom_sum(b, name, m, np, NULL);
    return v2 >= v1 ? v2 - v1 : v2; /* a reset between the scrapes: count from zero */
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* delta of histogram `fam` between the scrapes; returns bucket count, le/cum filled */
static size_t hist_delta(const fg_prom_doc *a, const fg_prom_doc *b, const char *fam, const char *const *m,
                         size_t np, double *le, double *cum) {
    double le1[NBUCKETS], cum1[NBUCKETS];
    size_t n1 = fg_prom_buckets(a, fam, m, np, le1, cum1, NBUCKETS);
    size_t n2 = fg_prom_buckets(b, fam, m, np, le, cum, NBUCKETS);
    for (size_t i = 0; i < n2; i++)
        for (size_t k = 0; k < n1; k++)
            if (le1[k] == le[i]) {
                cum[i] = cum[i] >= cum1[k] ? cum[i] - cum1[k] : cum[i];
                break;
            }
    return n2;
}

static int has_pair(const model_kpi *ms, size_t n, const char *model, const char *version) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ms[i].model, model) == 0 && strcmp(ms[i].version, version) == 0)
            return 1;
    return 0;
}

static void model_kpis(const fg_prom_doc *a, const fg_prom_doc *b, double interval, model_kpi *k) {
    const char *mv[] = {"model", k->model, "version", k->version, "outcome", NULL};
    for (int o = 0; o < N_OUT; o++) {
        mv[5] = outcomes[o];
        k->req[o] = counter_delta(a, b, "frugal_requests_total", mv, 3);
        k->total += k->req[o];
    }
    k->rps = k->total / interval;
    double le[NBUCKETS], cum[NBUCKETS];
    size_t nb = hist_delta(a, b, "frugal_request_duration_seconds", mv, 2, le, cum);
    k->p50 = fg_prom_histogram_quantile(0.50, le, cum, nb);
    k->p95 = fg_prom_histogram_quantile(0.95, le, cum, nb);
    k->p99 = fg_prom_histogram_quantile(0.99, le, cum, nb);
    k->lat_mean = ratio(counter_delta(a, b, "frugal_request_duration_seconds_sum", mv, 2),
                        counter_delta(a, b, "frugal_request_duration_seconds_count", mv, 2));
    k->queue_mean = ratio(counter_delta(a, b, "frugal_queue_duration_seconds_sum", mv, 2),
                          counter_delta(a, b, "frugal_queue_duration_seconds_count", mv, 2));
    k->compute_mean = ratio(counter_delta(a, b, "frugal_compute_duration_seconds_sum", mv, 2),
                            counter_delta(a, b, "frugal_compute_duration_seconds_count", mv, 2));
    double batches = counter_delta(a, b, "frugal_batch_size_count", mv, 2);
    k->batch_mean = ratio(counter_delta(a, b, "frugal_batch_size_sum", mv, 2), batches);
    double items = counter_delta(a, b, "frugal_batch_items_total", mv, 2);
    double capy = counter_delta(a, b, "frugal_batch_capacity_items_total", mv, 2);
    k->batch_eff = ratio(items, capy);
    k->max_batch = ratio(capy, counter_delta(a, b, "frugal_batches_total", mv, 2));
    /* warmup: the slowest requests before the first scrape, against the interval's p99 */
    double l1[NBUCKETS], c1[NBUCKETS];
    size_t n1 = fg_prom_buckets(a, "frugal_request_duration_seconds", mv, 2, l1, c1, NBUCKETS);
    k->warm_lo = NAN;
    if (n1 >= 2 && c1[n1 - 1] > 0) {
        size_t i = 0;
        while (i < n1 && c1[i] < c1[n1 - 1])
            i++;
        k->warm_lo = i == 0 ? 0 : l1[i - 1];
    }
    /* instances */
    for (size_t i = 0; i < b->n_samples; i++) {
        const fg_prom_sample *s = &b->samples[i];
        /* engine_instance (instance before it was renamed to keep clear of Prometheus's target label) */
        const char *ilab = "engine_instance", *inst = fg_prom_label_value(s, ilab);
        if (!inst)
            inst = fg_prom_label_value(s, ilab = "instance");
        if (!inst || strcmp(s->name, "frugal_instance_busy_seconds_total") != 0 || !fg_prom_matches(s, mv, 2))
            continue;
        int dup = 0;
        for (size_t j = 0; j < k->n_inst; j++)
            dup |= strcmp(k->inst[j], inst) == 0;
        if (dup || k->n_inst >= 256)
            continue;
        k->inst = fg_xrealloc(k->inst, (k->n_inst + 1) * sizeof *k->inst);
        k->busy = fg_xrealloc(k->busy, (k->n_inst + 1) * sizeof *k->busy);
        const char *mi[] = {"model", k->model, "version", k->version, ilab, inst};
        k->inst[k->n_inst] = fg_xstrdup(inst);
        k->busy[k->n_inst] = counter_delta(a, b, "frugal_instance_busy_seconds_total", mi, 3) / interval;
        k->n_inst++;
    }
    double bs = 0;
    for (size_t j = 0; j < k->n_inst; j++)
        bs += k->busy[j];
    k->busy_mean = k->n_inst ? bs / (double)k->n_inst : NAN;
    /* cache (labelled by model and level, not version) */
    const char *ml[] = {"model", k->model, "level", "local"};
    k->hits_local = counter_delta(a, b, "frugal_cache_hits_total", ml, 2);
    k->misses_local = counter_delta(a, b, "frugal_cache_misses_total", ml, 2);
    k->evictions = counter_delta(a, b, "frugal_cache_evictions_total", ml, 2);
    k->insertions = counter_delta(a, b, "frugal_cache_insertions_total", ml, 2);
    ml[3] = "redis";
    k->hits_redis = counter_delta(a, b, "frugal_cache_hits_total", ml, 2);
    k->misses_redis = counter_delta(a, b, "frugal_cache_misses_total", ml, 2);
    k->bypassed = counter_delta(a, b, "frugal_cache_bypassed_total", ml, 1);
    k->hit_ratio = ratio(k->hits_local + k->hits_redis, k->hits_local + k->misses_local);
    k->queue_depth = fg_prom_sum(b, "frugal_queue_depth", mv, 2, NULL);
}

static int analyse(const fg_prom_doc *a, const fg_prom_doc *b, double wall_s, int local, server_kpi *s,
                   char *err, size_t errn) {
    memset(s, 0, sizeof *s);
    size_t f1, f2;
    s->uptime1 = fg_prom_sum(a, "frugal_uptime_seconds", NULL, 0, &f1);
    s->uptime2 = fg_prom_sum(b, "frugal_uptime_seconds", NULL, 0, &f2);
    if (f1 != 1 || f2 != 1 || !isfinite(s->uptime1) || !isfinite(s->uptime2)) {
        snprintf(err, errn, "not frugal's metrics: no (single) frugal_uptime_seconds in %s scrape",
                 f1 != 1 || !isfinite(s->uptime1) ? "the first" : "the second");
        return -1;
    }
    if (s->uptime2 < s->uptime1) {
        snprintf(err, errn, "the server restarted between the scrapes (uptime %.3f s, then %.3f s)", s->uptime1,
                 s->uptime2);
        return -1;
    }
    s->interval = s->uptime2 - s->uptime1;
    if (!(s->interval > 0.001))
        s->interval = wall_s;
    if (!(s->interval > 0.001)) {
        snprintf(err, errn, "the two scrapes are of the same moment (uptime %.3f s in both)", s->uptime1);
        return -1;
    }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    s->ncpu = nc > 0 ? (double)nc : 1;
    s->cpu_estimate = !local;
    s->cpu_share = counter_delta(a, b, "frugal_process_cpu_seconds_total", NULL, 0) / s->interval / s->ncpu;
    s->price = fg_prom_sum(b, "frugal_price_per_hour_usd", NULL, 0, NULL);
    s->cost = counter_delta(a, b, "frugal_cost_usd_total", NULL, 0);
    /* models: every (model, version) with request counters in the second scrape */
    for (size_t i = 0; i < b->n_samples; i++) {
        const fg_prom_sample *x = &b->samples[i];
        if (strcmp(x->name, "frugal_requests_total") != 0)
            continue;
        const char *m = fg_prom_label_value(x, "model"), *v = fg_prom_label_value(x, "version");
        /* at most 256 models: bounds the scans of a hostile scrape */
        if (!m || !v || has_pair(s->m, s->n_models, m, v) || s->n_models >= 256)
            continue;
        s->m = fg_xrealloc(s->m, (s->n_models + 1) * sizeof *s->m);
        model_kpi *k = &s->m[s->n_models++];
        memset(k, 0, sizeof *k);
        k->model = fg_xstrdup(m);
        k->version = fg_xstrdup(v);
    }
    double busy = 0;
    for (size_t i = 0; i < s->n_models; i++) {
        model_kpi *k = &s->m[i];
        model_kpis(a, b, s->interval, k);
        s->requests += k->total;
        for (size_t j = 0; j < k->n_inst; j++)
            busy += k->busy[j];
        s->n_inst += k->n_inst;
    }
    s->rps = s->requests / s->interval;
    s->cost_per_1k = s->requests > 0 && s->price > 0 ? s->cost * 1000 / s->requests : NAN;
    s->idle_share = s->n_inst ? 1 - busy / (double)s->n_inst : NAN;
    return 0;
}

static void server_free(server_kpi *s) {
    for (size_t i = 0; i < s->n_models; i++) {
        model_kpi *k = &s->m[i];
        for (size_t j = 0; j < k->n_inst; j++)
            free(k->inst[j]);
        free(k->inst);
        free(k->busy);
        free(k->model);
        free(k->version);
    }
    free(s->m);
}

/* ---------------------------------------------------------------- the checklist */

#define MS(x) ((x) * 1e3)

static void check(const server_kpi *s, double slo_s, double budget, findings *fs) {
    for (size_t i = 0; i < s->n_models; i++) {
        const model_kpi *k = &s->m[i];
        if (k->total <= 0)
            continue;
        finding *f;
        /* errors by kind */
        static const struct {
            int o;
            const char *id, *sev, *change;
        } errs[] = {
            {2, "rejected", "critical",
             "raise --max-queue (config.pbtxt dynamic_batching.default_queue_policy.max_queue_size) or add "
             "--instances (instance_group count) so the queue drains faster"},
            {3, "timeout", "critical",
             "raise --timeout-us (dynamic_batching.default_queue_policy.default_timeout_microseconds) or the "
             "clients' parameters.timeout, or add --instances so requests wait less"},
            {1, "bad_request", "warning",
             "fix the client: each 400 body names the problem (bad JSON, unknown input, wrong dtype or shape); "
             "check it against GET /v2/models/MODEL"},
            {5, "server_error", "critical", "read the server log (stderr) around the failing requests"},
            {4, "unavailable", "warning",
             "requests reached a model that was loading, unloading or draining: wait for /v2/health/ready, "
             "check the log for load errors"},
        };
        for (size_t e = 0; e < sizeof errs / sizeof errs[0]; e++) {
            double n = k->req[errs[e].o], r = n / k->total;
            if (n <= 0 || (errs[e].o != 5 && r < 0.01))
                continue;
            f = add(fs, errs[e].id, errs[e].sev, k);
            snprintf(f->evidence, sizeof f->evidence, "%.0f of %.0f requests (%.1f %%) were %s (%.2f/s)", n,
                     k->total, 100 * r, outcomes[errs[e].o], n / s->interval);
            snprintf(f->change, sizeof f->change, "%s", errs[e].change);
        }
        /* p99 over the SLO: queue- or compute-bound */
        if (isfinite(k->p99) && k->p99 > slo_s) {
            int queue = isfinite(k->queue_mean) && (!isfinite(k->compute_mean) || k->queue_mean >= k->compute_mean);
            f = add(fs, queue ? "queue_p99" : "compute_p99", "critical", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "p99 %.1f ms > SLO %.0f ms (p50 %.1f ms); mean queue %.2f ms vs mean compute %.2f ms per "
                     "request",
                     MS(k->p99), MS(slo_s), MS(k->p50), MS(k->queue_mean), MS(k->compute_mean));
            if (queue && isfinite(k->busy_mean) && k->busy_mean >= 0.7)
                snprintf(f->change, sizeof f->change,
                         "requests wait for busy instances (%.0f %% busy): add --instances (instance_group "
                         "count), or lower --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds)",
                         100 * k->busy_mean);
            else if (queue)
                snprintf(f->change, sizeof f->change,
                         "requests wait for the batching delay while instances are mostly idle (%.0f %% busy): "
                         "lower --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds) or use "
                         "--batch-delay adaptive; add --instances only if they get busy",
                         isfinite(k->busy_mean) ? 100 * k->busy_mean : 0);
            else
                snprintf(f->change, sizeof f->change,
                         "compute dominates: give each instance more --threads, or serve a smaller model "
                         "(quantize it, or a smaller architecture)");
        }
        /* small batches at low CPU under load */
        double conc = k->rps * (isfinite(k->lat_mean) ? k->lat_mean : 0);
        int load = k->rps >= 20 &&
                   (conc >= 1 || (isfinite(k->queue_mean) && k->queue_mean >= 0.001 &&
                                  (!isfinite(k->compute_mean) || k->queue_mean >= k->compute_mean)));
        int small = isfinite(k->batch_mean) && k->batch_mean < 2 &&
                    ((isfinite(k->max_batch) && k->max_batch <= 1) || (isfinite(k->batch_eff) && k->batch_eff < 0.25));
        int rejecting = k->req[2] >= 0.01 * k->total; /* a queue cap explains small batches */
        if (load && small && !rejecting && isfinite(s->cpu_share) && s->cpu_share < 0.6) {
            f = add(fs, "small_batches", "warning", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "%.0f req/s with %.1f requests in the server on average, mean batch %.2f items (max %.0f, "
                     "efficiency %.0f %%), server CPU %.0f %%%s",
                     k->rps, conc, k->batch_mean, k->max_batch, 100 * k->batch_eff, 100 * s->cpu_share,
                     s->cpu_estimate ? " (estimate)" : "");
            if (isfinite(k->max_batch) && k->max_batch <= 1)
                snprintf(f->change, sizeof f->change,
                         "raise --max-batch (config.pbtxt max_batch_size), e.g. 8 or 16, so concurrent requests "
                         "share a run");
            else
                snprintf(f->change, sizeof f->change,
                         "raise --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds) or set "
                         "preferred_batch_size so batches fill (max is %.0f)",
                         k->max_batch);
        }
        /* cache thrash */
        double lookups = k->hits_local + k->misses_local;
        if (lookups >= 10 && k->insertions >= 5 && k->hit_ratio < 0.2 && k->evictions >= 0.5 * k->insertions) {
            f = add(fs, "cache_thrash", "warning", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "cache hit ratio %.1f %% over %.0f lookups, %.0f evictions for %.0f insertions",
                     100 * k->hit_ratio, lookups, k->evictions, k->insertions);
            snprintf(f->change, sizeof f->change,
                     "entries are evicted before they are reused: raise --cache-bytes, or store only repeated "
                     "inputs with --cache-admission second-hit (or turn the cache off: response_cache { enable: "
                     "false })");
        }
        /* warmup spikes */
        int early_slow = s->uptime1 < 300 && isfinite(k->warm_lo) && k->warm_lo >= 0.05 &&
                         (!isfinite(k->p99) || k->warm_lo >= 4 * k->p99);
        int early_tail = s->uptime1 < 60 && isfinite(k->p99) && k->p99 > slo_s && k->p50 > 0 && k->p99 >= 20 * k->p50 &&
                         !(isfinite(k->queue_mean) && k->queue_mean >= 0.25 * k->p99);
        if (early_slow || early_tail) {
            f = add(fs, "warmup", "warning", k);
            if (early_slow)
                snprintf(f->evidence, sizeof f->evidence,
                         "server up %.0f s at the first scrape; its slowest requests took over %.0f ms, the "
                         "interval's p99 is %.1f ms",
                         s->uptime1, MS(k->warm_lo), MS(k->p99));
            else
                snprintf(f->evidence, sizeof f->evidence,
                         "server up %.0f s; p99 %.1f ms is %.0fx p50 %.2f ms and the queue does not explain it",
                         s->uptime1, MS(k->p99), k->p99 / k->p50, MS(k->p50));
            snprintf(f->change, sizeof f->change,
                     "warm the model up before it is ready: add model_warmup samples to config.pbtxt (at each "
                     "batch size you serve) and do not run with --no-warmup");
        }
    }
    if (s->requests > 0 && isfinite(s->idle_share) && s->idle_share > 0.7 && (s->n_inst >= 2 || s->price > 0)) {
        finding *f = add(fs, "idle_cost", s->n_inst >= 2 ? "warning" : "info", NULL);
        snprintf(f->evidence, sizeof f->evidence,
                 "%.0f %% of instance time is idle (%zu instances, %.1f req/s)%s", 100 * s->idle_share, s->n_inst,
                 s->rps, s->price > 0 ? "" : "; no --price-per-hour set");
        if (s->price > 0) {
            size_t l = strlen(f->evidence);
            snprintf(f->evidence + l, sizeof f->evidence - l, "; $%.4f/h, of which about $%.4f/h pays for idle time",
                     s->price, s->price * s->idle_share);
        }
        snprintf(f->change, sizeof f->change,
                 "serve with fewer --instances (instance_group count) or on a smaller machine "
                 "(--price-per-hour follows it)");
    }
    if (budget > 0 && isfinite(s->cost_per_1k) && s->cost_per_1k > budget) {
        finding *f = add(fs, "over_budget", "warning", NULL);
        snprintf(f->evidence, sizeof f->evidence, "$%.5f per 1000 requests > budget $%.5f (%.1f req/s at $%.4f/h)",
                 s->cost_per_1k, budget, s->rps, s->price);
        snprintf(f->change, sizeof f->change,
                 "the machine costs the same at any load: send it more traffic per instance, use fewer "
                 "--instances or a cheaper machine, and raise --max-batch so each run serves more requests");
    }
}

static int sev_rank(const char *s) { return strcmp(s, "critical") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2; }

/* critical first, then warning, then info; the checklist's order within a severity */
static int by_severity(const void *a, const void *b) {
    const finding *x = a, *y = b;
    int d = sev_rank(x->severity) - sev_rank(y->severity);
    return d ? d : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---------------------------------------------------------------- output */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

/* Writes a key (with its leading separator and colon, e.g. ",\"rps\":") and a number. */
static void json_kv(FILE *f, const char *key, double v) {
    fputs(key, f);
    json_num(f, v);
}

static void print_json(FILE *f, const char *source, const server_kpi *s, double slo, const findings *fs) {
    fputs("{\"source\":", f);
    json_str(f, source);
    json_kv(f, ",\"interval_s\":", s->interval);
    json_kv(f, ",\"slo_p99_s\":", slo);
    fprintf(f, ",\"server\":{\"uptime_s\":");
    json_num(f, s->uptime2);
    json_kv(f, ",\"requests\":", s->requests);
    json_kv(f, ",\"rps\":", s->rps);
    json_kv(f, ",\"cpu_share\":", s->cpu_share);
    fprintf(f, ",\"cpu_estimate\":%s,\"online_cpus\":%.0f,\"price_per_hour_usd\":", s->cpu_estimate ? "true" : "false",
            s->ncpu);
    json_num(f, s->price);
    json_kv(f, ",\"cost_usd\":", s->cost);
    json_kv(f, ",\"cost_per_1k_usd\":", s->cost_per_1k);
    json_kv(f, ",\"idle_cost_share\":", s->idle_share);
    fprintf(f, ",\"instances\":%zu},\"models\":[", s->n_inst);
    for (size_t i = 0; i < s->n_models; i++) {
        const model_kpi *k = &s->m[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        json_str(f, k->model);
        fputs(",\"version\":", f);
        json_str(f, k->version);
        json_kv(f, ",\"requests\":", k->total);
        json_kv(f, ",\"rps\":", k->rps);
        fputs(",\"outcomes\":{", f);
        for (int o = 0; o < N_OUT; o++) {
            fprintf(f, "%s\"%s\":{\"rps\":", o ? "," : "", outcomes[o]);
            json_num(f, k->req[o] / s->interval);
            json_kv(f, ",\"ratio\":", ratio(k->req[o], k->total));
            fputc('}', f);
        }
        static const char *const keys[] = {"p50_s", "p95_s", "p99_s", "mean_latency_s", "mean_queue_s",
                                           "mean_compute_s", "mean_batch_size", "batch_efficiency",
                                           "max_batch_size", "mean_busy_share", "cache_hit_ratio",
                                           "cache_hits_local", "cache_misses_local", "cache_hits_redis",
                                           "cache_misses_redis", "cache_evictions", "cache_insertions",
                                           "cache_bypassed", "queue_depth"};
        const double vals[] = {k->p50, k->p95, k->p99, k->lat_mean, k->queue_mean, k->compute_mean,
                               k->batch_mean, k->batch_eff, k->max_batch, k->busy_mean, k->hit_ratio,
                               k->hits_local, k->misses_local, k->hits_redis, k->misses_redis, k->evictions,
                               k->insertions, k->bypassed, k->queue_depth};
        fputc('}', f);
        for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
            fprintf(f, ",\"%s\":", keys[j]);
            json_num(f, vals[j]);
        }
        fputs(",\"busy_share\":{", f);
        for (size_t j = 0; j < k->n_inst; j++) {
            if (j)
                fputc(',', f);
            json_str(f, k->inst[j]);
            fputc(':', f);
            json_num(f, k->busy[j]);
        }
        fputs("}}", f);
    }
    fprintf(f, "],\"no_traffic\":%s,\"healthy\":%s,\"findings\":[", s->requests > 0 ? "false" : "true",
            fs->n ? "false" : "true");
    for (size_t i = 0; i < fs->n; i++) {
        const finding *x = &fs->f[i];
        fprintf(f, "%s{\"id\":\"%s\",\"severity\":\"%s\",\"model\":", i ? "," : "", x->id, x->severity);
        if (x->m) {
            json_str(f, x->m->model);
            fputs(",\"version\":", f);
            json_str(f, x->m->version);
        } else {
            fputs("null,\"version\":null", f);
        }
        fputs(",\"evidence\":", f);
        json_str(f, x->evidence);
        fputs(",\"change\":", f);
        json_str(f, x->change);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* a duration in ms with a sensible precision, "-" when unknown */
static const char *ms(char *buf, double s) {
    if (!isfinite(s))
        return "-";
    double v = s * 1e3;
    snprintf(buf, 32, v < 1 ? "%.3f ms" : v < 100 ? "%.2f ms" : "%.0f ms", v);
    return buf;
}

static const char *pct(char *buf, double r) {
    if (!isfinite(r))
        return "-";
    snprintf(buf, 32, "%.1f %%", 100 * r);
    return buf;
}

static void print_text(FILE *f, const char *source, const server_kpi *s, double slo, const findings *fs) {
    char a[32], b[32], c[32];
    fprintf(f, "frugal doctor: %s, %.1f s interval (server up %.0f s)\n\n", source, s->interval, s->uptime2);
    fprintf(f, "server   %.1f req/s, CPU %s of %.0f cores%s, instances busy %s, cost per 1k requests %s\n\n",
            s->rps, pct(a, s->cpu_share), s->ncpu,
            s->cpu_estimate ? " (estimate: counted against this machine's cores)" : "",
            pct(b, isfinite(s->idle_share) ? 1 - s->idle_share : NAN),
            isfinite(s->cost_per_1k) ? (snprintf(c, sizeof c, "$%.5f", s->cost_per_1k), c) : "- (no price)");
    for (size_t i = 0; i < s->n_models; i++) {
        const model_kpi *k = &s->m[i];
        fprintf(f, "model %s version %s\n", k->model, k->version);
        fprintf(f, "  %-16s %.1f/s (%.0f in the interval)\n", "requests", k->rps, k->total);
        for (int o = 0; o < N_OUT; o++)
            if (k->req[o] > 0)
                fprintf(f, "  %-16s %.1f/s, %s\n", outcomes[o], k->req[o] / s->interval, pct(a, k->req[o] / k->total));
        fprintf(f, "  %-16s p50 %s, p95 %s, ", "latency", ms(a, k->p50), ms(b, k->p95));
        fprintf(f, "p99 %s (SLO %.0f ms)\n", ms(a, k->p99), slo * 1e3);
        fprintf(f, "  %-16s queue %s, ", "mean queue/comp.", ms(a, k->queue_mean));
        fprintf(f, "compute %s\n", ms(a, k->compute_mean));
        fprintf(f, "  %-16s mean %.2f items of max %.0f, efficiency %s\n", "batches",
                isfinite(k->batch_mean) ? k->batch_mean : 0, isfinite(k->max_batch) ? k->max_batch : 0,
                pct(a, k->batch_eff));
        fprintf(f, "  %-16s", "busy share");
        for (size_t j = 0; j < k->n_inst; j++)
            fprintf(f, " #%s %s", k->inst[j], pct(a, k->busy[j]));
        fprintf(f, "%s\n", k->n_inst ? "" : " -");
        if (k->hits_local + k->misses_local + k->insertions + k->bypassed > 0)
            fprintf(f, "  %-16s hit ratio %s (%.0f local hits, %.0f misses, %.0f redis hits), %.0f insertions, "
                       "%.0f evictions, %.0f bypassed\n",
                    "cache", pct(a, k->hit_ratio), k->hits_local, k->misses_local, k->hits_redis, k->insertions,
                    k->evictions, k->bypassed);
        fprintf(f, "  %-16s %.0f\n\n", "queue depth now", k->queue_depth);
    }
    if (s->requests <= 0)
        fprintf(f, "no traffic: no requests in the %.1f s interval, nothing to judge\n", s->interval);
    if (fs->n == 0) {
        if (s->requests > 0)
            fprintf(f, "healthy: no findings\n");
        return;
    }
    fprintf(f, "findings (%zu):\n", fs->n);
    for (size_t i = 0; i < fs->n; i++) {
        const finding *x = &fs->f[i];
        fprintf(f, "  [%s] %s", x->severity, x->id);
        if (x->m)
            fprintf(f, " (%s v%s)", x->m->model, x->m->version);
        fprintf(f, "\n    evidence: %s\n    change:   %s\n", x->evidence, x->change);
    }
}

/* ---------------------------------------------------------------- the command */

static int parse_num(const char *s, const char *opt, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "frugal doctor: %s needs a number in [%g, %g], got '%s'\n", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int load_doc(const char *what, char *body, size_t len, fg_prom_doc *d, char *err, size_t errn) {
    fg_err e = {0};
    int rc = fg_prom_parse(body, len, d, &e);
    free(body);
    if (rc < 0) {
        snprintf(err, errn, "%s: %s", what, e.msg);
        return -1;
    }
    if (d->n_samples == 0) {
        snprintf(err, errn, "%s: no metrics in it%s%s", what, d->n_bad ? " (first bad line: " : "",
                 d->n_bad ? d->bad_why : "");
        if (d->n_bad)
            strncat(err, ")", errn - strlen(err) - 1);
        return -1;
    }
    return 0;
}

int fg_cmd_doctor(int argc, char **argv) {
    static const struct option opts[] = {
        {"interval", required_argument, 0, 'i'}, {"json", no_argument, 0, 'j'},
        {"slo-p99-ms", required_argument, 0, 's'}, {"budget-per-1k", required_argument, 0, 'b'},
        {"from", required_argument, 0, 'f'},     {"to", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    double interval = 5, slo_ms = 250, budget = 0;
    const char *from = NULL, *to = NULL;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': if (parse_num(optarg, "--interval", 0.01, 3600, &interval) < 0) return 2; break;
        case 's': if (parse_num(optarg, "--slo-p99-ms", 0.001, 1e7, &slo_ms) < 0) return 2; break;
        case 'b': if (parse_num(optarg, "--budget-per-1k", 0, 1e12, &budget) < 0) return 2; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'j': json = 1; break;
        case 'h': doctor_usage(stdout); return 0;
        default: doctor_usage(stderr); return 2;
        }
    }
    if ((from != NULL) != (to != NULL)) {
        fprintf(stderr, "frugal doctor: --from and --to go together (two saved scrapes)\n");
        return 2;
    }
    if (from ? optind != argc : optind != argc - 1) {
        fprintf(stderr, "frugal doctor: expected one URL argument, or --from FILE --to FILE (see frugal doctor "
                        "--help)\n");
        return 2;
    }
    char err[1400];
    fg_prom_doc d1 = {0}, d2 = {0};
    char *body = NULL;
    size_t len = 0;
    double wall = 0;
    int local = 0;
    const char *source;
    char src[1200];
    if (from) {
        snprintf(src, sizeof src, "%s -> %s", from, to);
        source = src;
        if (read_file(from, &body, &len, err, sizeof err) < 0 || load_doc(from, body, len, &d1, err, sizeof err) < 0 ||
            read_file(to, &body, &len, err, sizeof err) < 0 || load_doc(to, body, len, &d2, err, sizeof err) < 0)
            goto fail;
    } else {
        const char *url = argv[optind];
        url_parts u;
        source = url;
        if (parse_url(url, &u, err, sizeof err) < 0)
            goto fail;
        local = u.local;
        char full[1400];
        snprintf(full, sizeof full, "http://%s%s%s:%s%s", strchr(u.host, ':') ? "[" : "", u.host,
                 strchr(u.host, ':') ? "]" : "", u.port, u.path);
        uint64_t t0 = fg_now_ns();
        if (http_get(&u, full, &body, &len, err, sizeof err) < 0 || load_doc(full, body, len, &d1, err, sizeof err) < 0)
            goto fail;
        struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        if (http_get(&u, full, &body, &len, err, sizeof err) < 0 || load_doc(full, body, len, &d2, err, sizeof err) < 0)
            goto fail;
        wall = (double)(fg_now_ns() - t0) / 1e9;
    }
    server_kpi s;
    if (analyse(&d1, &d2, wall, local, &s, err, sizeof err) < 0)
        goto fail;
    findings fs = {0};
    check(&s, slo_ms / 1e3, budget, &fs);
    if (fs.n > 1)
        qsort(fs.f, fs.n, sizeof *fs.f, by_severity);
    if (json)
        print_json(stdout, source, &s, slo_ms / 1e3, &fs);
    else
        print_text(stdout, source, &s, slo_ms / 1e3, &fs);
    int rc = fs.n ? 1 : 0;
    free(fs.f);
    server_free(&s);
    fg_prom_free(&d1);
    fg_prom_free(&d2);
    return rc;
fail:
    fprintf(stderr, "frugal doctor: %s\n", err);
    fg_prom_free(&d1);
    fg_prom_free(&d2);
    return 2;
}
