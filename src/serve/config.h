/* config.h - Triton model configuration (config.pbtxt) reader: protobuf text format in, plain C out.
 *
 * Overview
 *   A Triton-layout repository holds REPO/<model>/config.pbtxt next to the version directories. The file
 *   is Triton's ModelConfig message in protobuf TEXT format. fg_model_config_parse reads it with a small
 *   generic text-format parser (no protobuf runtime, no schema file) and maps the subset frugal honours
 *   onto fg_model_config. fg_model_config_complete then does what Triton's auto-complete does for ONNX:
 *   fills what the file leaves out from the model's own inputs and outputs, derives max_batch_size, and
 *   checks that what the file does say agrees with the model.
 *
 * What is an error and what is a warning
 *   Triton configs are shared between servers, so fields frugal does not implement must not stop a
 *   model from loading: unknown fields (anywhere, including misspellings) and known-but-unsupported
 *   ones (optimization, sequence_batching, gpus, KIND_GPU, ...) are passed to the caller's
 *   warning callback, one line each, e.g. "config.pbtxt: ignoring unknown field 'dynamic_batching.foo'",
 *   and the parse goes on. A known field with the wrong type, a value out of range, a syntax error or a
 *   contradiction with the model is an error: one line in the fg_err, with "label:line:col:" and the
 *   field path ("input[1].dims") wherever the file is the cause.
 *
 * Text format accepted
 *   `name: value`, `name { ... }`, `name: { ... }`, `name < ... >`, `name: [a, b]`, `name [ {..}, {..} ]`,
 *   repeated fields by repetition, optional ',' or ';' after a field, '#' comments, strings in '' or ""
 *   with C escapes (adjacent strings concatenate, as in protobuf), identifiers, decimal/hex/octal
 *   integers, floats. As in protobuf, a non-repeated field given twice is an error; a map key given
 *   twice keeps the last value.
 *
 * Defaults (Triton's unless said otherwise)
 *   - name: the model directory's name. max_batch_size absent: FG_CONFIG_DEFAULT_MAX_BATCH when every
 *     model input (and every output whose rank is known) has a dynamic first dimension, else 0.
 *   - dynamic_batching absent: has_dynamic_batching is false and the caller decides (frugal's server
 *     turns batching on for batchable models with its own delay). dynamic_batching {} present: exactly
 *     Triton's meaning, max_queue_delay_us 0 (a batch is whatever is queued when an instance is free).
 *   - instance_group absent: 1 instance. version_policy absent: latest { num_versions: 1 }.
 *   - Frugal extension: an input/output entry may omit data_type or dims; completion takes them from the
 *     model (Triton would reject the entry).
 *
 * Memory
 *   Every string in fg_model_config is malloc'd and owned by it; fg_model_config_free frees them. On a
 *   failed parse nothing is left allocated and *c is in its initial state, so freeing it is harmless
 *   (and not needed). After a successful parse, free c whether or not completion succeeds.
 *
 * Usage
 *   fg_model_config c;
 *   fg_err e = {0};
 *   if (fg_model_config_load("repo/digits/config.pbtxt", &c, log_warning, NULL, &e) < 0) -> fail(e.msg)
 *   // (no config.pbtxt: fg_model_config_init(&c) instead)
 *   if (fg_model_config_complete(&c, "digits", ins, n_in, outs, n_out, log_warning, NULL, &e) < 0) ...
 *   sched.max_batch_size = c.max_batch_size; ... c.instances, c.inputs[i].full_dims ...
 *   fg_model_config_free(&c);
 */
#ifndef FG_SERVE_CONFIG_H
#define FG_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "frugal/engine.h"

/* Limits. Exceeding one is an error naming it, never a silent truncation. */
#define FG_CONFIG_MAX_SIZE (1u << 20) /* bytes of config text */
#define FG_CONFIG_MAX_DEPTH 32        /* nested messages */
#define FG_CONFIG_MAX_NODES 65536     /* fields and list elements in one file */
#define FG_CONFIG_MAX_IO 16           /* inputs, and separately outputs (same as FG_SCHED_MAX_IO) */
#define FG_CONFIG_MAX_PREFERRED 8     /* preferred batch sizes (same as FG_SCHED_MAX_PREFERRED) */
#define FG_CONFIG_MAX_GROUPS 16       /* instance_group entries */
#define FG_CONFIG_MAX_INSTANCES 256   /* sum of instance_group counts: each is an engine session */
#define FG_CONFIG_MAX_VERSIONS 64     /* version_policy.specific.versions */
#define FG_CONFIG_MAX_WARMUP 16       /* model_warmup samples */
#define FG_CONFIG_MAX_PARAMS 64       /* parameters entries */
#define FG_CONFIG_MAX_PRIORITY_LEVELS 1024
#define FG_CONFIG_MAX_WARNINGS 64     /* warnings per call; then one "further warnings suppressed" */

