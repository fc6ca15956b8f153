/* alloc.h - allocation wrappers.
 * Small, fixed-size allocations (structs, names, plans) go through fg_x*, which abort with a message on
 * out-of-memory: there is no sensible recovery from failing to allocate 64 bytes. Request-sized
 * buffers use plain malloc and fail the request instead. */
#ifndef FG_CORE_ALLOC_H
#define FG_CORE_ALLOC_H

#include <stddef.h>

/* malloc that aborts on failure; caller frees with free(). */
void *fg_xmalloc(size_t n);
/* calloc that aborts on failure; caller frees with free(). */
void *fg_xcalloc(size_t n, size_t size);
/* realloc that aborts on failure; caller frees with free(). */
void *fg_xrealloc(void *p, size_t n);
/* strdup that aborts on failure (NULL in, NULL out); caller frees with free(). */
char *fg_xstrdup(const char *s);
/* Duplicates len bytes of s as a NUL-terminated string (s may be NULL when len is 0); caller frees with
 * free(). */
char *fg_xstrndup(const char *s, size_t len);
/* Allocates n bytes aligned to 64 (cache line, AVX-512); NULL on failure; free with free(). */
void *fg_aligned_alloc(size_t n);

#endif
