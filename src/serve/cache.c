/* cache.c - response cache: canonical keys, value blobs and the sharded store, see cache.h. */
#include "serve/cache.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---------------------------------------------------------------------------------------------- */
/* Little-endian helpers: the key stream and blob headers must not depend on the host. */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Byte size of a dense tensor, or -1 when it is malformed (unknown or string dtype, bad rank, negative
 * dim, overflow). Shared by key making and encoding so both accept exactly the same tensors. */
static int tensor_bytes(const fg_tensor *t, uint64_t *out) {
    if (!t || t->rank < 0 || t->rank > FG_MAX_RANK) return -1;
    uint64_t es = fg_dtype_size(t->dtype);
    if (es == 0) return -1;
    uint64_t n = es;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) return -1;
        uint64_t d = (uint64_t)t->dims[i];
        if (d != 0 && n > (uint64_t)INT64_MAX / d) return -1;
        n *= d;
    }
    if (n > (uint64_t)SIZE_MAX / 2) return -1;
    if (n > 0 && !t->data) return -1;
    *out = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Keys */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_fetched;
static pthread_key_t ctx_key;
static int ctx_key_ok;

static void ctx_free(void *p) { EVP_MD_CTX_free(p); }

/* OpenSSL 3 looks the provider up on every EVP_sha256() init and allocates a context per digest;
 * fetching once and keeping one context per thread halves the cost of a small key. */