/* max_batch_size given to a batchable model whose config does not set one. */
#define FG_CONFIG_DEFAULT_MAX_BATCH 8

/* Where a value came from in the file; line 0 = not from the file (a default or completion). */
typedef struct fg_config_pos {
    int line, col;
} fg_config_pos;

/* One input or output. */
typedef struct fg_config_io {
    char *name;
    fg_dtype dtype;            /* FG_DT_UNDEFINED until given or completed */
    int rank;                  /* number of config dims; -1 when the file gave none (completion fills) */
    int64_t dims[FG_MAX_RANK]; /* as in the file: WITHOUT the batch dim when max_batch_size > 0; -1 = any */
    bool optional;             /* input may be omitted from a request (Triton's `optional`) */
    bool has_reshape;          /* reshape { shape }: the model sees reshape_dims (+ the batch dim) */
    int reshape_rank;          /* 0 = a scalar per item */
    int64_t reshape_dims[FG_MAX_RANK];
    fg_config_pos pos;         /* of the entry, for completion's messages */
    /* set by fg_model_config_complete */
    bool from_model;           /* the file did not list it */
    bool narrowed;             /* the file fixes a dim that the model leaves dynamic */
    int model_index;           /* index in the model's inputs (outputs) */
    int full_rank;             /* whole per-request shape: batch dim (-1) first when max_batch_size > 0 */
    int64_t full_dims[FG_MAX_RANK];
} fg_config_io;

typedef enum fg_config_timeout_action {
    FG_TIMEOUT_REJECT = 0, /* a request that times out in the queue fails (the only thing sched does) */
    FG_TIMEOUT_DELAY = 1,  /* Triton: the request stays queued behind fresher ones */
} fg_config_timeout_action;

/* dynamic_batching. Zero when the file has none (see has_dynamic_batching). */
typedef struct fg_config_batching {
    int64_t preferred[FG_CONFIG_MAX_PREFERRED];
    fg_config_pos preferred_pos[FG_CONFIG_MAX_PREFERRED];
    int n_preferred;
    uint64_t max_queue_delay_us;
    bool preserve_ordering;   /* accepted with a warning: requests are answered independently anyway */
    uint64_t priority_levels; /* 0 = no priorities */
    uint64_t default_priority_level;
    /* default_queue_policy */
    fg_config_timeout_action timeout_action;
    uint64_t default_timeout_us; /* 0 = none */
    bool allow_timeout_override;
    uint64_t max_queue_size; /* requests; 0 = unbounded */
} fg_config_batching;

typedef enum fg_config_kind {
    FG_KIND_AUTO = 0,
    FG_KIND_GPU = 1,   /* accepted with a warning: frugal runs on CPU */
    FG_KIND_CPU = 2,
    FG_KIND_MODEL = 3, /* accepted with a warning, as GPU */
} fg_config_kind;

typedef struct fg_config_group {
    char *name; /* NULL when absent */
    int count;  /* >= 1 (1 when absent) */
    fg_config_kind kind;
} fg_config_group;

typedef enum fg_config_version_kind {
    FG_VERSIONS_LATEST = 0,
    FG_VERSIONS_ALL = 1,
    FG_VERSIONS_SPECIFIC = 2,
} fg_config_version_kind;

typedef struct fg_config_version_policy {
    fg_config_version_kind kind;
    uint32_t num_versions; /* LATEST: >= 1 */
    int64_t versions[FG_CONFIG_MAX_VERSIONS]; /* SPECIFIC: >= 0, in file order */
    int n_versions;
} fg_config_version_policy;

typedef enum fg_config_warmup_source {
    FG_WARMUP_ZERO = 0,
    FG_WARMUP_RANDOM = 1,
    FG_WARMUP_FILE = 2, /* file: relative to REPO/<model>/warmup/, as in Triton */
} fg_config_warmup_source;

/* One entry of a warmup sample's `inputs` map. */
typedef struct fg_config_warmup_input {
    char *key; /* the input's name */
    fg_dtype dtype;
    int rank;
    int64_t dims[FG_MAX_RANK]; /* without the batch dim when max_batch_size > 0, as Triton */
    fg_config_warmup_source source;
    char *file; /* FG_WARMUP_FILE only */
} fg_config_warmup_input;

