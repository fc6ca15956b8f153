/* cache.h - in-process response cache: answers repeated inference requests without running the model.
 *
 * Overview
 *   Three independent pieces:
 *   - Keys (fg_cache_key_make): SHA-256 over a canonical, length-prefixed encoding of everything that
 *     determines a response: model name, model version string, every input (name, dtype, rank, dims,
 *     raw bytes; inputs sorted by name so the request's order does not matter), the requested output
 *     names (sorted and deduplicated: a set; "no names" means all outputs and is encoded apart from any
 *     named set) and a canonical parameter string chosen by the caller. Every field is prefixed by its
 *     length or count, so no two different requests produce the same byte stream (e.g. dtype or shape
 *     changes with identical bytes, or a name boundary moved between two fields).
 *   - Values (fg_cache_value_encode / _decode): the outputs of one response in a self-describing blob.
 *     Blobs may come back from a shared store (Redis) written by other processes or other builds, so
 *     decoding trusts nothing: magic, version, zero padding, known dtypes, rank <= FG_MAX_RANK,
 *     dims >= 0, element count x dtype size == the stored byte count without overflow, every length
 *     inside the buffer, and the blob consumed exactly. A blob that passes decodes to tensors whose data
 *     lies inside the blob.
 *   - The store (fg_cache): key -> value bytes, in memory, bounded by a byte budget.
 *
 * Value layout (version 1; integers little-endian, every offset a multiple of 8 from the blob start)
 *   header   "FGCV" | u32 version = 1 | u32 n_outputs (<= FG_CACHE_MAX_OUTPUTS) | u32 0
 *   output   u32 name_len | u32 dtype | u32 rank | u32 0 | i64 dims[rank] | u64 n_bytes |
 *            name bytes, NUL, zero padding to 8 | data bytes, zero padding to 8
 *   Tensor data is in host byte order (the blob is shared between processes of one architecture).
 *   Because every section starts at a multiple of 8, tensor data is 8-byte aligned whenever the blob
 *   is: values stored in fg_cache are 16-byte aligned, so decoding them in place gives aligned data.
 *
 * Store
 *   Sharded: FG_CACHE_DEFAULT_SHARDS shards chosen by a key byte, each with its own mutex, hash table,
 *   list and slice (max_bytes / n_shards) of the budget, so event-loop threads rarely meet on a lock.
 *   An entry is charged fg_cache_charge(len) bytes (key, value and bookkeeping), so the budget bounds
 *   real memory; an entry larger than a shard's slice is refused (FG_CACHE_TOO_LARGE).
 *
 * Policies and why
 *   - FG_CACHE_SIEVE (default): a FIFO queue with one "visited" bit per entry and a hand that sweeps
 *     from the oldest entry, clearing bits and evicting the first unvisited entry. New entries must
 *     prove themselves once before the hand comes round, so a flood of one-off requests (unique
 *     inputs: the case that makes Triton's LRU cache thrash) replaces each other instead of the popular
 *     entries; a hit only sets a bit (no list move), which keeps hits cheap. Measured against LRU in
 *     bench/cache_policy.c (bench/RESULTS.md, Zipf 0.8/1.0, caches of 1% and 10% of the keys, with and
 *     without 50% one-off keys): 7 to 11 points higher hit ratio than LRU on every workload, within
 *     2-7 points of an oracle that always holds the most popular keys.
 *   - FG_CACHE_LRU: classic least recently used, kept for comparison and for workloads with strong
 *     recency and no one-off traffic.
 *   Admission, configurable:
 *   - min_compute_us (every put): results that took less than this to compute are not worth memory.
 *   - FG_CACHE_ADMIT_SECOND_HIT (new keys only; a cached key's update is accepted): a key is admitted
 *     only on its second insertion attempt; the first is
 *     remembered in a per-shard doorkeeper (a 2-probe Bloom filter of doorkeeper_bits / n_shards bits,
 *     fixed memory). A shard's filter is cleared when doorkeeper_window_ms has passed since its last
 *     clear or when it has recorded bits/8 keys (keeps false admissions near 5%), so "second attempt"
 *     means "within the window". It stops one-off keys from evicting anything at all and saves their
 *     copy; with LRU it recovers 3-7 points on one-off-heavy traffic, with SIEVE (which already
 *     protects popular entries) it adds under a point, so it is off by default.
 *   TTL: entries inserted with ttl_ms > 0 expire; an expired entry is a miss and is removed then (or
 *   evicted normally before that).
 *
 * Tags
 *   Each entry carries a uint32 tag the caller assigns per model; fg_cache_purge_tag drops every entry
 *   of a model (purge, unload, version switch: keys contain the version, so old entries would only age
 *   out otherwise). Tags < FG_CACHE_MAX_TAGS get their own counters; larger tags count only in the
 *   totals.
 *
 * Thread-safety
 *   Every function may be called from any thread at once, except fg_cache_free (no other call on the
 *   cache may run or follow). Per-tag counters are relaxed atomics; totals are per shard and summed on
 *   read, so a snapshot taken while others run is approximate but each counter is exact once they stop.
 *   Key and value functions share no state besides a once-fetched SHA-256 implementation and one
 *   digest context per calling thread (freed when the thread exits).
 *
 * Memory ownership
 *   fg_cache_put copies the value. fg_cache_get hands out a reference to the cached entry (no copy);
 *   the bytes stay valid and unchanged until fg_cache_entry_release, even if the entry is evicted,
 *   replaced or purged meanwhile (it is freed at the last release). Every successful get must be
 *   released exactly once, before fg_cache_free.
 *
 * Usage
 *   fg_cache_config cc = {.max_bytes = 256u << 20, .ttl_ms = 0, .min_compute_us = 200};
 *   fg_cache *c = fg_cache_new(&cc, &e);
 *   fg_cache_input in[] = {{"input", &x}};
 *   fg_cache_key k;
 *   fg_cache_key_make(&k, "digits", "1", in, 1, NULL, 0, "");       // all outputs, no parameters
 *   const fg_cache_entry *h;
 *   if (fg_cache_get(c, &k, tag, now_ms, &h) == 1) {
 *       const void *p; size_t n;
 *       fg_cache_entry_value(h, &p, &n);
 *       fg_cache_value v;
 *       if (fg_cache_value_decode(p, n, &v) == 0) reply(v.names, v.t, v.n);   // views into p
 *       fg_cache_entry_release(c, h);
 *   } else {
 *       run the model; uint8_t *b; size_t bl;
 *       fg_cache_value_encode(names, outs, n_out, &b, &bl);
 *       fg_cache_put(c, &k, tag, now_ms, b, bl, compute_us);
 *       free(b);
 *   }
 *   fg_cache_purge_tag(c, tag);                                        // model unloaded
 *   fg_cache_free(c);
 */