static void md_init(void) {
    md_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

/* The calling thread's digest context (freed at thread exit), or a new one that *own says to free. */
static EVP_MD_CTX *ctx_get(int *own) {
    pthread_once(&md_once, md_init);
    *own = 0;
    EVP_MD_CTX *ctx = ctx_key_ok ? pthread_getspecific(ctx_key) : NULL;
    if (ctx) return ctx;
    ctx = EVP_MD_CTX_new();
    if (ctx && (!ctx_key_ok || pthread_setspecific(ctx_key, ctx) != 0)) *own = 1;
    return ctx;
}

/* A small buffer in front of the digest: many tiny fields, few EVP calls. */
typedef struct kbuf {
    EVP_MD_CTX *ctx;
    size_t n;
    int err;
    uint8_t b[256];
} kbuf;

static void kb_flush(kbuf *k) {
    if (k->n && !EVP_DigestUpdate(k->ctx, k->b, k->n)) k->err = 1;
    k->n = 0;
}
static void kb_bytes(kbuf *k, const void *p, size_t n) {
    if (n == 0) return; /* p may be NULL */
    if (n > sizeof k->b - k->n) {
        kb_flush(k);
        if (n >= sizeof k->b) {
            if (!EVP_DigestUpdate(k->ctx, p, n)) k->err = 1;
            return;
        }
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}
static void kb_u64(kbuf *k, uint64_t v) {
    uint8_t b[8];
    put_u64(b, v);
    kb_bytes(k, b, 8);
}
static void kb_str(kbuf *k, const char *s) {
    size_t n = s ? strlen(s) : 0;
    kb_u64(k, n);
    kb_bytes(k, s, n);
}

/* Sorts idx[0..n) by names[idx[i]]; insertion sort: n is a handful of inputs or outputs. */
static void sort_idx(size_t *idx, size_t n, const char *(*name)(const void *, size_t), const void *arr) {
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && strcmp(name(arr, idx[j - 1]), name(arr, v)) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}
static const char *in_name(const void *a, size_t i) { return ((const fg_cache_input *)a)[i].name; }
static const char *out_name(const void *a, size_t i) { return ((const char *const *)a)[i]; }

int fg_cache_key_make(fg_cache_key *key, const char *model, const char *version, const fg_cache_input *ins,
                      size_t n_in, const char *const *outputs, size_t n_out, const char *params) {
    if (!key || !model || !version || (n_in && !ins) || (n_out && !outputs)) return FG_EINVAL;
    if (n_in > SIZE_MAX / 2 / sizeof(size_t) || n_out > SIZE_MAX / 2 / sizeof(size_t)) return FG_EINVAL;
    for (size_t i = 0; i < n_in; i++) {
        uint64_t nb;
        if (!ins[i].name) return FG_EINVAL;
        if (ins[i].t && ins[i].t->dtype == FG_STRING) return FG_EUNSUPPORTED;
        if (tensor_bytes(ins[i].t, &nb) < 0) return FG_EINVAL;
    }
    for (size_t i = 0; i < n_out; i++)
        if (!outputs[i]) return FG_EINVAL;

    size_t stack_idx[32];
    size_t need = n_in + n_out;
    size_t *idx = need <= 32 ? stack_idx : malloc(need * sizeof *idx);
    if (!idx) return FG_ENOMEM;
    size_t *ii = idx, *oi = idx + n_in;
    for (size_t i = 0; i < n_in; i++) ii[i] = i;
    for (size_t i = 0; i < n_out; i++) oi[i] = i;
    sort_idx(ii, n_in, in_name, ins);
    sort_idx(oi, n_out, out_name, outputs);
    int rc = 0;
    for (size_t i = 1; i < n_in; i++)
        if (strcmp(ins[ii[i - 1]].name, ins[ii[i]].name) == 0) rc = FG_EINVAL; /* ambiguous request */
    /* Requested outputs are a set: duplicates collapse. */
    size_t n_uniq = 0;
    for (size_t i = 0; i < n_out; i++)
        if (n_uniq == 0 || strcmp(outputs[oi[n_uniq - 1]], outputs[oi[i]]) != 0) oi[n_uniq++] = oi[i];

    kbuf kb = {.ctx = NULL};
    int own = 0;
    if (rc == 0) {
        kb.ctx = ctx_get(&own);
        if (!kb.ctx || !EVP_DigestInit_ex(kb.ctx, md_fetched ? md_fetched : EVP_sha256(), NULL))
            rc = FG_EINTERNAL;
    }
    if (rc == 0) {
        /* Domain string first: a future encoding change must not collide with this one. */
        kb_str(&kb, "frugal-cache-key/1");
        kb_str(&kb, model);
        kb_str(&kb, version);
        kb_u64(&kb, n_in);
        for (size_t i = 0; i < n_in; i++) {
            const fg_cache_input *in = &ins[ii[i]];
            uint64_t nb = 0;
            tensor_bytes(in->t, &nb);
            kb_str(&kb, in->name);
            kb_u64(&kb, (uint64_t)in->t->dtype);
            kb_u64(&kb, (uint64_t)in->t->rank);
            for (int d = 0; d < in->t->rank; d++) kb_u64(&kb, (uint64_t)in->t->dims[d]);
            kb_u64(&kb, nb);
            kb_bytes(&kb, in->t->data, (size_t)nb);
        }
        /* 0 = all outputs; 1 + count + names = that set (an empty set cannot be asked for). */
        if (n_uniq == 0) {
            kb_u64(&kb, 0);
        } else {
            kb_u64(&kb, 1);
            kb_u64(&kb, n_uniq);
            for (size_t i = 0; i < n_uniq; i++) kb_str(&kb, outputs[oi[i]]);
        }
        kb_str(&kb, params);
        kb_flush(&kb);
        unsigned int dl = 0;
        if (kb.err || !EVP_DigestFinal_ex(kb.ctx, key->b, &dl) || dl != 32) rc = FG_EINTERNAL;
    }
    if (own) EVP_MD_CTX_free(kb.ctx);
    if (idx != stack_idx) free(idx);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
/* Values */

#define VAL_MAGIC "FGCV"
#define VAL_HDR 16
#define OUT_HDR 16

static uint64_t pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

int fg_cache_value_encode(const char *const *names, const fg_tensor *outs, size_t n, uint8_t **buf,
                          size_t *len) {
    if (!buf || !len || n > FG_CACHE_MAX_OUTPUTS || (n && (!names || !outs))) return FG_EINVAL;
    *buf = NULL;
    *len = 0;
    uint64_t total = VAL_HDR;
    uint64_t nbytes[FG_CACHE_MAX_OUTPUTS];
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || strlen(names[i]) > UINT32_MAX - 8) return FG_EINVAL;
        if (tensor_bytes(&outs[i], &nbytes[i]) < 0) return FG_EINVAL;
        uint64_t part = OUT_HDR + 8 * (uint64_t)outs[i].rank + 8 + pad8(strlen(names[i]) + 1) + pad8(nbytes[i]);
        if (total > SIZE_MAX / 2 - part) return FG_EINVAL;
        total += part;
    }
    uint8_t *b = calloc(1, (size_t)total); /* zeroed: padding and reserved fields must be 0 */
    if (!b) return FG_ENOMEM;
    memcpy(b, VAL_MAGIC, 4);
    put_u32(b + 4, FG_CACHE_VALUE_VERSION);
    put_u32(b + 8, (uint32_t)n);
    size_t off = VAL_HDR;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        put_u32(b + off, (uint32_t)nl);
        put_u32(b + off + 4, (uint32_t)outs[i].dtype);
        put_u32(b + off + 8, (uint32_t)outs[i].rank);
        off += OUT_HDR;
        for (int d = 0; d < outs[i].rank; d++, off += 8) put_u64(b + off, (uint64_t)outs[i].dims[d]);
        put_u64(b + off, nbytes[i]);
        off += 8;
        memcpy(b + off, names[i], nl);
        off += (size_t)pad8(nl + 1);
        if (nbytes[i]) memcpy(b + off, outs[i].data, (size_t)nbytes[i]);
        off += (size_t)pad8(nbytes[i]);
    }
    *buf = b;
    *len = (size_t)total;
    return 0;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int fg_cache_value_decode(const uint8_t *buf, size_t len, fg_cache_value *v) {
    if (!v) return FG_EINVAL;
    v->n = 0;
    if (!buf || len < VAL_HDR || memcmp(buf, VAL_MAGIC, 4) != 0) return FG_EFORMAT;
    if (get_u32(buf + 4) != FG_CACHE_VALUE_VERSION || get_u32(buf + 12) != 0) return FG_EFORMAT;
    uint32_t n = get_u32(buf + 8);
    if (n > FG_CACHE_MAX_OUTPUTS) return FG_EFORMAT;
    size_t off = VAL_HDR; /* invariant: off <= len, so len - off never wraps */
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < OUT_HDR) return FG_EFORMAT;
        uint32_t nl = get_u32(buf + off), dt = get_u32(buf + off + 4), rank = get_u32(buf + off + 8);
        if (get_u32(buf + off + 12) != 0 || rank > FG_MAX_RANK) return FG_EFORMAT;
        fg_tensor *t = &v->t[i];
        memset(t, 0, sizeof *t);
        t->dtype = (fg_dtype)dt;
        t->rank = (int)rank;
        if (dt == FG_STRING || dt > 0xffff || fg_dtype_size((fg_dtype)dt) == 0) return FG_EFORMAT;
        off += OUT_HDR;
        if (len - off < 8 * (size_t)rank + 8) return FG_EFORMAT;
        for (uint32_t d = 0; d < rank; d++, off += 8) {
            uint64_t x = get_u64(buf + off);
            if (x > (uint64_t)INT64_MAX) return FG_EFORMAT;
            t->dims[d] = (int64_t)x;
        }
        uint64_t nb = get_u64(buf + off), want;
        off += 8;
        t->data = (void *)(uintptr_t)1; /* tensor_bytes wants data for non-empty tensors; set below */
        if (tensor_bytes(t, &want) < 0 || want != nb) return FG_EFORMAT;
        /* name: nl bytes without NUL, then NUL, then zero padding */
        uint64_t name_sp = pad8((uint64_t)nl + 1);
        if (len - off < name_sp) return FG_EFORMAT;
        const uint8_t *nm = buf + off;
        if (memchr(nm, 0, nl) != NULL || !all_zero(nm + nl, (size_t)(name_sp - nl))) return FG_EFORMAT;
        v->names[i] = (const char *)nm;
        off += (size_t)name_sp;
        uint64_t data_sp = pad8(nb);
        if (data_sp < nb || len - off < data_sp) return FG_EFORMAT;
        t->data = (void *)(uintptr_t)(buf + off); /* read-only view into buf */
        if (!all_zero(buf + off + nb, (size_t)(data_sp - nb))) return FG_EFORMAT;
        off += (size_t)data_sp;
        v->n = i + 1;
    }
    if (off != len) return FG_EFORMAT;
    v->n = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Store */