typedef struct fg_config_warmup {
    char *name;
    uint32_t batch_size; /* 1 when absent; <= max_batch_size (1 when max_batch_size is 0) */
    uint32_t count;      /* runs of this sample as in the file; 0 (Triton's default) means one */
    fg_config_warmup_input inputs[FG_CONFIG_MAX_IO];
    size_t n_inputs;
    fg_config_pos pos;
} fg_config_warmup;

/* One `parameters` map entry: key and string_value. */
typedef struct fg_config_param {
    char *key;
    char *value; /* "" when the entry has no string_value */
} fg_config_param;

typedef struct fg_model_config {
    char *label;    /* the label given to parse, prefixed to completion's messages; NULL after init */
    char *name;     /* NULL until given or completed */
    char *platform; /* NULL when absent; else "onnxruntime_onnx" or "onnx" */
    char *backend;  /* NULL when absent; else "onnxruntime", "onnx" or "frugal" */
    int64_t max_batch_size; /* 0 = no batching; config dims then are whole shapes */
    fg_config_io inputs[FG_CONFIG_MAX_IO];
    size_t n_inputs;
    fg_config_io outputs[FG_CONFIG_MAX_IO];
    size_t n_outputs;
    fg_config_batching batching;
    fg_config_group groups[FG_CONFIG_MAX_GROUPS];
    size_t n_groups;
    int instances; /* sum of group counts; 1 without instance_group */
    fg_config_version_policy version_policy;
    fg_config_warmup warmup[FG_CONFIG_MAX_WARMUP];
    size_t n_warmup;
    bool response_cache; /* response_cache.enable */
    fg_config_param params[FG_CONFIG_MAX_PARAMS];
    size_t n_params;
    /* which fields the file had, so completion (and the server) know what to derive */
    bool has_name, has_max_batch_size, has_inputs, has_outputs, has_dynamic_batching;
    bool has_instance_group, has_version_policy, has_model_warmup, has_response_cache;
    bool max_batch_size_derived; /* completion chose max_batch_size */
    fg_config_pos max_batch_size_pos;
} fg_model_config;

/* Warning sink: one line per call (no trailing newline); msg is valid only during the call. May be
 * NULL to drop warnings. */
typedef void (*fg_config_warn_fn)(void *ctx, const char *msg);

/* Sets c to the state of an empty config.pbtxt (every default, nothing allocated). */
void fg_model_config_init(fg_model_config *c);

/* Parses len bytes of text (need not be NUL-terminated) into c, which it initialises first. label names
 * the file in messages ("config.pbtxt"; NULL reads as "config.pbtxt"). Returns 0, or a negative FG_E*
 * code with e filled and c back in its initial state (nothing allocated). On success c owns its strings:
 * free with fg_model_config_free. */
int fg_model_config_parse(const char *text, size_t len, const char *label, fg_model_config *c,
                          fg_config_warn_fn warn, void *warn_ctx, fg_err *e);

/* Reads path (at most FG_CONFIG_MAX_SIZE bytes) and parses it with path as the label; otherwise as
 * fg_model_config_parse (FG_EIO when the file cannot be read, FG_EFORMAT when it is too large). */
int fg_model_config_load(const char *path, fg_model_config *c, fg_config_warn_fn warn, void *warn_ctx,
                         fg_err *e);

/* Auto-completes and validates c against the model named model_name (the repository directory) with
 * inputs in[0..n_in) and outputs out[0..n_out) (read only, not kept). Fills the name, missing inputs and
 * outputs, dtypes, dims, full_dims and max_batch_size, and checks the rest against the model. Returns 0,
 * or a negative FG_E* code with e filled (c may then be partly completed; it still needs
 * fg_model_config_free). */
int fg_model_config_complete(fg_model_config *c, const char *model_name, const fg_tensor_info *in,
                             size_t n_in, const fg_tensor_info *out, size_t n_out, fg_config_warn_fn warn,
                             void *warn_ctx, fg_err *e);

/* Frees every string c owns and re-initialises it (fg_model_config_init). c may be NULL. */
void fg_model_config_free(fg_model_config *c);

/* Triton's name for a dtype ("TYPE_FP32"), static; "TYPE_INVALID" for ones Triton has no name for. */
const char *fg_config_dtype_name(fg_dtype t);

/* Looks up a parameters entry by key; returns its value (owned by c) or NULL. */
const char *fg_model_config_param(const fg_model_config *c, const char *key);

#endif