#ifndef FG_SERVE_CACHE_H
#define FG_SERVE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "frugal/engine.h"

#define FG_CACHE_MAX_OUTPUTS 16     /* outputs in one value */
#define FG_CACHE_MAX_TAGS 256       /* tags with their own counters */
#define FG_CACHE_DEFAULT_SHARDS 16  /* n_shards when the config says 0 */
#define FG_CACHE_MAX_SHARDS 256
#define FG_CACHE_VALUE_VERSION 1    /* the blob format fg_cache_value_encode writes and decode accepts */

/* fg_cache_put results (non-negative), next to negative FG_E* codes for bad arguments / no memory. */
#define FG_CACHE_INSERTED 0   /* a new entry */
#define FG_CACHE_UPDATED 1    /* the key was cached: its value, tag and TTL were replaced */
#define FG_CACHE_REJECTED 2   /* admission said no (min_compute_us or second-hit); nothing stored */
#define FG_CACHE_TOO_LARGE 3  /* fg_cache_charge(len) exceeds one shard's share of max_bytes */

typedef struct fg_cache_key {
    uint8_t b[32];
} fg_cache_key;

/* One request input for fg_cache_key_make. */
typedef struct fg_cache_input {
    const char *name;
    const fg_tensor *t;
} fg_cache_input;

/* A decoded value: n outputs; names and t[i].data point into the decoded buffer (read-only, valid as
 * long as it is). */
typedef struct fg_cache_value {
    size_t n;
    const char *names[FG_CACHE_MAX_OUTPUTS];
    fg_tensor t[FG_CACHE_MAX_OUTPUTS];
} fg_cache_value;

typedef enum fg_cache_policy { FG_CACHE_SIEVE = 0, FG_CACHE_LRU = 1 } fg_cache_policy;
typedef enum fg_cache_admission { FG_CACHE_ADMIT_ALL = 0, FG_CACHE_ADMIT_SECOND_HIT = 1 } fg_cache_admission;

typedef struct fg_cache_config {
    size_t max_bytes;            /* budget over fg_cache_charge of all entries; > 0 */
    uint64_t ttl_ms;             /* lifetime of each entry; 0 = none */
    fg_cache_policy policy;      /* 0 = SIEVE */
    fg_cache_admission admission;
    uint64_t min_compute_us;     /* admit only results that took at least this long; 0 = all */
    size_t doorkeeper_bits;      /* second-hit filter, all shards together; 0 = 1 Mi bits (128 KiB) */
    uint64_t doorkeeper_window_ms; /* clear each shard's filter at least this often; 0 = 60000 */
    unsigned n_shards;           /* power of two <= FG_CACHE_MAX_SHARDS; 0 = FG_CACHE_DEFAULT_SHARDS */
} fg_cache_config;

/* Counters of one tag (fg_cache_tag_stats) or of the whole cache (fg_cache_stats_get).
 * Once no call runs: entries == inserts - evictions - expiries - purged. */