struct fg_cache_entry {
    fg_cache_key key;
    struct fg_cache_entry *hnext;       /* hash chain */
    struct fg_cache_entry *prev, *next; /* policy list: head = newest (LRU: most recent) */
    _Atomic uint32_t refs;              /* 1 for the cache while linked, +1 per reader */
    uint32_t tag;
    uint64_t expire_ms;                 /* UINT64_MAX = never */
    size_t len, charge;
    uint8_t visited;                    /* SIEVE */
    _Alignas(16) uint8_t val[];
};

typedef struct tag_ctr {
    _Alignas(64) _Atomic uint64_t hits, misses, inserts, updates, evictions, expiries, purged, rejects,
        too_large, bytes, entries;
} tag_ctr;

typedef struct shard {
    _Alignas(64) pthread_mutex_t mu;
    fg_cache_entry **tab;
    size_t mask;              /* table size - 1 */
    fg_cache_entry *head, *tail, *hand;
    size_t bytes, max_bytes, count;
    fg_cache_stats st;        /* totals of this shard (bytes/entries unused: see bytes, count) */
    /* doorkeeper */
    _Atomic uint64_t *dk;     /* dk_bits / 64 words */
    size_t dk_bits;           /* power of two */
    size_t dk_adds;
    uint64_t dk_reset_ms;
} shard;

