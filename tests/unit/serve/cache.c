/* Tests for src/serve/cache.c: canonical keys, value blobs (including hostile ones) and the store,
 * driven with synthetic millisecond clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "serve/cache.h"

static uint64_t lcg(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 11;
}

static int key_eq(const fg_cache_key *a, const fg_cache_key *b) { return memcmp(a->b, b->b, 32) == 0; }

/* A pseudo-random key derived from id (stands in for a SHA-256 output). */
static fg_cache_key mk_key(uint64_t id) {
    fg_cache_key k;
    uint64_t st = id * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < 32; i++) k.b[i] = (uint8_t)lcg(&st);
    return k;
}
/* The same, landing in shard sh of a 16-shard cache (the store picks the shard by key byte 31). */
static fg_cache_key mk_key_shard(uint64_t id, unsigned sh) {
    fg_cache_key k = mk_key(id);
    k.b[31] = (uint8_t)((k.b[31] & 0xf0) | sh);
    return k;
}

/* ---------------------------------------------------------------------------------------------- */
/* keys */

static void key_canonical(void **state) {
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    int32_t ai[6];
    memcpy(ai, a, sizeof a); /* same bytes, other dtype */
    float b[2] = {7, 8};
    fg_tensor ta = {.dtype = FG_F32, .rank = 2, .dims = {2, 3}, .data = a};
    fg_tensor ta32 = {.dtype = FG_I32, .rank = 2, .dims = {2, 3}, .data = ai};
    fg_tensor ta_t = {.dtype = FG_F32, .rank = 2, .dims = {3, 2}, .data = a};
    fg_tensor ta_flat = {.dtype = FG_F32, .rank = 1, .dims = {6}, .data = a};
    fg_tensor tb = {.dtype = FG_F32, .rank = 1, .dims = {2}, .data = b};
    fg_cache_input in1[] = {{"x", &ta}, {"y", &tb}};
    fg_cache_input in2[] = {{"y", &tb}, {"x", &ta}};
    fg_cache_key k1, k2, k;
    assert_int_equal(fg_cache_key_make(&k1, "m", "1", in1, 2, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&k2, "m", "1", in2, 2, NULL, 0, ""), 0);
    assert_true(key_eq(&k1, &k2)); /* input order does not matter */
    assert_int_equal(fg_cache_key_make(&k2, "m", "1", in1, 2, NULL, 0, NULL), 0);
    assert_true(key_eq(&k1, &k2)); /* NULL params == "" */

    fg_cache_input d1[] = {{"x", &ta}}, d2[] = {{"x", &ta32}}, d3[] = {{"x", &ta_t}}, d4[] = {{"x", &ta_flat}};
    fg_cache_key kd[4];
    assert_int_equal(fg_cache_key_make(&kd[0], "m", "1", d1, 1, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&kd[1], "m", "1", d2, 1, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&kd[2], "m", "1", d3, 1, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&kd[3], "m", "1", d4, 1, NULL, 0, ""), 0);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) assert_false(key_eq(&kd[i], &kd[j])); /* dtype, [2,3]/[3,2], rank */

    const char *o1[] = {"p", "q"}, *o2[] = {"q", "p", "q"}, *o3[] = {"p"};
    fg_cache_key ko1, ko2, ko3;
    assert_int_equal(fg_cache_key_make(&ko1, "m", "1", in1, 2, o1, 2, ""), 0);
    assert_int_equal(fg_cache_key_make(&ko2, "m", "1", in1, 2, o2, 3, ""), 0);
    assert_int_equal(fg_cache_key_make(&ko3, "m", "1", in1, 2, o3, 1, ""), 0);
    assert_true(key_eq(&ko1, &ko2));  /* a set: order and duplicates do not matter */
    assert_false(key_eq(&ko1, &ko3));
    assert_false(key_eq(&ko1, &k1));  /* named set vs all outputs */
    assert_false(key_eq(&ko3, &k1));

    assert_int_equal(fg_cache_key_make(&k, "m", "2", in1, 2, NULL, 0, ""), 0);
    assert_false(key_eq(&k, &k1)); /* version */
    assert_int_equal(fg_cache_key_make(&k, "n", "1", in1, 2, NULL, 0, ""), 0);
    assert_false(key_eq(&k, &k1)); /* model */
    assert_int_equal(fg_cache_key_make(&k, "m", "1", in1, 2, NULL, 0, "temperature=0.5"), 0);
    assert_false(key_eq(&k, &k1)); /* params */
    /* field boundaries are length-prefixed: "m"+"11" vs "m1"+"1" */
    fg_cache_key kx, ky;
    assert_int_equal(fg_cache_key_make(&kx, "m", "11", in1, 2, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&ky, "m1", "1", in1, 2, NULL, 0, ""), 0);
    assert_false(key_eq(&kx, &ky));
    /* input renamed */
    fg_cache_input r1[] = {{"x2", &ta}, {"y", &tb}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", r1, 2, NULL, 0, ""), 0);
    assert_false(key_eq(&k, &k1));
    /* data change */
    float a2[6] = {1, 2, 3, 4, 5, 7};
    fg_tensor ta2 = ta;
    ta2.data = a2;
    fg_cache_input c1[] = {{"x", &ta2}, {"y", &tb}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", c1, 2, NULL, 0, ""), 0);
    assert_false(key_eq(&k, &k1));

    /* errors */
    fg_cache_input dup[] = {{"x", &ta}, {"x", &tb}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", dup, 2, NULL, 0, ""), FG_EINVAL);
    fg_tensor bad = ta;
    bad.dims[0] = -1;
    fg_cache_input bi[] = {{"x", &bad}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", bi, 1, NULL, 0, ""), FG_EINVAL);
    fg_tensor st = {.dtype = FG_STRING, .rank = 1, .dims = {1}, .data = a};
    fg_cache_input si[] = {{"x", &st}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", si, 1, NULL, 0, ""), FG_EUNSUPPORTED);
    assert_int_equal(fg_cache_key_make(&k, NULL, "1", in1, 2, NULL, 0, ""), FG_EINVAL);
    /* no inputs and empty tensors are fine */
    fg_tensor empty = {.dtype = FG_F32, .rank = 2, .dims = {0, 5}, .data = NULL};
    fg_cache_input ei[] = {{"e", &empty}};
    assert_int_equal(fg_cache_key_make(&k, "m", "1", NULL, 0, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&k2, "m", "1", ei, 1, NULL, 0, ""), 0);
    assert_false(key_eq(&k, &k2));
}

static void key_many_inputs(void **state) {
    (void)state;
    /* more inputs than the stack index array holds: the heap path sorts the same way */
    enum { N = 40 };
    float v[N];
    fg_tensor t[N];
    fg_cache_input a[N], b[N];
    char names[N][8];
    for (int i = 0; i < N; i++) {
        v[i] = (float)i;
        t[i] = (fg_tensor){.dtype = FG_F32, .rank = 1, .dims = {1}, .data = &v[i]};
        snprintf(names[i], sizeof names[i], "in%02d", i);
        a[i] = (fg_cache_input){names[i], &t[i]};
        b[N - 1 - i] = a[i];
    }
    fg_cache_key ka, kb;
    assert_int_equal(fg_cache_key_make(&ka, "m", "1", a, N, NULL, 0, ""), 0);
    assert_int_equal(fg_cache_key_make(&kb, "m", "1", b, N, NULL, 0, ""), 0);
    assert_true(key_eq(&ka, &kb));
}

/* ---------------------------------------------------------------------------------------------- */
/* values */

static uint8_t *sample_blob(size_t *len) {
    static float f[6] = {1.5f, -2, 3, 4, 5, 6};
    static int64_t i64[3] = {-1, 0, 1ll << 40};
    static uint8_t u8[5] = {1, 2, 3, 4, 5};
    static uint16_t h[1] = {0x3c00};
    fg_tensor outs[5] = {
        {.dtype = FG_F32, .rank = 2, .dims = {2, 3}, .data = f},
        {.dtype = FG_I64, .rank = 1, .dims = {3}, .data = i64},
        {.dtype = FG_U8, .rank = 3, .dims = {1, 5, 1}, .data = u8},
        {.dtype = FG_F16, .rank = 0, .data = h},
        {.dtype = FG_BOOL, .rank = 2, .dims = {0, 4}, .data = NULL},
    };
    const char *names[5] = {"probabilities", "label", "bytes", "scalar", ""};
    uint8_t *b = NULL;
    assert_int_equal(fg_cache_value_encode(names, outs, 5, &b, len), 0);
    return b;
}

static void value_roundtrip(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = sample_blob(&len);
    assert_int_equal(len % 8, 0);
    fg_cache_value v;
    assert_int_equal(fg_cache_value_decode(b, len, &v), 0);
    assert_int_equal(v.n, 5);
    assert_string_equal(v.names[0], "probabilities");
    assert_string_equal(v.names[1], "label");
    assert_string_equal(v.names[4], "");
    assert_int_equal(v.t[0].dtype, FG_F32);
    assert_int_equal(v.t[0].rank, 2);
    assert_int_equal(v.t[0].dims[0], 2);
    assert_int_equal(v.t[0].dims[1], 3);
    assert_true(((const float *)v.t[0].data)[0] == 1.5f);
    assert_true(((const float *)v.t[0].data)[5] == 6.0f);
    assert_int_equal(((const int64_t *)v.t[1].data)[2], 1ll << 40);
    assert_int_equal(((const uint8_t *)v.t[2].data)[4], 5);
    assert_int_equal(v.t[3].rank, 0);
    assert_int_equal(((const uint16_t *)v.t[3].data)[0], 0x3c00);
    assert_int_equal(v.t[4].dims[0], 0);
    for (size_t i = 0; i < v.n; i++) {
        assert_int_equal((uintptr_t)v.t[i].data % 8, 0); /* malloc'd blob: data aligned */
        assert_true((const uint8_t *)v.t[i].data >= b && (const uint8_t *)v.t[i].data <= b + len);
    }
    free(b);
    /* zero outputs */
    assert_int_equal(fg_cache_value_encode(NULL, NULL, 0, &b, &len), 0);
    assert_int_equal(fg_cache_value_decode(b, len, &v), 0);
    assert_int_equal(v.n, 0);
    free(b);
    /* encode errors */
    fg_tensor t = {.dtype = FG_STRING, .rank = 1, .dims = {1}, .data = &t};
    const char *nm[1] = {"s"};
    assert_int_equal(fg_cache_value_encode(nm, &t, 1, &b, &len), FG_EINVAL);
    fg_tensor many[17];
    const char *mn[17];
    for (int i = 0; i < 17; i++) {
        many[i] = (fg_tensor){.dtype = FG_U8, .rank = 0, .data = &t};
        mn[i] = "x";
    }
    assert_int_equal(fg_cache_value_encode(mn, many, 17, &b, &len), FG_EINVAL);
}

/* A decoded value must describe bytes inside the blob, with consistent sizes. */
static void check_consistent(const uint8_t *b, size_t len, const fg_cache_value *v) {
    assert_true(v->n <= FG_CACHE_MAX_OUTPUTS);
    for (size_t i = 0; i < v->n; i++) {
        const fg_tensor *t = &v->t[i];
        assert_true(t->rank >= 0 && t->rank <= FG_MAX_RANK);
        size_t es = fg_dtype_size(t->dtype);
        assert_true(es > 0);
        uint64_t n = es;
        for (int d = 0; d < t->rank; d++) {
            assert_true(t->dims[d] >= 0);
            n *= (uint64_t)t->dims[d];
        }
        const uint8_t *p = t->data;
        assert_true(p >= b && n <= (uint64_t)(b + len - p));
        volatile uint8_t sink = 0;
        for (uint64_t j = 0; j < n; j++) sink ^= p[j]; /* ASan checks every byte */
        const char *nm = v->names[i];
        assert_true((const uint8_t *)nm >= b && (const uint8_t *)nm < b + len);
        assert_non_null(memchr(nm, 0, (size_t)(b + len - (const uint8_t *)nm)));
    }
}

static void value_rejects_hostile(void **state) {
    (void)state;
    size_t len;
    uint8_t *good = sample_blob(&len);
    fg_cache_value v;
    /* every truncation, each in its own exact-size allocation so ASan catches any overread */
    for (size_t n = 0; n < len; n++) {
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, good, n);
        assert_int_equal(fg_cache_value_decode(t, n, &v), FG_EFORMAT);
        free(t);
    }
    /* trailing bytes */
    uint8_t *big = malloc(len + 8);
    memcpy(big, good, len);
    memset(big + len, 0, 8);
    assert_int_equal(fg_cache_value_decode(big, len + 8, &v), FG_EFORMAT);
    assert_int_equal(fg_cache_value_decode(big, len + 1, &v), FG_EFORMAT);
    free(big);
    uint8_t *w = malloc(len);
    /* wrong magic, version, count, reserved */
    size_t first = 16; /* first output header */
    struct { size_t off; uint8_t val; } edits[] = {
        {0, 'X'}, {4, 2}, {7, 1}, {8, 17}, {8, 4}, {8, 6}, {12, 1},
        {first + 8, 9},                    /* rank 9 */
        {first + 4, 8},                    /* dtype string */
        {first + 4, 0},                    /* undefined */
        {first + 4, 14},                   /* unknown dtype */
        {first + 5, 1},                    /* dtype 257 */
        {first + 12, 1},                   /* reserved */
        {first + 0, 200},                  /* name length past the blob */
        {first + 16 + 7, 0x80},            /* dims[0] negative */
        {first + 16, 3},                   /* dims[0] 3: byte count no longer matches */
        {first + 32, 25},                  /* byte count 25 != 24 */
        {first + 0, 12},                   /* name length 12: NUL not where it should be */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(w, good, len);
        w[edits[i].off] = edits[i].val;
        if (fg_cache_value_decode(w, len, &v) != FG_EFORMAT) fail_msg("edit %zu accepted", i);
    }
    /* huge dims whose product overflows but whose low bits would match */
    {
        float f = 1;
        fg_tensor t = {.dtype = FG_F32, .rank = 2, .dims = {1, 1}, .data = &f};
        const char *nm[1] = {"o"};
        uint8_t *b;
        size_t bl;
        assert_int_equal(fg_cache_value_encode(nm, &t, 1, &b, &bl), 0);
        assert_int_equal(fg_cache_value_decode(b, bl, &v), 0);
        /* dims = {2^62 + 1, 2^2}: product x 4 wraps to 4 * ... ; also {2^63-1, 2^63-1} */
        uint64_t d0 = (1ull << 62) + 1, d1 = 1ull << 62;
        for (int i = 0; i < 8; i++) {
            b[32 + i] = (uint8_t)(d0 >> (8 * i));
            b[40 + i] = (uint8_t)(d1 >> (8 * i));
        }
        assert_int_equal(fg_cache_value_decode(b, bl, &v), FG_EFORMAT);
        for (int i = 0; i < 8; i++) b[32 + i] = b[40 + i] = (uint8_t)(INT64_MAX >> (8 * i));
        assert_int_equal(fg_cache_value_decode(b, bl, &v), FG_EFORMAT);
        free(b);
    }
    {
        float f = 1;
        fg_tensor t = {.dtype = FG_F32, .rank = 0, .data = &f};
        const char *nm[1] = {"o"};
        uint8_t *b;
        size_t bl;
        assert_int_equal(fg_cache_value_encode(nm, &t, 1, &b, &bl), 0);
        /* header 16 + out hdr 16 + n_bytes 8 = 40: name "o\0" + 6 pad, then 4 data + 4 pad */
        assert_int_equal(bl, 16 + 16 + 8 + 8 + 8);
        b[40 + 3] = 1; /* name padding */
        assert_int_equal(fg_cache_value_decode(b, bl, &v), FG_EFORMAT);
        b[40 + 3] = 0;
        b[48 + 6] = 1; /* data padding */
        assert_int_equal(fg_cache_value_decode(b, bl, &v), FG_EFORMAT);
        b[48 + 6] = 0;
        assert_int_equal(fg_cache_value_decode(b, bl, &v), 0);
        free(b);
    }
    /* random bit flips: decode fails or yields something self-consistent */
    uint64_t st = 42;
    int ok = 0;
    for (int it = 0; it < 5000; it++) {
        memcpy(w, good, len);
        int flips = 1 + (int)(lcg(&st) % 4);
        for (int f = 0; f < flips; f++) {
            size_t bit = lcg(&st) % (len * 8);
            w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        if (fg_cache_value_decode(w, len, &v) == 0) {
            ok++;
            check_consistent(w, len, &v);
        }
        /* and the same flip on a random truncation */
        size_t n = lcg(&st) % (len + 1);
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, w, n);
        if (fg_cache_value_decode(t, n, &v) == 0) check_consistent(t, n, &v);
        free(t);
    }
    assert_true(ok > 0); /* flips inside tensor data keep the blob valid */
    free(w);
    free(good);
}

/* ---------------------------------------------------------------------------------------------- */
/* store */

static fg_cache *mk_cache(fg_cache_policy p, size_t entries_per_shard, size_t val_len) {
    fg_cache_config cc = {.max_bytes = 16 * entries_per_shard * fg_cache_charge(val_len), .policy = p};
    fg_err e = {0};
    fg_cache *c = fg_cache_new(&cc, &e);
    assert_non_null(c);
    return c;
}

static int present(fg_cache *c, const fg_cache_key *k) {
    const fg_cache_entry *e;
    int h = fg_cache_get(c, k, 0, 0, &e);
    if (h) fg_cache_entry_release(c, e);
    return h;
}

static void store_basic(void **state) {
    (void)state;
    fg_cache *c = mk_cache(FG_CACHE_SIEVE, 4, 32);
    fg_cache_key k = mk_key(1);
    const fg_cache_entry *e;
    assert_int_equal(fg_cache_get(c, &k, 3, 0, &e), 0);
    assert_null(e);
    char val[32] = "hello";
    assert_int_equal(fg_cache_put(c, &k, 3, 0, val, 32, 0), FG_CACHE_INSERTED);
    assert_int_equal(fg_cache_get(c, &k, 3, 0, &e), 1);
    const void *p;
    size_t n;
    fg_cache_entry_value(e, &p, &n);
    assert_int_equal(n, 32);
    assert_string_equal(p, "hello");
    assert_int_equal((uintptr_t)p % 16, 0);
    /* update while held: the reader keeps the old bytes */
    char val2[32] = "world";
    assert_int_equal(fg_cache_put(c, &k, 3, 0, val2, 32, 0), FG_CACHE_UPDATED);
    assert_string_equal(p, "hello");
    fg_cache_entry_release(c, e);
    assert_int_equal(fg_cache_get(c, &k, 3, 0, &e), 1);
    fg_cache_entry_value(e, &p, &n);
    assert_string_equal(p, "world");
    fg_cache_entry_release(c, e);
    /* too large: more than one shard's share */
    size_t big = 8 * fg_cache_charge(32);
    char *bv = calloc(1, big);
    assert_int_equal(fg_cache_put(c, &k, 3, 0, bv, big, 0), FG_CACHE_TOO_LARGE);
    free(bv);
    fg_cache_stats s;
    fg_cache_tag_stats(c, 3, &s);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.inserts, 1);
    assert_int_equal(s.updates, 1);
    assert_int_equal(s.too_large, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, fg_cache_charge(32));
    fg_cache_stats_get(c, &s);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, fg_cache_charge(32));
    assert_int_equal(s.hits, 2);
    fg_cache_tag_stats(c, 4, &s);
    assert_int_equal(s.hits + s.entries, 0);
    fg_cache_tag_stats(c, FG_CACHE_MAX_TAGS + 5, &s);
    assert_int_equal(s.entries, 0);
    /* config errors */
    fg_err er = {0};
    fg_cache_config bad = {.max_bytes = 0};
    assert_null(fg_cache_new(&bad, &er));
    bad = (fg_cache_config){.max_bytes = 1000, .n_shards = 3};
    assert_null(fg_cache_new(&bad, &er));
    fg_cache_free(c);
}

/* LRU evicts the least recently used; a get refreshes an entry. */
static void evict_lru(void **state) {
    (void)state;
    fg_cache *c = mk_cache(FG_CACHE_LRU, 3, 16);
    fg_cache_key k[5];
    char v[16] = {0};
    for (int i = 0; i < 5; i++) k[i] = mk_key_shard((uint64_t)i, 7);
    for (int i = 0; i < 3; i++) assert_int_equal(fg_cache_put(c, &k[i], 1, 0, v, 16, 0), FG_CACHE_INSERTED);
    assert_true(present(c, &k[0]));                /* k0 most recent: order k1, k2, k0 */
    fg_cache_put(c, &k[3], 1, 0, v, 16, 0);        /* evicts k1 */
    assert_false(present(c, &k[1]));
    assert_true(present(c, &k[2]));                /* order k0, k3, k2 */
    fg_cache_put(c, &k[4], 1, 0, v, 16, 0);        /* evicts k0 */
    assert_false(present(c, &k[0]));
    assert_true(present(c, &k[3]));
    assert_true(present(c, &k[4]));
    fg_cache_stats s;
    fg_cache_tag_stats(c, 1, &s);
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.entries, 3);
    assert_true(s.bytes <= 3 * fg_cache_charge(16));
    fg_cache_free(c);
}

