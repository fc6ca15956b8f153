/* json.h - a strict RFC 8259 JSON reader into a small DOM, for documents frugal reads back (bench
 * results, saved reports), not for the request path (the server's v2 codec has its own streaming parser).
 *
 * Strict: UTF-8 is validated, control characters in strings, leading zeros, trailing commas, comments,
 * a byte order mark, numbers that overflow a double and anything after the value are errors; nesting
 * deeper than FG_JSON_MAX_DEPTH is refused so hostile input cannot exhaust the stack.
 *
 * Usage
 *   fg_json *doc;
 *   if (fg_json_parse(text, len, &doc, &e) != 0) ... e.msg: "byte 17: expected ',' or '}', found 'x'"
 *   double p99 = fg_json_num(fg_json_get(fg_json_at(fg_json_get(doc, "stages"), 0), "p99_us"), NAN);
 *   fg_json_free(doc);
 */
#ifndef FG_CORE_JSON_H
#define FG_CORE_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

#define FG_JSON_MAX_DEPTH 256 /* arrays and objects nested deeper than this are refused */

typedef enum { FG_JSON_NULL, FG_JSON_BOOL, FG_JSON_NUMBER, FG_JSON_STRING, FG_JSON_ARRAY, FG_JSON_OBJECT } fg_json_type;

typedef struct fg_json fg_json;
struct fg_json {
    fg_json_type type;
    int boolean;    /* FG_JSON_BOOL: 0 or 1 */
    double num;     /* FG_JSON_NUMBER (finite; -0 kept) */
    char *str;      /* FG_JSON_STRING: unescaped UTF-8, NUL-terminated */
    size_t len;     /* string length in bytes (strings may hold \u0000) */
    fg_json *items; /* ARRAY elements / OBJECT values, n of them */
    char **keys;    /* OBJECT keys (unescaped, NUL-terminated), n of them; duplicates kept, lookups take the last */
    size_t n;
};

/* Parses len bytes of text (need not be NUL-terminated) as one JSON value. Returns 0 and *out (free
 * with fg_json_free), FG_EINVAL with e->msg naming the byte offset and what was expected there, or
 * FG_ENOMEM; *out is NULL on failure. */
int fg_json_parse(const char *text, size_t len, fg_json **out, fg_err *e);

/* Frees a value returned by fg_json_parse and everything under it (NULL is fine). */
void fg_json_free(fg_json *v);

/* The value of key in object obj (the last one when the key repeats); NULL when absent or obj is not an
 * object. Borrowed: lives as long as the document. Keys holding \u0000 match up to that byte only. */
const fg_json *fg_json_get(const fg_json *obj, const char *key);

/* Element i of array arr; NULL when out of range or arr is not an array. Borrowed. */
const fg_json *fg_json_at(const fg_json *arr, size_t i);

/* v's number, or dflt when v is NULL or not a number (JSON null included: pass NAN to tell "not
 * measured" apart). */
double fg_json_num(const fg_json *v, double dflt);

/* v's string (borrowed), or dflt when v is NULL or not a string. */
const char *fg_json_str(const fg_json *v, const char *dflt);

/* v's boolean (0 or 1), or dflt when v is NULL or not a boolean. */
int fg_json_bool(const fg_json *v, int dflt);

/* Number of elements (array) or members (object); 0 for anything else or NULL. */
size_t fg_json_count(const fg_json *v);

/* Writes len bytes of s to f as a quoted JSON string, escaping '"', '\\' and control characters
 * (bytes >= 0x80 pass through, so valid UTF-8 stays valid). */
void fg_json_write_str(FILE *f, const char *s, size_t len);

/* Writes x to f as the shortest of 15 or 17 significant digits that reads back exactly, or null when x
 * is not finite. */
void fg_json_write_num(FILE *f, double x);

#endif