struct fg_cache {
    fg_cache_config cfg;
    unsigned n_shards;
    shard *shards;
    tag_ctr *tags; /* FG_CACHE_MAX_TAGS */
};

size_t fg_cache_charge(size_t len) {
    /* entry header + value + one hash slot; SIZE_MAX when it cannot be represented */
    size_t head = sizeof(fg_cache_entry) + sizeof(fg_cache_entry *);
    if (len > SIZE_MAX - head - 15) return SIZE_MAX;
    return head + ((len + 15) & ~(size_t)15);
}

const char *fg_cache_policy_name(fg_cache_policy p) {
    switch (p) {
    case FG_CACHE_SIEVE: return "sieve";
    case FG_CACHE_LRU: return "lru";
    }
    return "?";
}

static uint64_t key_hash(const fg_cache_key *k) {
    uint64_t h;
    memcpy(&h, k->b, 8); /* SHA-256 output: any 8 bytes are uniformly distributed */
    return h;
}

static shard *shard_of(fg_cache *c, const fg_cache_key *k) {
    return &c->shards[k->b[31] & (c->n_shards - 1)]; /* byte 31: independent of the bucket bits */
}

static tag_ctr *tag_of(fg_cache *c, uint32_t tag) { return tag < FG_CACHE_MAX_TAGS ? &c->tags[tag] : NULL; }

#define TAG_ADD(c, tag, field, v)                                                                   \
    do {                                                                                            \
        tag_ctr *t_ = tag_of((c), (tag));                                                          \
        if (t_) atomic_fetch_add_explicit(&t_->field, (uint64_t)(v), memory_order_relaxed);          \
    } while (0)

fg_cache *fg_cache_new(const fg_cache_config *cfg, fg_err *e) {
    if (!cfg) {
        fg_err_set(e, FG_EINVAL, "cache: no config");
        return NULL;
    }
    unsigned ns = cfg->n_shards ? cfg->n_shards : FG_CACHE_DEFAULT_SHARDS;
    if (ns > FG_CACHE_MAX_SHARDS || (ns & (ns - 1)) != 0) {
        fg_err_set(e, FG_EINVAL, "cache: n_shards %u is not a power of two <= %d", cfg->n_shards,
                   FG_CACHE_MAX_SHARDS);
        return NULL;
    }
    if (cfg->max_bytes == 0) {
        fg_err_set(e, FG_EINVAL, "cache: max_bytes is 0");
        return NULL;
    }
    if (cfg->policy != FG_CACHE_SIEVE && cfg->policy != FG_CACHE_LRU) {
        fg_err_set(e, FG_EINVAL, "cache: unknown policy %d", (int)cfg->policy);
        return NULL;
    }
    if (cfg->admission != FG_CACHE_ADMIT_ALL && cfg->admission != FG_CACHE_ADMIT_SECOND_HIT) {
        fg_err_set(e, FG_EINVAL, "cache: unknown admission %d", (int)cfg->admission);
        return NULL;
    }
    fg_cache *c = fg_xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    if (!c->cfg.doorkeeper_bits) c->cfg.doorkeeper_bits = (size_t)1 << 20;
    if (!c->cfg.doorkeeper_window_ms) c->cfg.doorkeeper_window_ms = 60000;
    c->n_shards = ns;
    c->shards = fg_aligned_alloc(ns * sizeof(shard));
    if (!c->shards) abort();
    memset(c->shards, 0, ns * sizeof(shard));
    c->tags = fg_aligned_alloc(FG_CACHE_MAX_TAGS * sizeof(tag_ctr));
    if (!c->tags) abort();
    memset(c->tags, 0, FG_CACHE_MAX_TAGS * sizeof(tag_ctr)); /* all-zero atomics are valid zeros */
    size_t dk_bits = 512;
    while (dk_bits < c->cfg.doorkeeper_bits / ns && dk_bits < ((size_t)1 << 30)) dk_bits <<= 1;
    for (unsigned i = 0; i < ns; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->mask = 63;
        s->tab = fg_xcalloc(s->mask + 1, sizeof *s->tab);
        s->max_bytes = cfg->max_bytes / ns;
        if (cfg->admission == FG_CACHE_ADMIT_SECOND_HIT) {
            s->dk_bits = dk_bits;
            s->dk = fg_xcalloc(dk_bits / 64, sizeof *s->dk);
        }
    }
    return c;
}