/* SIEVE: visited entries survive the hand; new unvisited ones go first. */
static void evict_sieve(void **state) {
    (void)state;
    fg_cache *c = mk_cache(FG_CACHE_SIEVE, 3, 16);
    fg_cache_key k[6];
    char v[16] = {0};
    for (int i = 0; i < 6; i++) k[i] = mk_key_shard((uint64_t)i + 100, 2);
    for (int i = 0; i < 3; i++) fg_cache_put(c, &k[i], 1, 0, v, 16, 0); /* queue (old..new): 0 1 2 */
    assert_true(present(c, &k[0]));                                       /* visited: 0 */
    fg_cache_put(c, &k[3], 1, 0, v, 16, 0); /* hand at 0: visited, cleared; 1 evicted; hand -> 2 */
    assert_false(present(c, &k[1]));
    assert_true(present(c, &k[0]));         /* visited again: 0 */
    fg_cache_put(c, &k[4], 1, 0, v, 16, 0); /* hand at 2: unvisited, evicted; hand -> 3 */
    assert_false(present(c, &k[2]));
    fg_cache_put(c, &k[5], 1, 0, v, 16, 0); /* hand at 3: evicted */
    assert_false(present(c, &k[3]));
    assert_true(present(c, &k[0]));         /* the popular entry survived three insertions */
    assert_true(present(c, &k[4]));
    assert_true(present(c, &k[5]));
    /* a scan of one-off keys never displaces a repeatedly hit entry */
    for (int i = 0; i < 100; i++) {
        fg_cache_key x = mk_key_shard(1000 + (uint64_t)i, 2);
        fg_cache_put(c, &x, 1, 0, v, 16, 0);
        assert_true(present(c, &k[0]));
    }
    fg_cache_free(c);
}

