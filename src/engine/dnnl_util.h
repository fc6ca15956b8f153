/* dnnl_util.h - oneDNN plumbing shared by kernels: one CPU engine per process, one stream per session,
 * and a helper that turns a dnnl_status_t into an fg_err naming the node. */
#ifndef FG_ENGINE_DNNL_UTIL_H
#define FG_ENGINE_DNNL_UTIL_H

#include <oneapi/dnnl/dnnl.h>

#include "core/err.h"

typedef struct fg_dnnl {
    dnnl_engine_t engine; /* process-wide, not owned */
    dnnl_stream_t stream; /* owned */
    /* FG_PREC_BF16 sessions: Conv, MatMul and Gemm with constant weights are prepared with bf16 weights
     * and source (f32 accumulation and destination); the kernels count what they did, per plan build. */
    int bf16;
    int n_bf16;          /* nodes prepared in bf16 */
    int n_bf16_fallback; /* nodes kept in f32: oneDNN had no (non-reference) bf16 kernel for them */
} fg_dnnl;

/* Gets the process-wide CPU engine and creates a stream for the caller. 0 or FG_EINTERNAL. */
int fg_dnnl_init(fg_dnnl *d, fg_err *e);
/* Destroys the stream (the engine stays for the process). */
void fg_dnnl_fini(fg_dnnl *d);
/* Name of a dnnl status for messages. */
const char *fg_dnnl_status_str(dnnl_status_t s);

#endif
