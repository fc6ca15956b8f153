/* dmap.c - string → decimal sum map (see dmap.h): open addressing with linear probing. */
#include "cost/dmap.h"

#include <stdlib.h>
#include <string.h>

/* 8 bytes a step: keys are long (provider, service and resource ids joined) and hashed once per row */
uint64_t fg_dmap_hash(const char *s, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    uint64_t t = 0;
    memcpy(&t, s + i, n - i);
    h = (h ^ t) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

int fg_dmap_add(fg_dmap *m, const char *k, size_t kn, fg_dec v) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        fg_dmap_ent *ne = calloc(nc, sizeof *ne);
        if (!ne)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key) {
                size_t j = m->e[i].h & (nc - 1);
                while (ne[j].key)
                    j = (j + 1) & (nc - 1);
                ne[j] = m->e[i];
            }
        free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    uint64_t h = fg_dmap_hash(k, kn);
    size_t j = h & (m->cap - 1);
    while (m->e[j].key) {
        fg_dmap_ent *x = &m->e[j];
        if (x->h == h && x->klen == kn && memcmp(x->key, k, kn) == 0) {
            x->n++;
            return fg_dec_add(x->v, v, &x->v) == 0 ? 0 : -2;
        }
        j = (j + 1) & (m->cap - 1);
    }
    char *c = malloc(kn + 1);
    if (!c)
        return -1;
    memcpy(c, k, kn);
    c[kn] = 0;
    m->e[j] = (fg_dmap_ent){c, kn, h, v, 1};
    m->n++;
    return 0;
}

void fg_dmap_free(fg_dmap *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->e[i].key);
    free(m->e);
    m->e = NULL;
    m->cap = m->n = 0;
}

static int ent_cmp(const void *a, const void *b) {
    const fg_dmap_ent *x = *(const fg_dmap_ent *const *)a, *y = *(const fg_dmap_ent *const *)b;
    int c = fg_dec_cmp(y->v, x->v);
    if (c)
        return c;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int d = memcmp(x->key, y->key, n);
    return d ? d : (x->klen > y->klen) - (x->klen < y->klen);
}

fg_dmap_ent **fg_dmap_sorted(const fg_dmap *m) {
    fg_dmap_ent **v = malloc((m->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].key)
            v[k++] = &m->e[i];
    qsort(v, k, sizeof *v, ent_cmp);
    return v;
}

fg_str fg_dmap_part(const fg_dmap_ent *en, int idx) {
    const char *p = en->key, *end = en->key + en->klen;
    for (int i = 0; i < idx; i++) {
        const char *s = memchr(p, FG_DMAP_SEP, (size_t)(end - p));
        if (!s)
            return (fg_str){end, 0};
        p = s + 1;
    }
    const char *s = memchr(p, FG_DMAP_SEP, (size_t)(end - p));
    return (fg_str){p, s ? (size_t)(s - p) : (size_t)(end - p)};
}

long fg_dmap_key(char **buf, size_t *cap, const fg_str *parts, int n) {
    size_t need = 1;
    for (int i = 0; i < n; i++)
        need += parts[i].n + 1;
    if (need > *cap) {
        char *nb = realloc(*buf, need * 2);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = need * 2;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            (*buf)[k++] = FG_DMAP_SEP;
        if (parts[i].n)
            memcpy(*buf + k, parts[i].p, parts[i].n);
        k += parts[i].n;
    }
    return (long)k;
}
