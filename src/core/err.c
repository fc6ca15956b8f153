/* err.c - error codes and messages (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fg_err_set(fg_err *e, int code, const char *fmt, ...) {
    if (!e || e->code != 0)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void fg_err_prefix(fg_err *e, const char *fmt, ...) {
    if (!e)
        return;
    char pre[FG_ERR_MSG_MAX], old[FG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t pl = strnlen(pre, sizeof pre - 1), ol = strnlen(old, sizeof old - 1);
    if (pl + ol > sizeof e->msg - 1)
        ol = sizeof e->msg - 1 - pl;
    memcpy(e->msg, pre, pl);
    memcpy(e->msg + pl, old, ol);
    e->msg[pl + ol] = '\0';
}

void fg_err_clear(fg_err *e) {
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

const char *fg_strerror(int code) {
    switch (code) {
    case FG_OK: return "success";
    case FG_EINVAL: return "invalid argument";
    case FG_ENOMEM: return "out of memory";
    case FG_EIO: return "i/o error";
    case FG_EFORMAT: return "malformed data";
    case FG_EUNSUPPORTED: return "unsupported";
    case FG_ESHAPE: return "shape mismatch";
    case FG_EDTYPE: return "dtype mismatch";
    case FG_ENOTFOUND: return "not found";
    case FG_EINTERNAL: return "internal error";
    case FG_ENEEDVALUE: return "value needed for shape inference";
    case FG_EFULL: return "queue full";
    case FG_ETIMEDOUT: return "timed out";
    case FG_ESTOPPED: return "shutting down";
    default: return "unknown error";
    }
}
