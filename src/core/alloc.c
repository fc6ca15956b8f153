/* alloc.c - aborting allocation wrappers (see alloc.h). */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n) {
    fprintf(stderr, "frugal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *fg_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *fg_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *fg_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *fg_xstrdup(const char *s) {
    return s ? fg_xstrndup(s, strlen(s)) : NULL;
}

char *fg_xstrndup(const char *s, size_t len) {
    char *d = fg_xmalloc(len + 1);
    if (len) /* an empty slice may have s == NULL (protobuf-c's empty bytes field): memcpy forbids that */
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void *fg_aligned_alloc(size_t n) {
    size_t sz = (n + 63) & ~(size_t)63;
    return aligned_alloc(64, sz ? sz : 64);
}