static void entry_unref(fg_cache_entry *en) {
    if (atomic_fetch_sub_explicit(&en->refs, 1, memory_order_acq_rel) == 1) free(en);
}

void fg_cache_free(fg_cache *c) {
    if (!c) return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *s = &c->shards[i];
        for (fg_cache_entry *en = s->head, *nx; en; en = nx) {
            nx = en->next;
            entry_unref(en);
        }
        free(s->tab);
        free((void *)s->dk);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c->tags);
    free(c);
}

/* Hash table and list primitives; the shard lock is held. */

static fg_cache_entry **tab_slot(shard *s, const fg_cache_key *k) {
    fg_cache_entry **pp = &s->tab[key_hash(k) & s->mask];
    while (*pp && memcmp((*pp)->key.b, k->b, 32) != 0) pp = &(*pp)->hnext;
    return pp;
}

static void tab_grow(shard *s) {
    size_t nm = s->mask * 2 + 1;
    fg_cache_entry **nt = calloc(nm + 1, sizeof *nt);
    if (!nt) return; /* longer chains, still correct */
    for (size_t i = 0; i <= s->mask; i++) {
        for (fg_cache_entry *en = s->tab[i], *nx; en; en = nx) {
            nx = en->hnext;
            fg_cache_entry **b = &nt[key_hash(&en->key) & nm];
            en->hnext = *b;
            *b = en;
        }
    }
    free(s->tab);
    s->tab = nt;
    s->mask = nm;
}

static void list_push_head(shard *s, fg_cache_entry *en) {
    en->prev = NULL;
    en->next = s->head;
    if (s->head) s->head->prev = en;
    s->head = en;
    if (!s->tail) s->tail = en;
}

static void list_remove(shard *s, fg_cache_entry *en) {
    if (s->hand == en) s->hand = en->prev; /* the sweep continues towards newer entries */
    if (en->prev) en->prev->next = en->next;
    else s->head = en->next;
    if (en->next) en->next->prev = en->prev;
    else s->tail = en->prev;
    en->prev = en->next = NULL;
}

/* Unlinks en from table and list and accounts for it; the cache's reference goes to *dead (a list
 * through hnext) so that the free happens after the lock is dropped. */
static void shard_remove(fg_cache *c, shard *s, fg_cache_entry **slot, fg_cache_entry *en,
                         fg_cache_entry **dead) {
    *slot = en->hnext;
    list_remove(s, en);
    s->bytes -= en->charge;
    s->count--;
    TAG_ADD(c, en->tag, bytes, -(uint64_t)en->charge);
    TAG_ADD(c, en->tag, entries, -(uint64_t)1);
    en->hnext = *dead;
    *dead = en;
}

static void free_dead(fg_cache_entry *dead) {
    while (dead) {
        fg_cache_entry *nx = dead->hnext;
        entry_unref(dead);
        dead = nx;
    }
}

/* The policy's victim; the shard is not empty. */
static fg_cache_entry *pick_victim(fg_cache *c, shard *s) {
    if (c->cfg.policy == FG_CACHE_LRU) return s->tail;
    fg_cache_entry *h = s->hand ? s->hand : s->tail;
    while (h->visited) {
        h->visited = 0;
        h = h->prev ? h->prev : s->tail;
    }
    s->hand = h; /* removing the victim moves the hand on to the next newer entry */
    return h;
}