static void byte_budget(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++) {
        fg_cache_config cc = {.max_bytes = 64 * 1024, .policy = (fg_cache_policy)p};
        fg_cache *c = fg_cache_new(&cc, NULL);
        uint64_t st = 7;
        for (int i = 0; i < 5000; i++) {
            fg_cache_key k = mk_key(lcg(&st) % 3000);
            size_t len = lcg(&st) % 1500;
            char buf[1500] = {0};
            int rc = fg_cache_put(c, &k, (uint32_t)(i % 3), 0, buf, len, 0);
            assert_true(rc == FG_CACHE_INSERTED || rc == FG_CACHE_UPDATED || rc == FG_CACHE_TOO_LARGE);
            if (i % 10 == 0) present(c, &k);
            fg_cache_stats s;
            fg_cache_stats_get(c, &s);
            assert_true(s.bytes <= cc.max_bytes);
        }
        fg_cache_stats s, t, sum = {0};
        fg_cache_stats_get(c, &s);
        for (uint32_t tg = 0; tg < 3; tg++) {
            fg_cache_tag_stats(c, tg, &t);
            sum.entries += t.entries;
            sum.bytes += t.bytes;
            assert_int_equal(t.entries, t.inserts - t.evictions - t.expiries - t.purged);
        }
        assert_int_equal(sum.entries, s.entries);
        assert_int_equal(sum.bytes, s.bytes);
        assert_true(s.evictions > 0);
        fg_cache_free(c);
    }
}

