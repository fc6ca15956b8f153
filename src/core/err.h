/* err.h - frugal's one error convention.
 * Functions return 0 on success or a negative FG_E* code; when they take an fg_err they also write one
 * human-readable line into it that names the problem (the file, the node, the input). Codes are
 * append-only: never renumber or reuse one. */
#ifndef FG_CORE_ERR_H
#define FG_CORE_ERR_H

#include <stddef.h>

enum {
    FG_OK = 0,
    FG_EINVAL = -1,       /* bad argument or malformed request */
    FG_ENOMEM = -2,       /* a request-sized allocation failed */
    FG_EIO = -3,          /* reading or writing a file failed */
    FG_EFORMAT = -4,      /* a file is truncated, corrupt or not what it claims to be */
    FG_EUNSUPPORTED = -5, /* valid input that frugal does not handle (op, dtype, attribute) */
    FG_ESHAPE = -6,       /* shapes do not fit together */
    FG_EDTYPE = -7,       /* wrong element type */
    FG_ENOTFOUND = -8,    /* a named thing does not exist */
    FG_EINTERNAL = -9,    /* a library call failed unexpectedly (oneDNN, ...) */
    FG_ENEEDVALUE = -10,  /* shape inference needs the value of a tensor that is only known at run time */
    FG_EFULL = -11,       /* a queue is at its limit (HTTP 503) */
    FG_ETIMEDOUT = -12,   /* a deadline passed before the work ran (HTTP 503) */
    FG_ESTOPPED = -13,    /* the component is shutting down (HTTP 503) */
};

#define FG_ERR_MSG_MAX 1024

/* Error detail: the code and one line of text. Zero-initialise it; fg_err_set fills it. */
typedef struct fg_err {
    int code;
    char msg[FG_ERR_MSG_MAX];
} fg_err;

/* Records code and a printf-style message in e (e may be NULL) and returns code, so callers can
 * write `return fg_err_set(e, FG_EINVAL, "...")`. The first error set wins: a later call on an e that
 * already holds an error keeps the original message (the innermost context is the useful one). */
int fg_err_set(fg_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes e's message with more context ("loading x.onnx: "), keeping the code. */
void fg_err_prefix(fg_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears e so it can be reused. */
void fg_err_clear(fg_err *e);

/* Returns a static, short description of an FG_E* code. */
const char *fg_strerror(int code);

#endif