int fg_cache_get(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, const fg_cache_entry **out) {
    if (out) *out = NULL;
    if (!c || !k || !out) return 0;
    shard *s = shard_of(c, k);
    fg_cache_entry *dead = NULL;
    int hit = 0;
    pthread_mutex_lock(&s->mu);
    fg_cache_entry **slot = tab_slot(s, k), *en = *slot;
    if (en && now_ms >= en->expire_ms) {
        s->st.expiries++;
        TAG_ADD(c, en->tag, expiries, 1);
        shard_remove(c, s, slot, en, &dead);
        en = NULL;
    }
    if (en) {
        if (c->cfg.policy == FG_CACHE_LRU) {
            if (s->head != en) {
                list_remove(s, en);
                list_push_head(s, en);
            }
        } else {
            en->visited = 1;
        }
        atomic_fetch_add_explicit(&en->refs, 1, memory_order_relaxed);
        s->st.hits++;
        hit = 1;
        *out = en;
    } else {
        s->st.misses++;
    }
    pthread_mutex_unlock(&s->mu);
    free_dead(dead);
    if (hit) TAG_ADD(c, tag, hits, 1);
    else TAG_ADD(c, tag, misses, 1);
    return hit;
}

void fg_cache_entry_value(const fg_cache_entry *e, const void **ptr, size_t *len) {
    *ptr = e->val;
    *len = e->len;
}

void fg_cache_entry_release(fg_cache *c, const fg_cache_entry *e) {
    (void)c; /* the entry carries its own count: a reader may outlive the entry's place in the cache */
    if (e) entry_unref((fg_cache_entry *)(uintptr_t)e);
}

/* Second-hit doorkeeper, shard lock held: returns 1 if k was seen since the last clear, else records
 * it and returns 0. */
static int doorkeeper_admit(fg_cache *c, shard *s, const fg_cache_key *k, uint64_t now_ms) {
    if (now_ms - s->dk_reset_ms >= c->cfg.doorkeeper_window_ms || now_ms < s->dk_reset_ms ||
        s->dk_adds >= s->dk_bits / 8) {
        for (size_t i = 0; i < s->dk_bits / 64; i++) atomic_store_explicit(&s->dk[i], 0, memory_order_relaxed);
        s->dk_adds = 0;
        s->dk_reset_ms = now_ms;
    }
    uint64_t h1, h2;
    memcpy(&h1, k->b + 8, 8);
    memcpy(&h2, k->b + 16, 8);
    size_t b1 = h1 & (s->dk_bits - 1), b2 = h2 & (s->dk_bits - 1);
    uint64_t m1 = 1ull << (b1 & 63), m2 = 1ull << (b2 & 63);
    uint64_t w1 = atomic_load_explicit(&s->dk[b1 / 64], memory_order_relaxed);
    uint64_t w2 = atomic_load_explicit(&s->dk[b2 / 64], memory_order_relaxed);
    if ((w1 & m1) && (w2 & m2)) return 1;
    atomic_fetch_or_explicit(&s->dk[b1 / 64], m1, memory_order_relaxed);
    atomic_fetch_or_explicit(&s->dk[b2 / 64], m2, memory_order_relaxed);
    s->dk_adds++;
    return 0;
}

/* The admission decision for k (counting a reject), made before any value is copied or even built, so a
 * one-off key costs no allocation. */
static int admit(fg_cache *c, shard *s, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, uint64_t compute_us) {
    int reject = compute_us < c->cfg.min_compute_us;
    pthread_mutex_lock(&s->mu);
    if (!reject && c->cfg.admission == FG_CACHE_ADMIT_SECOND_HIT)
        reject = !*tab_slot(s, k) && !doorkeeper_admit(c, s, k, now_ms);
    if (reject)
        s->st.rejects++;
    pthread_mutex_unlock(&s->mu);
    if (reject)
        TAG_ADD(c, tag, rejects, 1);
    return !reject;
}

int fg_cache_admit(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, uint64_t compute_us) {
    if (!c || !k)
        return 0;
    if (compute_us >= c->cfg.min_compute_us && c->cfg.admission == FG_CACHE_ADMIT_ALL)
        return 1;
    return admit(c, shard_of(c, k), k, tag, now_ms, compute_us);
}