static void ttl_expiry(void **state) {
    (void)state;
    fg_cache_config cc = {.max_bytes = 1 << 20, .ttl_ms = 100};
    fg_cache *c = fg_cache_new(&cc, NULL);
    fg_cache_key k = mk_key(5);
    const fg_cache_entry *e;
    assert_int_equal(fg_cache_put(c, &k, 2, 1000, "v", 1, 0), FG_CACHE_INSERTED);
    assert_int_equal(fg_cache_get(c, &k, 2, 1099, &e), 1);
    fg_cache_entry_release(c, e);
    assert_int_equal(fg_cache_get(c, &k, 2, 1100, &e), 0);
    assert_null(e);
    fg_cache_stats s;
    fg_cache_tag_stats(c, 2, &s);
    assert_int_equal(s.expiries, 1);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    /* re-insert starts a new lifetime */
    assert_int_equal(fg_cache_put(c, &k, 2, 2000, "v", 1, 0), FG_CACHE_INSERTED);
    assert_int_equal(fg_cache_get(c, &k, 2, 2050, &e), 1);
    fg_cache_entry_release(c, e);
    fg_cache_free(c);
    /* ttl 0: never */
    cc.ttl_ms = 0;
    c = fg_cache_new(&cc, NULL);
    fg_cache_put(c, &k, 2, 0, "v", 1, 0);
    assert_int_equal(fg_cache_get(c, &k, 2, UINT64_MAX - 1, &e), 1);
    fg_cache_entry_release(c, e);
    fg_cache_free(c);
}

