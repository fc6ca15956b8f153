/* dmap.h - a string → exact decimal sum map for `frugal cost`'s group-bys: add costs under a key,
 * then list the keys by sum, largest first. Memory grows with the number of distinct keys (each key
 * copied once), never with the number of additions. Keys are byte strings (may hold any byte);
 * composite keys join their parts with FG_DMAP_SEP. */
#ifndef FG_COST_DMAP_H
#define FG_COST_DMAP_H

#include <stddef.h>
#include <stdint.h>

#include "cost/billing.h"
#include "cost/decimal.h"

#define FG_DMAP_SEP '\x1f' /* joins the parts of a composite key (unit separator: not in any name) */

typedef struct fg_dmap_ent {
    char *key; /* NUL-terminated copy (the key itself may also hold NULs: use klen) */
    size_t klen;
    uint64_t h;
    fg_dec v;
    uint64_t n; /* additions under this key */
} fg_dmap_ent;

typedef struct fg_dmap {
    fg_dmap_ent *e;
    size_t cap, n;
} fg_dmap;

/* Adds v to key (kn bytes at k), inserting the key at 0 first. 0, -1 out of memory, -2 the sum left
 * the decimal range. */
int fg_dmap_add(fg_dmap *m, const char *k, size_t kn, fg_dec v);

/* Frees every key and the table; m is then empty and reusable. */
void fg_dmap_free(fg_dmap *m);

/* Entries by value descending, then key ascending (a stable report); m->n pointers into m, caller
 * frees the array (not the entries); NULL when out of memory. */
fg_dmap_ent **fg_dmap_sorted(const fg_dmap *m);

/* The idx-th FG_DMAP_SEP-separated part of an entry's key (empty past the last part). */
fg_str fg_dmap_part(const fg_dmap_ent *en, int idx);

/* A 64-bit hash of n bytes (8 bytes a step; not for untrusted-key DoS resistance: keys come from the
 * user's own billing files). */
uint64_t fg_dmap_hash(const char *s, size_t n);

/* Joins n parts with FG_DMAP_SEP into *buf (grown as needed; caller frees); the length, or -1 out of
 * memory. */
long fg_dmap_key(char **buf, size_t *cap, const fg_str *parts, int n);

#endif