typedef struct fg_cache_stats {
    uint64_t hits, misses;
    uint64_t inserts;    /* new entries */
    uint64_t updates;    /* puts that replaced a cached key's value */
    uint64_t evictions;  /* removed by the policy to make room */
    uint64_t expiries;   /* removed because their TTL passed */
    uint64_t purged;     /* removed by fg_cache_purge_tag */
    uint64_t rejects;    /* puts refused by admission */
    uint64_t too_large;  /* puts refused as FG_CACHE_TOO_LARGE */
    uint64_t bytes;      /* charged bytes held now */
    uint64_t entries;    /* entries held now */
} fg_cache_stats;

typedef struct fg_cache fg_cache;
typedef struct fg_cache_entry fg_cache_entry;

/* Computes the key of a request into k. ins: n_in inputs (any order, unique names, dense known dtypes);
 * outputs: n_out requested names (any order, duplicates ignored) or NULL/0 for all outputs; params may
 * be NULL (same as ""). Nothing is kept. Returns 0, FG_EINVAL (NULL or duplicate name, bad tensor),
 * FG_EUNSUPPORTED (string dtype), FG_ENOMEM or FG_EINTERNAL (digest failure). */
int fg_cache_key_make(fg_cache_key *k, const char *model, const char *version, const fg_cache_input *ins,
                      size_t n_in, const char *const *outputs, size_t n_out, const char *params);

/* Serialises n outputs (names[i], outs[i]) into a new malloc'd blob *buf of *len bytes; the caller
 * frees it. Returns 0, FG_EINVAL (n > FG_CACHE_MAX_OUTPUTS, NULL name, bad tensor) or FG_ENOMEM. */
int fg_cache_value_encode(const char *const *names, const fg_tensor *outs, size_t n, uint8_t **buf,
                          size_t *len);

/* Checks and decodes a blob in place: v's names and tensor data point into buf (nothing allocated;
 * data is 8-byte aligned when buf is). Returns 0 or FG_EFORMAT, leaving v unspecified. */
int fg_cache_value_decode(const uint8_t *buf, size_t len, fg_cache_value *v);

/* Bytes that an entry with a value of len bytes counts against max_bytes. */
size_t fg_cache_charge(size_t len);

/* Creates an empty cache with a copy of cfg; the caller frees it with fg_cache_free. Returns NULL and
 * fills e when cfg is invalid. */
fg_cache *fg_cache_new(const fg_cache_config *cfg, fg_err *e);

/* Frees the cache and every entry. All entries from fg_cache_get must have been released. NULL is a
 * no-op. */
void fg_cache_free(fg_cache *c);

/* Looks k up at time now_ms (the caller's millisecond clock, the same one given to fg_cache_put),
 * counting the hit or miss under tag. Returns 1 with *e holding a reference the caller must pass to
 * fg_cache_entry_release, or 0 (miss; expired entries are removed) with *e = NULL. */
int fg_cache_get(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, const fg_cache_entry **e);

/* The cached value bytes of a held entry: 16-byte aligned, read-only, owned by the entry. */
void fg_cache_entry_value(const fg_cache_entry *e, const void **ptr, size_t *len);

/* Drops a reference from fg_cache_get; frees the entry if the cache no longer holds it. */
void fg_cache_entry_release(fg_cache *c, const fg_cache_entry *e);

/* Stores a copy of val (len bytes) under k for tag at now_ms; compute_us is the time the response took
 * to compute (for min_compute_us). Evicts as needed. Returns FG_CACHE_INSERTED, _UPDATED, _REJECTED,
 * _TOO_LARGE, or FG_EINVAL / FG_ENOMEM. */
int fg_cache_put(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, const void *val,
                 size_t len, uint64_t compute_us);

/* Asks admission whether a result for k would be stored (recording the sighting for second-hit and
 * counting a reject under tag), so a caller can skip building a value that would be refused. Returns 1
 * (then fg_cache_put admits it too, unless the second-hit filter was reset in between) or 0. */
int fg_cache_admit(fg_cache *c, const fg_cache_key *k, uint32_t tag, uint64_t now_ms, uint64_t compute_us);

/* Removes every entry of tag (held references stay valid). Returns the number removed. */
size_t fg_cache_purge_tag(fg_cache *c, uint32_t tag);

/* Copies tag's counters into s (all zero for tag >= FG_CACHE_MAX_TAGS). */
void fg_cache_tag_stats(fg_cache *c, uint32_t tag, fg_cache_stats *s);

/* Copies the whole cache's counters into s. */
void fg_cache_stats_get(fg_cache *c, fg_cache_stats *s);

/* Name of a policy ("sieve", "lru"), for logs and the benchmark. */
const char *fg_cache_policy_name(fg_cache_policy p);

#endif