int fg_cache_put(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, const void *val,
                 size_t len, uint64_t compute_us) {
    if (!c || !k || (len && !val)) return FG_EINVAL;
    shard *s = shard_of(c, k);
    size_t charge = fg_cache_charge(len);
    if (charge > s->max_bytes) {
        pthread_mutex_lock(&s->mu);
        s->st.too_large++;
        pthread_mutex_unlock(&s->mu);
        TAG_ADD(c, tag, too_large, 1);
        return FG_CACHE_TOO_LARGE;
    }
    if (!admit(c, s, k, tag, now_ms, compute_us))
        return FG_CACHE_REJECTED;

    fg_cache_entry *en = malloc(sizeof *en + ((len + 15) & ~(size_t)15));
    if (!en) return FG_ENOMEM;
    memset(en, 0, sizeof *en);
    en->key = *k;
    atomic_init(&en->refs, 1);
    en->tag = tag;
    en->expire_ms = c->cfg.ttl_ms && now_ms <= UINT64_MAX - c->cfg.ttl_ms ? now_ms + c->cfg.ttl_ms : UINT64_MAX;
    en->len = len;
    en->charge = charge;
    if (len) memcpy(en->val, val, len);

    fg_cache_entry *dead = NULL;
    int rc = FG_CACHE_INSERTED, moved = 0;
    pthread_mutex_lock(&s->mu);
    fg_cache_entry **slot = tab_slot(s, k);
    if (*slot) {
        /* A fresh entry replaces the old one, so readers of the old value keep their bytes unchanged. */
        fg_cache_entry *old = *slot;
        if (old->tag == tag) {
            s->st.updates++;
            TAG_ADD(c, tag, updates, 1);
            rc = FG_CACHE_UPDATED;
        } else {
            /* the key moved to another tag: a removal there and an insertion here keep each tag's
             * entries == inserts - removals */
            s->st.evictions++;
            TAG_ADD(c, old->tag, evictions, 1);
            rc = FG_CACHE_UPDATED;
            moved = 1;
        }
        shard_remove(c, s, slot, old, &dead);
    }
    while (s->bytes + charge > s->max_bytes && s->head) {
        fg_cache_entry *v = pick_victim(c, s);
        s->st.evictions++;
        TAG_ADD(c, v->tag, evictions, 1);
        shard_remove(c, s, tab_slot(s, &v->key), v, &dead);
    }
    *tab_slot(s, k) = en;
    list_push_head(s, en);
    s->bytes += charge;
    s->count++;
    TAG_ADD(c, tag, bytes, charge);
    TAG_ADD(c, tag, entries, 1);
    if (rc == FG_CACHE_INSERTED || moved) {
        s->st.inserts++;
        TAG_ADD(c, tag, inserts, 1);
    }
    if (s->count > s->mask + 1) tab_grow(s);
    pthread_mutex_unlock(&s->mu);
    free_dead(dead);
    return rc;
}

size_t fg_cache_purge_tag(fg_cache *c, uint32_t tag) {
    if (!c) return 0;
    size_t n = 0;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *s = &c->shards[i];
        fg_cache_entry *dead = NULL;
        pthread_mutex_lock(&s->mu);
        for (fg_cache_entry *en = s->head, *nx; en; en = nx) {
            nx = en->next;
            if (en->tag != tag) continue;
            s->st.purged++;
            TAG_ADD(c, tag, purged, 1);
            shard_remove(c, s, tab_slot(s, &en->key), en, &dead);
            n++;
        }
        pthread_mutex_unlock(&s->mu);
        free_dead(dead);
    }
    return n;
}

void fg_cache_tag_stats(fg_cache *c, uint32_t tag, fg_cache_stats *s) {
    memset(s, 0, sizeof *s);
    tag_ctr *t = c ? tag_of(c, tag) : NULL;
    if (!t) return;
#define LD(f) s->f = atomic_load_explicit(&t->f, memory_order_relaxed)
    LD(hits); LD(misses); LD(inserts); LD(updates); LD(evictions); LD(expiries); LD(purged); LD(rejects);
    LD(too_large); LD(bytes); LD(entries);
#undef LD
}

void fg_cache_stats_get(fg_cache *c, fg_cache_stats *s) {
    memset(s, 0, sizeof *s);
    if (!c) return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->mu);
        s->hits += sh->st.hits;
        s->misses += sh->st.misses;
        s->inserts += sh->st.inserts;
        s->updates += sh->st.updates;
        s->evictions += sh->st.evictions;
        s->expiries += sh->st.expiries;
        s->purged += sh->st.purged;
        s->rejects += sh->st.rejects;
        s->too_large += sh->st.too_large;
        s->bytes += sh->bytes;
        s->entries += sh->count;
        pthread_mutex_unlock(&sh->mu);
    }
}
