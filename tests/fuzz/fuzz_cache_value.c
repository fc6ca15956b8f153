/* fuzz_cache_value.c - libFuzzer target for the response cache's value decoder (src/serve/cache.c),
 * which reads blobs that other processes wrote to Redis. The input is decoded from an exact-size,
 * 16-byte aligned copy (as cached values are held); a value that decodes must be self-consistent: every
 * name terminated inside the blob, every tensor's bytes inside it, and encoding it again must give a
 * blob that decodes to the same shapes and bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/cache.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = aligned_alloc(16, size ? (size + 15) & ~(size_t)15 : 16);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fg_cache_value v;
    if (fg_cache_value_decode(buf, size, &v) == 0) {
        CHECK(v.n <= FG_CACHE_MAX_OUTPUTS);
        for (size_t i = 0; i < v.n; i++) {
            const uint8_t *nm = (const uint8_t *)v.names[i];
            CHECK(nm >= buf && nm < buf + size);
            CHECK(memchr(nm, 0, (size_t)(buf + size - nm)) != NULL);
            size_t bytes = (size_t)fg_tensor_numel(&v.t[i]) * fg_dtype_size(v.t[i].dtype);
            const uint8_t *d = v.t[i].data;
            CHECK(bytes == 0 || (d >= buf && d + bytes <= buf + size));
        }
        uint8_t *again = NULL;
        size_t len = 0;
        if (fg_cache_value_encode(v.names, v.t, v.n, &again, &len) == 0) {
            fg_cache_value w;
            CHECK(fg_cache_value_decode(again, len, &w) == 0 && w.n == v.n);
            for (size_t i = 0; i < v.n; i++) {
                CHECK(strcmp(w.names[i], v.names[i]) == 0 && w.t[i].rank == v.t[i].rank);
                size_t bytes = (size_t)fg_tensor_numel(&v.t[i]) * fg_dtype_size(v.t[i].dtype);
                CHECK(bytes == 0 || memcmp(w.t[i].data, v.t[i].data, bytes) == 0);
            }
            free(again);
        }
    }
    free(buf);
    return 0;
}