static void admission(void **state) {
    (void)state;
    fg_cache_config cc = {.max_bytes = 1 << 20, .admission = FG_CACHE_ADMIT_SECOND_HIT,
                          .doorkeeper_window_ms = 1000};
    fg_cache *c = fg_cache_new(&cc, NULL);
    fg_cache_key k = mk_key(9), k2 = mk_key(10);
    assert_int_equal(fg_cache_put(c, &k, 1, 0, "v", 1, 0), FG_CACHE_REJECTED);
    assert_false(present(c, &k));
    assert_int_equal(fg_cache_put(c, &k, 1, 10, "v", 1, 0), FG_CACHE_INSERTED);
    assert_true(present(c, &k));
    assert_int_equal(fg_cache_put(c, &k, 1, 20, "w", 1, 0), FG_CACHE_UPDATED); /* cached: no filter */
    /* second attempt after the window: the filter was cleared, so it counts as a first one again */
    assert_int_equal(fg_cache_put(c, &k2, 1, 30, "v", 1, 0), FG_CACHE_REJECTED);
    assert_int_equal(fg_cache_put(c, &k2, 1, 2000, "v", 1, 0), FG_CACHE_REJECTED);
    assert_int_equal(fg_cache_put(c, &k2, 1, 2001, "v", 1, 0), FG_CACHE_INSERTED);
    fg_cache_stats s;
    fg_cache_tag_stats(c, 1, &s);
    assert_int_equal(s.rejects, 3);
    assert_int_equal(s.inserts, 2);
    /* bounded filter: a flood of one-off keys is rejected, with few false admissions */
    int admitted = 0;
    for (int i = 0; i < 20000; i++) {
        fg_cache_key x = mk_key(100000 + (uint64_t)i);
        if (fg_cache_put(c, &x, 1, 2002, "v", 1, 0) == FG_CACHE_INSERTED) admitted++;
    }
    assert_true(admitted < 20000 / 10);
    fg_cache_free(c);

    fg_cache_config mc = {.max_bytes = 1 << 20, .min_compute_us = 500};
    c = fg_cache_new(&mc, NULL);
    assert_int_equal(fg_cache_put(c, &k, 1, 0, "v", 1, 499), FG_CACHE_REJECTED);
    assert_false(present(c, &k));
    assert_int_equal(fg_cache_put(c, &k, 1, 0, "v", 1, 500), FG_CACHE_INSERTED);
    assert_true(present(c, &k));
    fg_cache_tag_stats(c, 1, &s);
    assert_int_equal(s.rejects, 1);
    fg_cache_free(c);
}

