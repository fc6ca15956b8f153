/* cache_policy.c - replays synthetic request streams against the response cache (src/serve/cache.c)
 * and prints hit ratios per eviction policy and admission rule, then times the hot calls.
 *
 * Build and run from the repository root after building build-cache:
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc -Iinclude bench/cache_policy.c build-cache/libfg_serve.a \
 *      build-cache/libfg_engine.a build-cache/libfg_onnxproto.a build-cache/libfg_core.a \
 *      -lprotobuf-c -lcrypto -lpthread -lm -o /tmp/cache_policy
 *   /tmp/cache_policy            # about 10 s; prints markdown tables
 *
 * Workloads: Zipf(s) popularity over 10,000 distinct keys (s = 1.0 and 0.8), optionally with half of
 * the requests being one-off keys that never repeat (unique inputs: every such request is a miss
 * whatever the policy, but it still tries to insert). The cache holds ~10% or ~1% of the distinct
 * keys (a byte budget of that many entries' fg_cache_charge). Each request is a get; a miss is
 * followed by a put, as the server does. The first 20% of requests warm the cache and are not
 * counted. "static top-C" is the hit ratio of a cache that always holds the C most popular keys
 * (the best any policy can do on this independent-request stream, up to sampling noise).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "serve/cache.h"

#define N_KEYS 10000
#define N_REQ 2000000
#define WARM (N_REQ / 5)
#define VAL_LEN 128

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Stand-in for a SHA-256 key: 32 well-mixed bytes derived from the request id. */
static fg_cache_key id_key(uint64_t id) {
    fg_cache_key k;
    uint64_t x = id;
    for (int i = 0; i < 4; i++) {
        uint64_t w = splitmix(&x);
        memcpy(k.b + 8 * i, &w, 8);
    }
    return k;
}

static double *zipf_cdf(double s) {
    double *cdf = malloc(N_KEYS * sizeof *cdf), sum = 0;
    for (int i = 0; i < N_KEYS; i++) cdf[i] = (sum += 1.0 / pow(i + 1, s));
    for (int i = 0; i < N_KEYS; i++) cdf[i] /= sum;
    return cdf;
}

