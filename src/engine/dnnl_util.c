/* dnnl_util.c - process-wide oneDNN engine and per-session streams (see dnnl_util.h). */
#include "engine/dnnl_util.h"

#include <pthread.h>

static dnnl_engine_t g_engine;
static dnnl_status_t g_engine_status;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void make_engine(void) { g_engine_status = dnnl_engine_create(&g_engine, dnnl_cpu, 0); }

int fg_dnnl_init(fg_dnnl *d, fg_err *e) {
    *d = (fg_dnnl){0}; /* precision off and counters zero unless the session says otherwise */
    pthread_once(&g_once, make_engine);
    if (g_engine_status != dnnl_success)
        return fg_err_set(e, FG_EINTERNAL, "oneDNN: cannot create CPU engine (%s)", fg_dnnl_status_str(g_engine_status));
    d->engine = g_engine;
    dnnl_status_t s = dnnl_stream_create(&d->stream, g_engine, dnnl_stream_default_flags);
    if (s != dnnl_success)
        return fg_err_set(e, FG_EINTERNAL, "oneDNN: cannot create stream (%s)", fg_dnnl_status_str(s));
    return 0;
}

void fg_dnnl_fini(fg_dnnl *d) {
    if (d && d->stream) {
        dnnl_stream_destroy(d->stream);
        d->stream = NULL;
    }
}

const char *fg_dnnl_status_str(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}
