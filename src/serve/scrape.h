/* scrape.h - what tools need to read a frugal server from outside: a small blocking HTTP/1.1 GET
 * client, whole-file reads, one /metrics scrape from a URL or a saved file, and the KPIs of each
 * model over the interval between two scrapes (throughput and errors by outcome, latency quantiles
 * from histogram bucket deltas, queue vs compute time, batching, instance busy share, CPU, cost, cache).
 * Used by frugal doctor, frugal cost --metrics and frugal bench. Nothing here runs inside the server.
 *
 * Usage
 *   fg_prom_doc a = {0}, b = {0};
 *   char err[1400];
 *   if (fg_scrape("http://127.0.0.1:8000", &a, NULL, err, sizeof err) < 0) ...   // or a file path
 *   ... later ...
 *   fg_scrape(same, &b, NULL, err, sizeof err);
 *   fg_scrape_kpis s;
 *   if (fg_scrape_analyse(&a, &b, wall_s, 1, &s, err, sizeof err) == 0) { ... s.m[i].p99 ...; fg_scrape_kpis_free(&s); }
 */
#ifndef FG_SERVE_SCRAPE_H
#define FG_SERVE_SCRAPE_H

#include <stddef.h>

#include "serve/promtext.h"

#define FG_FETCH_MAX_BODY (64u << 20) /* largest response or file read: 64 MiB */

/* An http:// URL split into its parts; path is "/" when the URL has none. */
typedef struct fg_url {
    char host[256]; /* without the [] of an IPv6 literal */
    char port[8];
    char path[1024];
    int local; /* host is 127.0.0.1, ::1 or localhost */
} fg_url;

/* Parses http://HOST[:PORT][/PATH] into *u (https, user info, bad ports and control characters are
 * refused with a one-line reason in err); 0 or -1. */
int fg_url_parse(const char *url, fg_url *u, char *err, size_t errn);

/* Writes the URL of u (http://host:port/path) into out. */
void fg_url_format(const fg_url *u, char *out, size_t n);

/* GET u's path (3 s connect, 10 s per read); on HTTP 200 *body (malloc'd, NUL-terminated, caller frees)
 * and *len, else -1 with err naming the URL and the reason (status, timeout, malformed response). Plain
 * and chunked bodies up to FG_FETCH_MAX_BODY. */
int fg_http_get(const fg_url *u, char **body, size_t *len, char *err, size_t errn);

/* Reads a whole file (up to FG_FETCH_MAX_BODY) into *body (malloc'd, NUL-terminated, caller frees);
 * 0, or -1 with err. */
int fg_read_whole_file(const char *path, char **body, size_t *len, char *err, size_t errn);

/* One scrape: src is an http:// URL (its path gets /metrics appended unless it ends so) or a file of a
 * saved scrape. Parses it into *d (caller frees with fg_prom_free); *local (may be NULL) tells whether
 * the server is on this machine (a file counts as not). 0, or -1 with err (unreachable, not metrics). */
int fg_scrape(const char *src, fg_prom_doc *d, int *local, char *err, size_t errn);

/* Request outcomes as frugal_requests_total labels them, in the order of fg_scrape_model.req. */
extern const char *const fg_scrape_outcomes[];
#define FG_SCRAPE_N_OUT 6

/* One (model, version) over the interval; NAN where the scrapes do not tell. */
typedef struct fg_scrape_model {
    char *model, *version;
    double req[FG_SCRAPE_N_OUT], total, rps;
    double p50, p95, p99, lat_mean;
    double queue_mean, compute_mean;
    double batch_mean, batch_eff, max_batch;
    size_t n_inst;
    char **inst;
    double *busy, busy_mean;
    double hits_local, misses_local, hits_redis, misses_redis, evictions, insertions, bypassed, hit_ratio;
    double queue_depth;
    double warm_lo; /* lower bound of the slowest requests before the first scrape (warmup evidence) */
    size_t n_batch_le;
    double batch_le[64], batch_cum[64]; /* this model's batch size histogram over the interval (cumulative) */
} fg_scrape_model;

/* The server over the interval. */
typedef struct fg_scrape_kpis {
    double interval, uptime1, uptime2;
    double cpu_share, ncpu; /* process CPU seconds per second over this machine's online CPUs */
    int cpu_estimate;       /* the server is not local: cpu_share counts against the wrong machine */
    double price, cost, requests, rps, cost_per_1k, idle_share;
    size_t n_inst;
    fg_scrape_model *m;
    size_t n_models;
} fg_scrape_kpis;

/* The KPIs between scrapes a and b (b later); wall_s is the time between them when the server's uptime
 * cannot tell, local as from fg_scrape. Fills *s (free with fg_scrape_kpis_free); 0, or -1 with err (not
 * frugal's metrics, a restart between the scrapes, the same moment twice). */
int fg_scrape_analyse(const fg_prom_doc *a, const fg_prom_doc *b, double wall_s, int local, fg_scrape_kpis *s,
                   char *err, size_t errn);

/* Frees what fg_scrape_analyse allocated in s. */
void fg_scrape_kpis_free(fg_scrape_kpis *s);

/* Increase of counter `name` (samples matching n_pairs label pairs, summed) from a to b; a counter
 * reset between them counts from zero. */
double fg_scrape_counter_delta(const fg_prom_doc *a, const fg_prom_doc *b, const char *name, const char *const *m,
                            size_t np);

#endif
