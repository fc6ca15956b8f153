/* fuzz_json.c - libFuzzer target for the JSON reader (src/core/json.c).
 * The input is the text, given as an exact-size copy so ASan sees any read past it. Checked: a failure
 * is FG_EINVAL with a message "byte N: ..." where N is inside the input (or at its end) and no DOM; a
 * success gives a tree within the depth limit whose strings are NUL-terminated at len, whose numbers
 * are finite, and which, written back out with the writer helpers, parses again to the same tree
 * (strings byte for byte, numbers bit for bit, -0 included), with lookups finding the last duplicate. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static void write_value(FILE *f, const fg_json *v) {
    switch (v->type) {
    case FG_JSON_NULL: fputs("null", f); break;
    case FG_JSON_BOOL: fputs(v->boolean ? "true" : "false", f); break;
    case FG_JSON_NUMBER: fg_json_write_num(f, v->num); break;
    case FG_JSON_STRING: fg_json_write_str(f, v->str, v->len); break;
    case FG_JSON_ARRAY:
        fputc('[', f);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                fputc(',', f);
            write_value(f, &v->items[i]);
        }
        fputc(']', f);
        break;
    case FG_JSON_OBJECT:
        fputc('{', f);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                fputc(',', f);
            fg_json_write_str(f, v->keys[i], strlen(v->keys[i]));
            fputc(':', f);
            write_value(f, &v->items[i]);
        }
        fputc('}', f);
        break;
    }
}

/* Keys are compared up to their first NUL: a key holding \u0000 is written back truncated. */
static void check_same(const fg_json *a, const fg_json *b, int depth) {
    CHECK(depth <= FG_JSON_MAX_DEPTH);
    CHECK(a->type == b->type);
    switch (a->type) {
    case FG_JSON_NULL: break;
    case FG_JSON_BOOL: CHECK(a->boolean == b->boolean && (a->boolean == 0 || a->boolean == 1)); break;
    case FG_JSON_NUMBER:
        CHECK(isfinite(a->num));
        CHECK(a->num == b->num && signbit(a->num) == signbit(b->num));
        break;
    case FG_JSON_STRING:
        CHECK(a->str[a->len] == '\0');
        CHECK(a->len == b->len && memcmp(a->str, b->str, a->len) == 0);
        break;
    case FG_JSON_ARRAY:
    case FG_JSON_OBJECT:
        CHECK(a->n == b->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == FG_JSON_OBJECT) {
                CHECK(strcmp(a->keys[i], b->keys[i]) == 0);
                const fg_json *last = fg_json_get(a, a->keys[i]);
                CHECK(last != NULL && last >= &a->items[i]);
                CHECK(fg_json_at(a, i) == NULL);
            } else {
                CHECK(fg_json_at(a, i) == &a->items[i]);
                CHECK(fg_json_get(a, "") == NULL);
            }
            check_same(&a->items[i], &b->items[i], depth + 1);
        }
        CHECK(fg_json_at(a, a->n) == NULL);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    fg_json *v = (fg_json *)1;
    fg_err e = {0};
    int rc = fg_json_parse(text, size, &v, &e);
    if (rc != 0) {
        CHECK(rc == FG_EINVAL && e.code == FG_EINVAL && v == NULL);
        size_t at = 0;
        CHECK(sscanf(e.msg, "byte %zu: ", &at) == 1);
        CHECK(at <= size);
        free(text);
        return 0;
    }
    CHECK(v != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    write_value(f, v);
    CHECK(fclose(f) == 0);
    fg_json *w = NULL;
    fg_err e2 = {0};
    CHECK(fg_json_parse(buf, len, &w, &e2) == 0);
    check_same(v, w, 1);
    fg_json_free(w);
    free(buf);
    fg_json_free(v);
    free(text);
    return 0;
}