static void purge_tag(void **state) {
    (void)state;
    fg_cache_config cc = {.max_bytes = 1 << 20};
    fg_cache *c = fg_cache_new(&cc, NULL);
    for (int i = 0; i < 300; i++) {
        fg_cache_key k = mk_key((uint64_t)i);
        assert_int_equal(fg_cache_put(c, &k, (uint32_t)(i % 3), 0, "abc", 3, 0), FG_CACHE_INSERTED);
    }
    fg_cache_key k1 = mk_key(1);
    const fg_cache_entry *held;
    assert_int_equal(fg_cache_get(c, &k1, 1, 0, &held), 1);
    assert_int_equal(fg_cache_purge_tag(c, 1), 100);
    const void *p;
    size_t n;
    fg_cache_entry_value(held, &p, &n); /* still valid after purge */
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    fg_cache_entry_release(c, held);
    for (int i = 0; i < 300; i++) {
        fg_cache_key k = mk_key((uint64_t)i);
        assert_int_equal(present(c, &k), i % 3 != 1);
    }
    fg_cache_stats s;
    fg_cache_tag_stats(c, 1, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.purged, 100);
    fg_cache_tag_stats(c, 0, &s);
    assert_int_equal(s.entries, 100);
    fg_cache_stats_get(c, &s);
    assert_int_equal(s.entries, 200);
    assert_int_equal(fg_cache_purge_tag(c, 1), 0);
    fg_cache_free(c);
}