static int zipf_draw(const double *cdf, uint64_t *rng) {
    double u = (double)(splitmix(rng) >> 11) / 9007199254740992.0;
    int lo = 0, hi = N_KEYS - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct workload {
    double s;
    int cache_entries;
    int oneoff_pct;
} workload;

static double run(const workload *w, const double *cdf, fg_cache_policy p, fg_cache_admission a) {
    fg_cache_config cc = {.max_bytes = (size_t)w->cache_entries * fg_cache_charge(VAL_LEN), .policy = p,
                          .admission = a};
    fg_err e = {0};
    fg_cache *c = fg_cache_new(&cc, &e);
    if (!c) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    static uint8_t val[VAL_LEN];
    uint64_t rng = 12345, hits = 0, counted = 0, next_unique = 1ull << 40;
    for (uint64_t i = 0; i < N_REQ; i++) {
        uint64_t id;
        if (w->oneoff_pct && splitmix(&rng) % 100 < (uint64_t)w->oneoff_pct) id = next_unique++;
        else id = (uint64_t)zipf_draw(cdf, &rng);
        fg_cache_key k = id_key(id);
        const fg_cache_entry *h;
        uint64_t now_ms = i / 10; /* 10k requests/s */
        int hit = fg_cache_get(c, &k, 0, now_ms, &h);
        if (hit) fg_cache_entry_release(c, h);
        else fg_cache_put(c, &k, 0, now_ms, val, VAL_LEN, 1000);
        if (i >= WARM) {
            counted++;
            hits += (uint64_t)hit;
        }
    }
    fg_cache_free(c);
    return (double)hits / (double)counted;
}

static double static_top(const workload *w, const double *cdf) {
    return cdf[w->cache_entries - 1] * (1.0 - w->oneoff_pct / 100.0);
}

static double ns_per(uint64_t t0, uint64_t n) { return (double)(fg_now_ns() - t0) / (double)n; }

static void timings(void) {
    enum { RESIDENT = 1000, ITERS = 5000000 };
    fg_cache_config cc = {.max_bytes = 64u << 20};
    fg_cache *c = fg_cache_new(&cc, NULL);
    fg_cache_key *ks = malloc((RESIDENT * 2) * sizeof *ks);
    for (int i = 0; i < RESIDENT * 2; i++) ks[i] = id_key((uint64_t)i);
    uint8_t val[64] = {1};
    for (int i = 0; i < RESIDENT; i++) fg_cache_put(c, &ks[i], 0, 0, val, sizeof val, 1000);
    volatile size_t sink = 0;

    printf("\n| operation (1 thread, %d resident entries, 64-byte values) | ns/op |\n| --- | ---: |\n",
           RESIDENT);
    uint64_t t0 = fg_now_ns();
    for (int i = 0; i < ITERS; i++) {
        const fg_cache_entry *h;
        if (fg_cache_get(c, &ks[(unsigned)i * 7919u % RESIDENT], 0, 1, &h)) {
            const void *p;
            size_t n;
            fg_cache_entry_value(h, &p, &n);
            sink += n;
            fg_cache_entry_release(c, h);
        }
    }
    printf("| fg_cache_get hit + value + release | %.0f |\n", ns_per(t0, ITERS));
    t0 = fg_now_ns();
    for (int i = 0; i < ITERS; i++) {
        const fg_cache_entry *h;
        sink += (size_t)fg_cache_get(c, &ks[RESIDENT + (unsigned)i * 7919u % RESIDENT], 0, 1, &h);
    }
    printf("| fg_cache_get miss | %.0f |\n", ns_per(t0, ITERS));
    t0 = fg_now_ns();
    for (int i = 0; i < ITERS / 5; i++) fg_cache_put(c, &ks[(unsigned)i * 7919u % RESIDENT], 0, 1, val, sizeof val, 1000);
    printf("| fg_cache_put, update of a cached key | %.0f |\n", ns_per(t0, ITERS / 5));
    fg_cache_free(c);

    /* full cache: every put inserts one entry and evicts one */
    fg_cache_config fc = {.max_bytes = RESIDENT * fg_cache_charge(sizeof val)};
    c = fg_cache_new(&fc, NULL);
    t0 = fg_now_ns();
    for (int i = 0; i < ITERS / 5; i++) {
        fg_cache_key k = id_key(1000000 + (uint64_t)i);
        fg_cache_put(c, &k, 0, 1, val, sizeof val, 1000);
    }
    printf("| fg_cache_put, new key with eviction (incl. malloc/free) | %.0f |\n", ns_per(t0, ITERS / 5));
    fg_cache_free(c);

    static float img[3 * 224 * 224], small[64];
    for (size_t i = 0; i < sizeof img / sizeof img[0]; i++) img[i] = (float)i;
    fg_tensor ts = {.dtype = FG_F32, .rank = 2, .dims = {1, 64}, .data = small};
    fg_tensor ti = {.dtype = FG_F32, .rank = 4, .dims = {1, 3, 224, 224}, .data = img};
    fg_cache_input is[] = {{"input", &ts}}, ii[] = {{"input", &ti}};
    fg_cache_key k;
    int n = 200000;
    t0 = fg_now_ns();
    for (int i = 0; i < n; i++) {
        small[0] = (float)i;
        fg_cache_key_make(&k, "digits_mlp", "1", is, 1, NULL, 0, "");
        sink += k.b[0];
    }
    printf("| fg_cache_key_make, 64 float32 | %.0f |\n", ns_per(t0, (uint64_t)n));
    n = 300;
    t0 = fg_now_ns();
    for (int i = 0; i < n; i++) {
        img[0] = (float)i;
        fg_cache_key_make(&k, "resnet50", "1", ii, 1, NULL, 0, "");
        sink += k.b[0];
    }
    double ns = ns_per(t0, (uint64_t)n);
    printf("| fg_cache_key_make, 150,528 float32 (602 KB) | %.0f (%.2f GB/s) |\n", ns, 602112.0 / ns);
    free(ks);
    (void)sink;
}

int main(void) {
    static const double ss[] = {1.0, 0.8};
    static const int sizes[] = {1000, 100};
    static const int oneoffs[] = {0, 50};
    printf("Hit ratio after warm-up (%d requests, first %d not counted; %d distinct repeating keys; "
           "16 shards)\n\n",
           N_REQ, WARM, N_KEYS);
    printf("| zipf s | cache | one-off | LRU | LRU + 2nd-hit | SIEVE | SIEVE + 2nd-hit | static top-C |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int a = 0; a < 2; a++) {
        double *cdf = zipf_cdf(ss[a]);
        for (int b = 0; b < 2; b++) {
            for (int o = 0; o < 2; o++) {
                workload w = {.s = ss[a], .cache_entries = sizes[b], .oneoff_pct = oneoffs[o]};
                double r[4];
                r[0] = run(&w, cdf, FG_CACHE_LRU, FG_CACHE_ADMIT_ALL);
                r[1] = run(&w, cdf, FG_CACHE_LRU, FG_CACHE_ADMIT_SECOND_HIT);
                r[2] = run(&w, cdf, FG_CACHE_SIEVE, FG_CACHE_ADMIT_ALL);
                r[3] = run(&w, cdf, FG_CACHE_SIEVE, FG_CACHE_ADMIT_SECOND_HIT);
                printf("| %.1f | %d%% (%d) | %d%% | %.3f | %.3f | %.3f | %.3f | %.3f |\n", w.s,
                       w.cache_entries * 100 / N_KEYS, w.cache_entries, w.oneoff_pct, r[0], r[1], r[2], r[3],
                       static_top(&w, cdf));
                fflush(stdout);
            }
        }
        free(cdf);
    }
    timings();
    return 0;
}