static void refcount_survives_eviction(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++) {
        fg_cache *c = mk_cache((fg_cache_policy)p, 2, 64);
        fg_cache_key k = mk_key_shard(1, 5);
        char v[64];
        memset(v, 0xab, sizeof v);
        fg_cache_put(c, &k, 0, 0, v, 64, 0);
        const fg_cache_entry *e;
        assert_int_equal(fg_cache_get(c, &k, 0, 0, &e), 1);
        for (int i = 0; i < 10; i++) { /* flood the shard: k is evicted */
            fg_cache_key x = mk_key_shard(50 + (uint64_t)i, 5);
            char w[64] = {0};
            fg_cache_put(c, &x, 0, 0, w, 64, 0);
        }
        assert_false(present(c, &k));
        const void *ptr;
        size_t n;
        fg_cache_entry_value(e, &ptr, &n);
        assert_int_equal(n, 64);
        assert_memory_equal(ptr, v, 64); /* ASan would flag a freed entry */
        fg_cache_entry_release(c, e);
        fg_cache_free(c);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* concurrency */

typedef struct thr {
    fg_cache *c;
    int id;
    uint64_t gets, hits, puts;
    _Atomic int *stop;
    _Atomic int *bad; /* cmocka's asserts must not run off the main thread */
} thr;

static void *worker(void *arg) {
    thr *t = arg;
    uint64_t st = (uint64_t)t->id * 977 + 1;
    uint64_t now = 0;
    while (!atomic_load(t->stop)) {
        for (int i = 0; i < 256; i++) {
            uint64_t r = lcg(&st);
            fg_cache_key k = mk_key(r % 2000);
            uint32_t tag = (uint32_t)(r % 2000 % 4);
            unsigned op = (unsigned)((r >> 20) % 100);
            now++;
            if (op < 70) {
                const fg_cache_entry *e;
                t->gets++;
                if (fg_cache_get(t->c, &k, tag, now, &e)) {
                    t->hits++;
                    const void *p;
                    size_t n;
                    fg_cache_entry_value(e, &p, &n);
                    /* value = key id repeated: a torn or freed value shows up here */
                    const uint64_t *w = p;
                    for (size_t j = 0; j < n / 8; j++)
                        if (w[j] != r % 2000) atomic_fetch_add(t->bad, 1);
                    fg_cache_entry_release(t->c, e);
                }
            } else if (op < 99) {
                uint64_t val[64];
                size_t n = 1 + (r >> 30) % 64;
                for (size_t j = 0; j < n; j++) val[j] = r % 2000;
                t->puts++;
                fg_cache_put(t->c, &k, tag, now, val, n * 8, (r >> 40) % 100);
            } else if ((r >> 36) % 50 == 0) {
                fg_cache_purge_tag(t->c, tag);
            }
        }
    }
    return NULL;
}

static void concurrent(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++) {
        fg_cache_config cc = {.max_bytes = 128 * 1024, .policy = (fg_cache_policy)p, .ttl_ms = 5000,
                              .min_compute_us = 5,
                              .admission = p ? FG_CACHE_ADMIT_ALL : FG_CACHE_ADMIT_SECOND_HIT};
        fg_cache *c = fg_cache_new(&cc, NULL);
        _Atomic int stop = 0, bad = 0;
        thr t[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            t[i] = (thr){.c = c, .id = i + 10 * p, .stop = &stop, .bad = &bad};
            assert_int_equal(pthread_create(&th[i], NULL, worker, &t[i]), 0);
        }
        uint64_t t0 = fg_now_ns();
        while (fg_now_ns() - t0 < 500000000ull) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        atomic_store(&stop, 1);
        uint64_t gets = 0, hits = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            gets += t[i].gets;
            hits += t[i].hits;
        }
        assert_int_equal(atomic_load(&bad), 0);
        fg_cache_stats s, tg, sum = {0};
        fg_cache_stats_get(c, &s);
        for (uint32_t i = 0; i < 4; i++) {
            fg_cache_tag_stats(c, i, &tg);
            assert_int_equal(tg.entries, tg.inserts - tg.evictions - tg.expiries - tg.purged);
            sum.hits += tg.hits;
            sum.misses += tg.misses;
            sum.entries += tg.entries;
            sum.bytes += tg.bytes;
            sum.inserts += tg.inserts;
            sum.evictions += tg.evictions;
        }
        assert_int_equal(s.hits, hits);
        assert_int_equal(sum.hits, hits);
        assert_int_equal(s.hits + s.misses, gets);
        assert_int_equal(sum.misses, s.misses);
        assert_int_equal(sum.entries, s.entries);
        assert_int_equal(sum.bytes, s.bytes);
        assert_int_equal(s.entries, s.inserts - s.evictions - s.expiries - s.purged);
        assert_true(s.bytes <= cc.max_bytes);
        assert_true(hits > 0);
        /* walk: every cached key is found, and the count matches */
        size_t found = 0;
        for (uint64_t id = 0; id < 2000; id++) {
            fg_cache_key k = mk_key(id);
            const fg_cache_entry *e;
            if (fg_cache_get(c, &k, 0, 0, &e)) {
                found++;
                fg_cache_entry_release(c, e);
            }
        }
        assert_int_equal(found, s.entries);
        fg_cache_free(c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_canonical),
        cmocka_unit_test(key_many_inputs),
        cmocka_unit_test(value_roundtrip),
        cmocka_unit_test(value_rejects_hostile),
        cmocka_unit_test(store_basic),
        cmocka_unit_test(evict_lru),
        cmocka_unit_test(evict_sieve),
        cmocka_unit_test(byte_budget),
        cmocka_unit_test(ttl_expiry),
        cmocka_unit_test(admission),
        cmocka_unit_test(purge_tag),
        cmocka_unit_test(refcount_survives_eviction),
        cmocka_unit_test(concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
