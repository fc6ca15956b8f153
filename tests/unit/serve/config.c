/* Tests for src/serve/config.c: config.pbtxt text-format parsing, mapping onto fg_model_config, warnings
 * for unknown/unsupported fields, error messages with positions, and completion against a model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/config.h"

/* ---- helpers ---- */

typedef struct warnings {
    int n;
    char msg[80][256];
} warnings;

static void collect(void *ctx, const char *msg) {
    warnings *w = ctx;
    if (w->n < 80)
        snprintf(w->msg[w->n], sizeof w->msg[0], "%s", msg);
    w->n++;
}

static int parse(const char *text, fg_model_config *c, warnings *w, fg_err *e) {
    if (w)
        memset(w, 0, sizeof *w);
    fg_err_clear(e);
    return fg_model_config_parse(text, strlen(text), "config.pbtxt", c, w ? collect : NULL, w, e);
}

/* Parses text and expects failure with code and exactly msg; *c must be left initial. */
static void expect_error(const char *text, int code, const char *msg) {
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    int rc = parse(text, &c, &w, &e);
    if (rc != code || strcmp(e.msg, msg) != 0)
        fprintf(stderr, "text: %s\n got %d '%s'\nwant %d '%s'\n", text, rc, e.msg, code, msg);
    assert_int_equal(rc, code);
    assert_string_equal(e.msg, msg);
    assert_null(c.name);
    assert_null(c.label);
    assert_int_equal(c.n_inputs, 0);
    assert_int_equal(c.instances, 1);
    fg_model_config_free(&c); /* harmless */
}

/* Parses text (must succeed) and expects the warnings, in order, exactly. */
static void expect_warnings(const char *text, const char *const *want, int n_want) {
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    int rc = parse(text, &c, &w, &e);
    if (rc != 0)
        fprintf(stderr, "unexpected error: %s\n", e.msg);
    assert_int_equal(rc, 0);
    if (w.n != n_want)
        for (int k = 0; k < w.n && k < 80; k++)
            fprintf(stderr, "warning %d: %s\n", k, w.msg[k]);
    assert_int_equal(w.n, n_want);
    for (int k = 0; k < n_want; k++)
        assert_string_equal(w.msg[k], want[k]);
    fg_model_config_free(&c);
}

static fg_tensor_info tinfo(const char *name, fg_dtype dt, int rank, const int64_t *dims) {
    fg_tensor_info t = {.name = name, .dtype = dt, .rank = rank};
    for (int k = 0; k < rank; k++)
        t.dims[k] = dims[k];
    return t;
}

/* models/digits_mlp.onnx: input "input" FP32 [-1,64], output "logits" FP32 [-1,10] */
static fg_tensor_info DIGITS_IN[1], DIGITS_OUT[1];
static void digits_model(void) {
    DIGITS_IN[0] = tinfo("input", FG_F32, 2, (int64_t[]){-1, 64});
    DIGITS_OUT[0] = tinfo("logits", FG_F32, 2, (int64_t[]){-1, 10});
}

static int complete_digits(fg_model_config *c, warnings *w, fg_err *e) {
    digits_model();
    if (w)
        memset(w, 0, sizeof *w);
    fg_err_clear(e);
    return fg_model_config_complete(c, "digits_mlp", DIGITS_IN, 1, DIGITS_OUT, 1, collect, w, e);
}

/* Parses text (must succeed), completes it against digits, and expects code and msg. */
static void expect_complete_error(const char *text, int code, const char *msg) {
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    assert_int_equal(parse(text, &c, &w, &e), 0);
    int rc = complete_digits(&c, &w, &e);
    if (rc != code || strcmp(e.msg, msg) != 0)
        fprintf(stderr, "text: %s\n got %d '%s'\nwant %d '%s'\n", text, rc, e.msg, code, msg);
    assert_int_equal(rc, code);
    assert_string_equal(e.msg, msg);
    fg_model_config_free(&c);
}

/* ---- parsing ---- */

static const char FULL[] =
    "# A config that uses every field of the subset, in every spelling the text format allows.\n"
    "name: \"digits_mlp\"\n"
    "platform: 'onnxruntime_onnx'; backend: \"onnxruntime\",\n"
    "max_batch_size: 0x20\n"
    "input [\n"
    "  {\n"
    "    name: \"input\"\n"
    "    data_type: TYPE_FP32\n"
    "    dims: [ -1 ]  # list form\n"
    "  },\n"
    "  < name: \"mask\", data_type: TYPE_BOOL, dims: 4 dims: 2; optional: true >\n"
    "]\n"
    "input { name: 'ids' data_type: 9 dims: [] }\n"
    "output: { name: \"lo\\x67its\" data_type: TYPE_FP32 dims: [ 10 ] }\n"
    "output < name: \"a\\tb\\\\c\\\"d\\'e\\101\\n\" data_type: TYPE_BF16 dims: 1 >\n"
    "dynamic_batching {\n"
    "  preferred_batch_size: [ 4, 8 ]\n"
    "  preferred_batch_size: 16\n"
    "  max_queue_delay_microseconds: 2500\n"
    "  priority_levels: 3\n"
    "  default_priority_level: 2\n"
    "  default_queue_policy: {\n"
    "    timeout_action: DELAY\n"
    "    default_timeout_microseconds: 1000000\n"
    "    allow_timeout_override: true\n"
    "    max_queue_size: 64\n"
    "  }\n"
    "}\n"
    "instance_group [ { name: \"cpu\" count: 2 kind: KIND_CPU }, { count: 3, kind: KIND_AUTO } ]\n"
    "instance_group { kind: KIND_CPU }\n"
    "version_policy: { specific: { versions: [1, 3] versions: 7 } }\n"
    "model_warmup [\n"
    "  {\n"
    "    name: \"zeros\"\n"
    "    batch_size: 8\n"
    "    inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 64 ] zero_data: true } }\n"
    "    inputs [ { key: \"ids\" value { data_type: TYPE_INT64 random_data: true } } ]\n"
    "    count: 3\n"
    "  },\n"
    "  { name: \"file\" inputs < key: \"input\" value < data_type: TYPE_FP32 dims: 64 input_data_file: \"raw\" > > }\n"
    "]\n"
    "response_cache { enable: True }\n"
    "parameters { key: \"intra_op_thread_count\" value: { string_value: \"4\" } }\n"
    "parameters: [ { key: \"k2\" value { string_value: 'v' 'w' } }, { key: \"empty\" value {} } ]\n"
    "parameters { key: \"intra_op_thread_count\" value { string_value: \"2\" } } # map: last wins\n";

static void config_parses_full_example(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    int rc = parse(FULL, &c, &w, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(w.n, 0);
    assert_string_equal(c.label, "config.pbtxt");
    assert_string_equal(c.name, "digits_mlp");
    assert_string_equal(c.platform, "onnxruntime_onnx");
    assert_string_equal(c.backend, "onnxruntime");
    assert_true(c.has_name && c.has_max_batch_size && c.has_inputs && c.has_outputs);
    assert_int_equal(c.max_batch_size, 32);
    assert_int_equal(c.max_batch_size_pos.line, 4);
    assert_int_equal(c.max_batch_size_pos.col, 1);

    assert_int_equal(c.n_inputs, 3);
    assert_string_equal(c.inputs[0].name, "input");
    assert_int_equal(c.inputs[0].dtype, FG_F32);
    assert_int_equal(c.inputs[0].rank, 1);
    assert_int_equal(c.inputs[0].dims[0], -1);
    assert_false(c.inputs[0].optional);
    assert_int_equal(c.inputs[0].pos.line, 6);
    assert_string_equal(c.inputs[1].name, "mask");
    assert_int_equal(c.inputs[1].dtype, FG_BOOL);
    assert_int_equal(c.inputs[1].rank, 2);
    assert_int_equal(c.inputs[1].dims[0], 4);
    assert_int_equal(c.inputs[1].dims[1], 2);
    assert_true(c.inputs[1].optional);
    assert_string_equal(c.inputs[2].name, "ids");
    assert_int_equal(c.inputs[2].dtype, FG_I64); /* enum by number */
    assert_int_equal(c.inputs[2].rank, 0);       /* dims: [] is a scalar, not "absent" */

    assert_int_equal(c.n_outputs, 2);
    assert_string_equal(c.outputs[0].name, "logits");
    assert_int_equal(c.outputs[0].dims[0], 10);
    assert_string_equal(c.outputs[1].name, "a\tb\\c\"d'eA\n");
    assert_int_equal(c.outputs[1].dtype, FG_BF16);

    assert_true(c.has_dynamic_batching);
    assert_int_equal(c.batching.n_preferred, 3);
    assert_int_equal(c.batching.preferred[0], 4);
    assert_int_equal(c.batching.preferred[1], 8);
    assert_int_equal(c.batching.preferred[2], 16);
    assert_int_equal(c.batching.preferred_pos[2].line, 18);
    assert_int_equal(c.batching.max_queue_delay_us, 2500);
    assert_false(c.batching.preserve_ordering);
    assert_int_equal(c.batching.priority_levels, 3);
    assert_int_equal(c.batching.default_priority_level, 2);
    assert_int_equal(c.batching.timeout_action, FG_TIMEOUT_DELAY);
    assert_int_equal(c.batching.default_timeout_us, 1000000);
    assert_true(c.batching.allow_timeout_override);
    assert_int_equal(c.batching.max_queue_size, 64);

    assert_true(c.has_instance_group);
    assert_int_equal(c.n_groups, 3);
    assert_string_equal(c.groups[0].name, "cpu");
    assert_int_equal(c.groups[0].count, 2);
    assert_int_equal(c.groups[0].kind, FG_KIND_CPU);
    assert_null(c.groups[1].name);
    assert_int_equal(c.groups[1].count, 3);
    assert_int_equal(c.groups[1].kind, FG_KIND_AUTO);
    assert_int_equal(c.groups[2].count, 1);
    assert_int_equal(c.instances, 6);

    assert_true(c.has_version_policy);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_SPECIFIC);
    assert_int_equal(c.version_policy.n_versions, 3);
    assert_int_equal(c.version_policy.versions[0], 1);
    assert_int_equal(c.version_policy.versions[1], 3);
    assert_int_equal(c.version_policy.versions[2], 7);

    assert_true(c.has_model_warmup);
    assert_int_equal(c.n_warmup, 2);
    assert_string_equal(c.warmup[0].name, "zeros");
    assert_int_equal(c.warmup[0].batch_size, 8);
    assert_int_equal(c.warmup[0].count, 3);
    assert_int_equal(c.warmup[0].n_inputs, 2);
    assert_string_equal(c.warmup[0].inputs[0].key, "input");
    assert_int_equal(c.warmup[0].inputs[0].dtype, FG_F32);
    assert_int_equal(c.warmup[0].inputs[0].rank, 1);
    assert_int_equal(c.warmup[0].inputs[0].dims[0], 64);
    assert_int_equal(c.warmup[0].inputs[0].source, FG_WARMUP_ZERO);
    assert_string_equal(c.warmup[0].inputs[1].key, "ids");
    assert_int_equal(c.warmup[0].inputs[1].source, FG_WARMUP_RANDOM);
    assert_int_equal(c.warmup[0].inputs[1].rank, 0);
    assert_int_equal(c.warmup[1].batch_size, 1);
    assert_int_equal(c.warmup[1].count, 0);
    assert_int_equal(c.warmup[1].inputs[0].source, FG_WARMUP_FILE);
    assert_string_equal(c.warmup[1].inputs[0].file, "raw");

    assert_true(c.has_response_cache);
    assert_true(c.response_cache);

    assert_int_equal(c.n_params, 3);
    assert_string_equal(fg_model_config_param(&c, "intra_op_thread_count"), "2");
    assert_string_equal(fg_model_config_param(&c, "k2"), "vw");
    assert_string_equal(fg_model_config_param(&c, "empty"), "");
    assert_null(fg_model_config_param(&c, "nope"));
    fg_model_config_free(&c);
    assert_null(c.name);
    fg_model_config_free(&c); /* twice is harmless */
}

static void config_defaults_of_empty_config(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    assert_int_equal(parse("  # nothing here\n\n", &c, NULL, &e), 0);
    assert_null(c.name);
    assert_false(c.has_max_batch_size || c.has_dynamic_batching || c.has_instance_group || c.has_version_policy);
    assert_int_equal(c.instances, 1);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_LATEST);
    assert_int_equal(c.version_policy.num_versions, 1);
    assert_int_equal(c.batching.timeout_action, FG_TIMEOUT_REJECT);
    fg_model_config_free(&c);
    /* dynamic_batching {} means what it means in Triton: no delay */
    assert_int_equal(parse("dynamic_batching {}\nname: ''", &c, NULL, &e), 0);
    assert_true(c.has_dynamic_batching);
    assert_int_equal(c.batching.max_queue_delay_us, 0);
    assert_int_equal(c.batching.n_preferred, 0);
    assert_null(c.name); /* proto3: "" is no value */
    assert_false(c.has_name);
    fg_model_config_free(&c);
    /* an empty instance_group list is no group: still one instance */
    assert_int_equal(parse("instance_group: []", &c, NULL, &e), 0);
    assert_true(c.has_instance_group);
    assert_int_equal(c.n_groups, 0);
    assert_int_equal(c.instances, 1);
    fg_model_config_free(&c);
}

static void config_parses_densenet_and_resnet(void **state) {
    (void)state;
    /* Triton's densenet_onnx example, as shipped */
    const char *densenet =
        "name: \"densenet_onnx\"\n"
        "platform: \"onnxruntime_onnx\"\n"
        "max_batch_size : 0\n"
        "input [\n"
        "  {\n"
        "    name: \"data_0\"\n"
        "    data_type: TYPE_FP32\n"
        "    format: FORMAT_NCHW\n"
        "    dims: [ 3, 224, 224 ]\n"
        "    reshape { shape: [ 1, 3, 224, 224 ] }\n"
        "  }\n"
        "]\n"
        "output [\n"
        "  {\n"
        "    name: \"fc6_1\"\n"
        "    data_type: TYPE_FP32\n"
        "    dims: [ 1000 ]\n"
        "    reshape { shape: [ 1, 1000, 1, 1 ] }\n"
        "    label_filename: \"densenet_labels.txt\"\n"
        "  }\n"
        "]\n";
    const char *want[] = {
        "config.pbtxt: ignoring unsupported field 'input[0].format'",
        "config.pbtxt: ignoring unsupported field 'output[0].label_filename'",
    };
    expect_warnings(densenet, want, 2);
    fg_model_config c;
    fg_err e = {0};
    assert_int_equal(parse(densenet, &c, NULL, &e), 0);
    assert_true(c.has_max_batch_size);
    assert_int_equal(c.max_batch_size, 0);
    assert_int_equal(c.inputs[0].rank, 3);
    assert_int_equal(c.inputs[0].dims[2], 224);
    assert_true(c.inputs[0].has_reshape);
    assert_int_equal(c.inputs[0].reshape_rank, 4);
    assert_int_equal(c.outputs[0].dims[0], 1000);
    assert_int_equal(c.outputs[0].reshape_rank, 4);
    /* completes against the real model's shapes: the request sees dims, the model reshape */
    fg_tensor_info din = {.name = "data_0", .dtype = FG_F32, .rank = 4, .dims = {1, 3, 224, 224}};
    fg_tensor_info dout = {.name = "fc6_1", .dtype = FG_F32, .rank = 4, .dims = {1, 1000, 1, 1}};
    assert_int_equal(fg_model_config_complete(&c, "densenet_onnx", &din, 1, &dout, 1, NULL, NULL, &e), 0);
    assert_int_equal(c.inputs[0].full_rank, 3);
    assert_int_equal(c.outputs[0].full_rank, 1);
    assert_int_equal(c.outputs[0].full_dims[0], 1000);
    fg_model_config_free(&c);
    /* a reshape of another size is an error naming both */
    const char *bad = "input [{ name: \"data_0\" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] "
                      "reshape { shape: [ 1, 3, 224, 225 ] } }]";
    assert_int_equal(parse(bad, &c, NULL, &e), 0);
    assert_int_equal(fg_model_config_complete(&c, "densenet_onnx", &din, 1, &dout, 1, NULL, NULL, &e), FG_ESHAPE);
    assert_non_null(strstr(e.msg, "differ in size"));
    fg_model_config_free(&c);

    const char *resnet =
        "name: \"resnet50\"\n"
        "platform: \"onnxruntime_onnx\"\n"
        "max_batch_size: 128\n"
        "version_policy: { latest: { num_versions: 2}}\n"
        "input [{ name: \"input\", data_type: TYPE_FP32, dims: [3, 224, 224] }]\n"
        "output [{ name: \"output\", data_type: TYPE_FP32, dims: [1000] }]\n"
        "instance_group [ { count: 2, kind: KIND_CPU } ]\n"
        "dynamic_batching { preferred_batch_size: [ 32, 64 ] max_queue_delay_microseconds: 100 }\n"
        "optimization { execution_accelerators { cpu_execution_accelerator : [ { name : \"openvino\" } ] } }\n";
    warnings w;
    assert_int_equal(parse(resnet, &c, &w, &e), 0);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "config.pbtxt: ignoring unsupported field 'optimization'");
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_LATEST);
    assert_int_equal(c.version_policy.num_versions, 2);
    fg_tensor_info in = tinfo("input", FG_F32, 4, (int64_t[]){-1, 3, 224, 224});
    fg_tensor_info out = tinfo("output", FG_F32, 2, (int64_t[]){-1, 1000});
    int rc = fg_model_config_complete(&c, "resnet50", &in, 1, &out, 1, collect, &w, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(c.max_batch_size, 128);
    assert_false(c.max_batch_size_derived);
    assert_int_equal(c.inputs[0].full_rank, 4);
    assert_int_equal(c.inputs[0].full_dims[0], -1);
    assert_int_equal(c.inputs[0].full_dims[1], 3);
    assert_int_equal(c.instances, 2);
    fg_model_config_free(&c);
}

static void config_warns_for_unknown_fields_with_paths(void **state) {
    (void)state;
    const char *text =
        "max_batch_sise: 8\n"
        "sequence_batching { max_sequence_idle_microseconds: 5000000 }\n"
        "dynamic_batching { foo: 1 bar { baz: [1, 2] } foo: 2 preserve_ordering: true\n"
        "  priority_queue_policy { key: 1 value { max_queue_size: 1 } }\n"
        "  default_queue_policy { qux: 'x' } }\n"
        "input { name: 'x' allow_ragged_batch: true is_shape_tensor: false whatever <> }\n"
        "instance_group [ { kind: KIND_GPU gpus: [0, 1] } ]\n"
        "version_policy { all {} latest_typo: 3 }\n"
        "model_warmup { name: 'w' inputs { key: 'x' value { data_type: TYPE_FP32 zero_data: true extra: 1 } } }\n"
        "parameters { key: 'k' value { string_value: 'v' int_value: 3 } }\n"
        "response_cache { enable: false, size: 1 }\n"
        "ensemble_scheduling { step [] }\n"
        "model_transaction_policy { decoupled: true }\n";
    const char *want[] = {
        "config.pbtxt: ignoring unknown field 'max_batch_sise'",
        "config.pbtxt: ignoring unsupported field 'sequence_batching'",
        "config.pbtxt: ignoring unknown field 'dynamic_batching.foo'",
        "config.pbtxt: ignoring unknown field 'dynamic_batching.bar'",
        "config.pbtxt: dynamic_batching.preserve_ordering has no effect: frugal answers each request independently",
        "config.pbtxt: ignoring unsupported field 'dynamic_batching.priority_queue_policy'",
        "config.pbtxt: ignoring unknown field 'dynamic_batching.default_queue_policy.qux'",
        "config.pbtxt: ignoring unsupported field 'input[0].allow_ragged_batch'",
        "config.pbtxt: ignoring unsupported field 'input[0].is_shape_tensor'",
        "config.pbtxt: ignoring unknown field 'input[0].whatever'",
        "config.pbtxt: instance_group[0].kind KIND_GPU: frugal runs every instance on CPU",
        "config.pbtxt: ignoring unsupported field 'instance_group[0].gpus'",
        "config.pbtxt: ignoring unknown field 'version_policy.latest_typo'",
        "config.pbtxt: ignoring unknown field 'model_warmup[0].inputs[0].value.extra'",
        "config.pbtxt: ignoring unknown field 'parameters[0].value.int_value'",
        "config.pbtxt: ignoring unknown field 'response_cache.size'",
        "config.pbtxt: ignoring unsupported field 'ensemble_scheduling'",
        "config.pbtxt: ignoring unsupported field 'model_transaction_policy'",
    };
    expect_warnings(text, want, (int)(sizeof want / sizeof want[0]));

    /* a flood of unknown fields: capped, with one line saying so */
    char big[8192];
    size_t k = 0;
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "f%d: %d\n", i, i);
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    assert_int_equal(parse(big, &c, &w, &e), 0);
    assert_int_equal(w.n, FG_CONFIG_MAX_WARNINGS + 1);
    assert_string_equal(w.msg[FG_CONFIG_MAX_WARNINGS], "config.pbtxt: further warnings suppressed");
    fg_model_config_free(&c);
    /* no callback: fine */
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_parse(big, strlen(big), NULL, &c, NULL, NULL, &e), 0);
    fg_model_config_free(&c);
}

static void config_syntax_errors_name_line_and_column(void **state) {
    (void)state;
    expect_error("name: \"x\"\nmax_batch_size 8\n", FG_EFORMAT,
                 "config.pbtxt:2:16: expected ':' or '{' after 'max_batch_size', got '8'");
    expect_error("input {\n  name: \"x\"\n  dims\n}\n", FG_EFORMAT,
                 "config.pbtxt:4:1: expected ':' or '{' after 'dims', got '}'");
    expect_error("name: \"abc\n\"", FG_EFORMAT, "config.pbtxt:1:7: unterminated string");
    expect_error("name: 'abc", FG_EFORMAT, "config.pbtxt:1:7: unterminated string");
    expect_error("input {\n name: 'x'\n", FG_EFORMAT, "config.pbtxt:1:7: unterminated message: expected '}'");
    expect_error("input < name: 'x' }", FG_EFORMAT, "config.pbtxt:1:19: expected a field name, got '}'");
    expect_error("input { dims: [1, 2 }", FG_EFORMAT,
                 "config.pbtxt:1:21: expected ',' or ']' in the list for 'dims', got '}'");
    expect_error("input { dims: [1, 2,] }", FG_EFORMAT, "config.pbtxt:1:21: expected a value for 'dims', got ']'");
    expect_error("input { dims: [1, 2", FG_EFORMAT, "config.pbtxt:1:15: unterminated list for 'dims'");
    expect_error("input [ 1 ]", FG_EFORMAT, "config.pbtxt:1:9: expected '{' in the list for 'input', got '1'");
    expect_error("max_batch_size:", FG_EFORMAT, "config.pbtxt:1:16: expected a value for 'max_batch_size', got end of input");
    expect_error("max_batch_size: }", FG_EFORMAT, "config.pbtxt:1:17: expected a value for 'max_batch_size', got '}'");
    expect_error("}", FG_EFORMAT, "config.pbtxt:1:1: expected a field name, got '}'");
    expect_error("max_batch_size: 12abc", FG_EFORMAT, "config.pbtxt:1:17: invalid number '12abc'");
    expect_error("max_batch_size: 0x", FG_EFORMAT, "config.pbtxt:1:17: invalid number '0x'");
    expect_error("max_batch_size: 09", FG_EFORMAT, "config.pbtxt:1:17: invalid number '09'");
    expect_error("name: 'a\\qb'", FG_EFORMAT, "config.pbtxt:1:9: unknown escape '\\q'");
    expect_error("name: 'a\\x'", FG_EFORMAT, "config.pbtxt:1:9: \\x needs a hex digit");
    expect_error("name: 'a\\0b'", FG_EFORMAT, "config.pbtxt:1:9: NUL character in string");
    expect_error("name: 'a\\x00'", FG_EFORMAT, "config.pbtxt:1:9: NUL character in string");
    expect_error("name: 'a\\777'", FG_EFORMAT, "config.pbtxt:1:9: octal escape above \\377");
    expect_error("\tname: @", FG_EFORMAT, "config.pbtxt:1:8: expected a value for 'name', got '@'");
}

static void config_type_and_range_errors_name_the_field(void **state) {
    (void)state;
    expect_error("max_batch_size: \"x\"", FG_EINVAL, "config.pbtxt:1:1: max_batch_size: expected an integer, got a string");
    expect_error("max_batch_size: 1.5", FG_EINVAL, "config.pbtxt:1:1: max_batch_size: expected an integer, got float 1.5");
    expect_error("max_batch_size { }", FG_EINVAL, "config.pbtxt:1:1: max_batch_size: expected an integer, got a message");
    expect_error("max_batch_size: -1", FG_EINVAL,
                 "config.pbtxt:1:1: max_batch_size: -1 is out of range (0..2147483647)");
    expect_error("max_batch_size: 2147483648", FG_EINVAL,
                 "config.pbtxt:1:1: max_batch_size: 2147483648 is out of range (0..2147483647)");
    expect_error("name: 'a'\nname: 'b'", FG_EINVAL,
                 "config.pbtxt:2:1: name: non-repeated field given twice (first at 1:1)");
    expect_error("name: x", FG_EINVAL, "config.pbtxt:1:1: name: expected a string, got 'x'");
    expect_error("input [ { name: 'x' dims: [ \"a\" ] } ]", FG_EINVAL,
                 "config.pbtxt:1:29: input[0].dims: expected an integer, got a string");
    expect_error("input { name: 'x' dims: [ 3, 0 ] }", FG_EINVAL,
                 "config.pbtxt:1:30: input[0].dims: dimension 0 must be >= 1, or -1 for any size");
    expect_error("input { name: 'x' dims: -2 }", FG_EINVAL,
                 "config.pbtxt:1:19: input[0].dims: -2 is out of range (-1..9223372036854775807)");
    expect_error("input { name: 'x' dims: [1,1,1,1,1,1,1,1,1] }", FG_EUNSUPPORTED,
                 "config.pbtxt:1:42: input[0].dims: more than 8 dimensions");
    expect_error("input { data_type: TYPE_FP32 }", FG_EINVAL, "config.pbtxt:1:1: input[0]: missing 'name'");
    expect_error("input { name: 'x' data_type: TYPE_STRING }", FG_EUNSUPPORTED,
                 "config.pbtxt:1:19: input[0].data_type: TYPE_STRING tensors are not supported");
    expect_error("output { name: 'x' data_type: TYPE_FLOAT }", FG_EINVAL,
                 "config.pbtxt:1:20: output[0].data_type: unknown data type 'TYPE_FLOAT'");
    expect_error("output { name: 'x' data_type: TYPE_INVALID }", FG_EINVAL,
                 "config.pbtxt:1:20: output[0].data_type: TYPE_INVALID is not a data type");
    expect_error("input { name: 'x' } input { name: 'x' }", FG_EINVAL,
                 "config.pbtxt:1:21: input[1]: input 'x' is listed twice");
    expect_error("input { name: 'x' optional: maybe }", FG_EINVAL,
                 "config.pbtxt:1:19: input[0].optional: expected true or false, got 'maybe'");
    expect_error("platform: \"tensorrt_plan\"", FG_EUNSUPPORTED,
                 "config.pbtxt:1:1: platform: platform 'tensorrt_plan' is not supported (frugal serves ONNX: onnxruntime_onnx)");
    expect_error("backend: \"python\"", FG_EUNSUPPORTED,
                 "config.pbtxt:1:1: backend: backend 'python' is not supported (frugal serves ONNX: onnxruntime)");
    expect_error("max_batch_size: 8\ndynamic_batching { preferred_batch_size: [ 4, 16 ] }", FG_EINVAL,
                 "config.pbtxt:2:47: dynamic_batching.preferred_batch_size: 16 is larger than max_batch_size 8 (1:1)");
    expect_error("dynamic_batching { preferred_batch_size: 0 }", FG_EINVAL,
                 "config.pbtxt:1:20: dynamic_batching.preferred_batch_size: 0 is out of range (1..2147483647)");
    expect_error("dynamic_batching { preferred_batch_size: [1,2,3,4,5,6,7,8,9] }", FG_EUNSUPPORTED,
                 "config.pbtxt:1:59: dynamic_batching.preferred_batch_size: more than 8 preferred batch sizes");
    expect_error("dynamic_batching { priority_levels: 2 default_priority_level: 3 }", FG_EINVAL,
                 "config.pbtxt:1:39: dynamic_batching.default_priority_level: default_priority_level 3 is out of range (1..2)");
    expect_error("dynamic_batching { priority_levels: 2 }", FG_EINVAL,
                 "config.pbtxt:1:1: dynamic_batching: default_priority_level 0 is out of range (1..2)");
    expect_error("dynamic_batching { default_priority_level: 1 }", FG_EINVAL,
                 "config.pbtxt:1:20: dynamic_batching.default_priority_level: default_priority_level 1 is out of range: priority_levels is 0");
    expect_error("dynamic_batching { priority_levels: 5000 }", FG_EINVAL,
                 "config.pbtxt:1:20: dynamic_batching.priority_levels: 5000 is out of range (0..1024)");
    expect_error("dynamic_batching { max_queue_delay_microseconds: -5 }", FG_EINVAL,
                 "config.pbtxt:1:20: dynamic_batching.max_queue_delay_microseconds: -5 is negative");
    expect_error("dynamic_batching { default_queue_policy { timeout_action: DROP } }", FG_EINVAL,
                 "config.pbtxt:1:43: dynamic_batching.default_queue_policy.timeout_action: unknown timeout action (REJECT or DELAY) 'DROP'");
    expect_error("dynamic_batching: 3", FG_EINVAL,
                 "config.pbtxt:1:1: dynamic_batching: expected a message ('{ ... }'), got integer 3");
    expect_error("instance_group [ { count: 0 } ]", FG_EINVAL,
                 "config.pbtxt:1:20: instance_group[0].count: 0 is out of range (1..256)");
    expect_error("instance_group [ { count: 200 }, { count: 100 } ]", FG_EUNSUPPORTED,
                 "config.pbtxt:1:34: instance_group[1]: more than 256 instances in all");
    expect_error("instance_group { kind: KIND_TPU }", FG_EINVAL,
                 "config.pbtxt:1:18: instance_group[0].kind: unknown instance kind 'KIND_TPU'");
    expect_error("version_policy { latest { num_versions: 1 } all {} }", FG_EINVAL,
                 "config.pbtxt:1:45: version_policy.all: only one of latest, all and specific may be given (latest at 1:18)");
    expect_error("version_policy { latest { num_versions: 0 } }", FG_EINVAL,
                 "config.pbtxt:1:27: version_policy.latest.num_versions: must be at least 1");
    expect_error("version_policy { specific { } }", FG_EINVAL,
                 "config.pbtxt:1:18: version_policy.specific: lists no versions");
    expect_error("version_policy { specific { versions: [1, -2] } }", FG_EINVAL,
                 "config.pbtxt:1:43: version_policy.specific.versions: -2 is out of range (0..9223372036854775807)");
    expect_error("model_warmup { inputs { key: 'x' value { data_type: TYPE_FP32 } } }", FG_EINVAL,
                 "config.pbtxt:1:34: model_warmup[0].inputs[0].value: needs one of zero_data, random_data or input_data_file");
    expect_error("model_warmup { inputs { key: 'x' value { zero_data: true random_data: true data_type: TYPE_FP32 } } }",
                 FG_EINVAL,
                 "config.pbtxt:1:58: model_warmup[0].inputs[0].value.random_data: only one of zero_data, random_data and input_data_file may be given (zero_data at 1:42)");
    expect_error("model_warmup { inputs { value { zero_data: true data_type: TYPE_FP32 } } }", FG_EINVAL,
                 "config.pbtxt:1:16: model_warmup[0].inputs[0]: missing 'key'");
    expect_error("model_warmup { inputs { key: 'x' value { zero_data: true } } }", FG_EINVAL,
                 "config.pbtxt:1:34: model_warmup[0].inputs[0].value: missing 'data_type'");
    expect_error("parameters { value { string_value: 'v' } }", FG_EINVAL, "config.pbtxt:1:1: parameters[0]: missing 'key'");
    expect_error("parameters { key: 'k' value { string_value: 3 } }", FG_EINVAL,
                 "config.pbtxt:1:31: parameters[0].value.string_value: expected a string, got integer 3");
    expect_error("response_cache { enable: 2 }", FG_EINVAL,
                 "config.pbtxt:1:18: response_cache.enable: expected true or false, got integer 2");

    /* more than 16 inputs */
    char text[4096];
    size_t k = 0;
    for (int i = 0; i < 17; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "input { name: 'i%d' }\n", i);
    expect_error(text, FG_EUNSUPPORTED, "config.pbtxt:17:1: input[16]: more than 16 inputs");
}

static void config_hostile_inputs_fail_cleanly(void **state) {
    (void)state;
    /* deep nesting, both styles */
    char deep[4096];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, i & 1 ? "a <" : "a {");
    expect_error(deep, FG_EFORMAT, "config.pbtxt:1:99: messages nested deeper than 32 levels");
    k = 0;
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "a: [{");
    expect_error(deep, FG_EFORMAT, "config.pbtxt:1:165: messages nested deeper than 32 levels");
    /* 31 levels of unknown nesting is fine */
    k = 0;
    for (int i = 0; i < 31; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "a {");
    for (int i = 0; i < 31; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "}");
    const char *want[] = {"config.pbtxt: ignoring unknown field 'a'"};
    expect_warnings(deep, want, 1);

    expect_error("max_batch_size: 99999999999999999999999", FG_EFORMAT,
                 "config.pbtxt:1:17: integer '99999999999999999999999' is out of range");
    expect_error("max_batch_size: 18446744073709551615", FG_EINVAL,
                 "config.pbtxt:1:1: max_batch_size: 18446744073709551615 is out of range");
    expect_error("input { name: 'x' dims: -9223372036854775809 }", FG_EINVAL,
                 "config.pbtxt:1:19: input[0].dims: -9223372036854775809 is out of range");
    expect_error("input { name: 'x' dims: -9223372036854775808 }", FG_EINVAL,
                 "config.pbtxt:1:19: input[0].dims: -9223372036854775808 is out of range (-1..9223372036854775807)");

    /* NUL bytes: in the middle of the text and inside a string */
    fg_model_config c;
    fg_err e = {0};
    const char nul[] = "name: 'a'\n\0max_batch_size: 1";
    assert_int_equal(fg_model_config_parse(nul, sizeof nul - 1, "m/config.pbtxt", &c, NULL, NULL, &e), FG_EFORMAT);
    assert_string_equal(e.msg, "m/config.pbtxt:2:1: expected a field name, got '\\x00'");
    assert_null(c.name);
    fg_err_clear(&e);
    const char nul2[] = "name: 'a\0b'";
    assert_int_equal(fg_model_config_parse(nul2, sizeof nul2 - 1, NULL, &c, NULL, NULL, &e), FG_EFORMAT);
    assert_string_equal(e.msg, "config.pbtxt:1:9: NUL byte in string");
    /* text that is not NUL-terminated is read only up to len */
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_parse("max_batch_size: 12345", 18, NULL, &c, NULL, NULL, &e), 0);
    assert_int_equal(c.max_batch_size, 12);
    fg_model_config_free(&c);
    /* too large */
    fg_err_clear(&e);
    char *huge = calloc(FG_CONFIG_MAX_SIZE + 1, 1);
    memset(huge, ' ', FG_CONFIG_MAX_SIZE + 1);
    assert_int_equal(fg_model_config_parse(huge, FG_CONFIG_MAX_SIZE + 1, NULL, &c, NULL, NULL, &e), FG_EFORMAT);
    assert_string_equal(e.msg, "config.pbtxt: 1048577 bytes is larger than the 1048576-byte limit");
    /* a field-count flood within the size limit */
    fg_err_clear(&e);
    size_t n = 0;
    for (int i = 0; i < 70000; i++)
        n += (size_t)snprintf(huge + n, FG_CONFIG_MAX_SIZE - n, "a:1\n");
    assert_int_equal(fg_model_config_parse(huge, n, NULL, &c, NULL, NULL, &e), FG_EFORMAT);
    assert_string_equal(e.msg, "config.pbtxt:65537:1: more than 65536 fields");
    free(huge);
    /* garbage bytes */
    fg_err_clear(&e);
    const char bin[] = "\xff\xfe\x01";
    assert_int_equal(fg_model_config_parse(bin, 3, NULL, &c, NULL, NULL, &e), FG_EFORMAT);
    assert_string_equal(e.msg, "config.pbtxt:1:1: expected a field name, got '\\xff'");
    /* empty input with NULL text */
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_parse(NULL, 0, NULL, &c, NULL, NULL, &e), 0);
    fg_model_config_free(&c);
}

static void config_load_reads_files(void **state) {
    (void)state;
    char path[] = "/tmp/fg_config_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "max_batch_size: 4\nfoo: 1\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fg_model_config c;
    fg_err e = {0};
    warnings w = {0};
    assert_int_equal(fg_model_config_load(path, &c, collect, &w, &e), 0);
    assert_int_equal(c.max_batch_size, 4);
    assert_string_equal(c.label, path);
    char want[256];
    snprintf(want, sizeof want, "%s: ignoring unknown field 'foo'", path);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], want);
    fg_model_config_free(&c);
    /* too large */
    FILE *f = fopen(path, "wb");
    for (unsigned i = 0; i <= FG_CONFIG_MAX_SIZE; i++)
        fputc(' ', f);
    fclose(f);
    assert_int_equal(fg_model_config_load(path, &c, NULL, NULL, &e), FG_EFORMAT);
    unlink(path);
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_load("/nonexistent/config.pbtxt", &c, NULL, NULL, &e), FG_EIO);
    assert_string_equal(e.msg, "/nonexistent/config.pbtxt: No such file or directory");
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_load("/tmp", &c, NULL, NULL, &e), FG_EIO);
    fg_model_config_free(&c);
}

/* ---- completion ---- */

static void config_completes_empty_config_from_model(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    fg_model_config_init(&c);
    assert_int_equal(complete_digits(&c, &w, &e), 0);
    assert_int_equal(w.n, 0);
    assert_string_equal(c.name, "digits_mlp");
    assert_int_equal(c.max_batch_size, FG_CONFIG_DEFAULT_MAX_BATCH);
    assert_true(c.max_batch_size_derived);
    assert_false(c.has_dynamic_batching);
    assert_int_equal(c.n_inputs, 1);
    assert_string_equal(c.inputs[0].name, "input");
    assert_int_equal(c.inputs[0].dtype, FG_F32);
    assert_int_equal(c.inputs[0].rank, 1);
    assert_int_equal(c.inputs[0].dims[0], 64);
    assert_int_equal(c.inputs[0].full_rank, 2);
    assert_int_equal(c.inputs[0].full_dims[0], -1);
    assert_int_equal(c.inputs[0].full_dims[1], 64);
    assert_true(c.inputs[0].from_model);
    assert_int_equal(c.inputs[0].model_index, 0);
    assert_int_equal(c.n_outputs, 1);
    assert_string_equal(c.outputs[0].name, "logits");
    assert_int_equal(c.outputs[0].dims[0], 10);
    assert_int_equal(c.outputs[0].full_dims[1], 10);
    assert_int_equal(c.instances, 1);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_LATEST);
    assert_int_equal(c.version_policy.num_versions, 1);
    fg_model_config_free(&c);

    /* a model without a dynamic batch dim: max_batch_size 0 and whole shapes */
    fg_model_config_init(&c);
    fg_tensor_info in = tinfo("x", FG_I64, 2, (int64_t[]){1, 64});
    fg_tensor_info out = tinfo("y", FG_F32, -1, NULL);
    assert_int_equal(fg_model_config_complete(&c, "m", &in, 1, &out, 1, NULL, NULL, &e), 0);
    assert_int_equal(c.max_batch_size, 0);
    assert_int_equal(c.inputs[0].rank, 2);
    assert_int_equal(c.inputs[0].dims[0], 1);
    assert_int_equal(c.inputs[0].full_rank, 2);
    assert_int_equal(c.outputs[0].rank, -1); /* the model does not say */
    assert_int_equal(c.outputs[0].full_rank, -1);
    fg_model_config_free(&c);

    /* an output of unknown rank does not stop batching; a scalar input does */
    fg_model_config_init(&c);
    in = tinfo("x", FG_F32, 2, (int64_t[]){-1, 3});
    assert_int_equal(fg_model_config_complete(&c, "m", &in, 1, &out, 1, NULL, NULL, &e), 0);
    assert_int_equal(c.max_batch_size, 8);
    fg_model_config_free(&c);
    fg_model_config_init(&c);
    fg_tensor_info ins[2] = {in, tinfo("s", FG_F32, 0, NULL)};
    assert_int_equal(fg_model_config_complete(&c, "m", ins, 2, &out, 1, NULL, NULL, &e), 0);
    assert_int_equal(c.max_batch_size, 0);
    fg_model_config_free(&c);
}

static void config_completes_partial_config(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    /* dims with a -1 and the batch dim excluded; output omitted; dtype omitted (frugal extension) */
    assert_int_equal(parse("name: 'digits_mlp'\nmax_batch_size: 16\ninput { name: 'input' dims: [-1] }\n"
                           "dynamic_batching { preferred_batch_size: 16 }",
                           &c, &w, &e),
                     0);
    int rc = complete_digits(&c, &w, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(c.max_batch_size, 16);
    assert_int_equal(c.inputs[0].dtype, FG_F32);
    assert_false(c.inputs[0].from_model);
    assert_false(c.inputs[0].narrowed);
    assert_int_equal(c.inputs[0].dims[0], -1);
    assert_int_equal(c.inputs[0].full_dims[1], 64); /* the model knows better than -1 */
    assert_true(c.outputs[0].from_model);
    fg_model_config_free(&c);

    /* a fixed config dim where the model is dynamic: fine, recorded */
    fg_tensor_info in = tinfo("x", FG_F32, 3, (int64_t[]){-1, -1, 5});
    fg_tensor_info out = tinfo("y", FG_F32, 2, (int64_t[]){-1, 2});
    assert_int_equal(parse("input { name: 'x' data_type: TYPE_FP32 dims: [7, 5] }", &c, &w, &e), 0);
    assert_int_equal(fg_model_config_complete(&c, "m", &in, 1, &out, 1, NULL, NULL, &e), 0);
    assert_true(c.inputs[0].narrowed);
    assert_int_equal(c.inputs[0].full_rank, 3);
    assert_int_equal(c.inputs[0].full_dims[0], -1);
    assert_int_equal(c.inputs[0].full_dims[1], 7);
    assert_int_equal(c.inputs[0].full_dims[2], 5);
    fg_model_config_free(&c);

    /* max_batch_size 0: config dims are the whole shape */
    assert_int_equal(parse("max_batch_size: 0\ninput { name: 'input' data_type: TYPE_FP32 dims: [ 3, 64 ] }\n"
                           "output { name: 'logits' dims: [ -1, 10 ] }\ndynamic_batching { }",
                           &c, &w, &e),
                     0);
    assert_int_equal(complete_digits(&c, &w, &e), 0);
    assert_int_equal(c.max_batch_size, 0);
    assert_false(c.max_batch_size_derived);
    assert_true(c.inputs[0].narrowed);
    assert_int_equal(c.inputs[0].full_rank, 2);
    assert_int_equal(c.inputs[0].full_dims[0], 3);
    assert_int_equal(c.outputs[0].full_dims[0], -1);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "config.pbtxt: dynamic_batching has no effect: max_batch_size is 0");
    fg_model_config_free(&c);
}

static void config_completion_errors(void **state) {
    (void)state;
    expect_complete_error("name: 'other'", FG_EINVAL,
                          "config.pbtxt: name 'other' does not match the model's directory 'digits_mlp'");
    expect_complete_error("max_batch_size: 8\ninput { name: 'input' dims: [32] }", FG_ESHAPE,
                          "config.pbtxt:2:1: input 'input': config dims [32] do not match the model's [-1,64] with max_batch_size 8");
    expect_complete_error("input { name: 'input' dims: [-1, 64] }", FG_ESHAPE,
                          "config.pbtxt:1:1: input 'input': config dims [-1,64] do not match the model's [-1,64] with max_batch_size 8");
    expect_complete_error("max_batch_size: 0\ninput { name: 'input' dims: [64] }", FG_ESHAPE,
                          "config.pbtxt:2:1: input 'input': config dims [64] do not match the model's [-1,64] with max_batch_size 0");
    expect_complete_error("output [{ name: 'logits' data_type: TYPE_INT64 }]", FG_EDTYPE,
                          "config.pbtxt:1:9: output 'logits': config data_type TYPE_INT64 does not match the model's TYPE_FP32");
    expect_complete_error("input { name: 'images' }", FG_ENOTFOUND,
                          "config.pbtxt:1:1: input 'images' is not an input of the model (it has 'input')");
    expect_complete_error("output { name: 'probs' }", FG_ENOTFOUND,
                          "config.pbtxt:1:1: output 'probs' is not an output of the model (it has 'logits')");
    expect_complete_error("dynamic_batching { preferred_batch_size: [ 4, 32 ] }", FG_EINVAL,
                          "config.pbtxt:1:47: dynamic_batching.preferred_batch_size: 32 is larger than max_batch_size 8 (the default for a batchable model; set max_batch_size)");
    expect_complete_error("model_warmup { batch_size: 9 inputs { key: 'input' value { data_type: TYPE_FP32 dims: 64 zero_data: true } } }",
                          FG_EINVAL, "config.pbtxt:1:1: model_warmup[0]: batch_size 9 is out of range (1..8)");
    expect_complete_error("model_warmup { inputs { key: 'nope' value { data_type: TYPE_FP32 zero_data: true } } }",
                          FG_ENOTFOUND, "config.pbtxt:1:1: model_warmup[0]: 'nope' is not an input of the model");
    expect_complete_error("model_warmup { inputs { key: 'input' value { data_type: TYPE_FP16 dims: 64 zero_data: true } } }",
                          FG_EDTYPE, "config.pbtxt:1:1: model_warmup[0]: input 'input' is TYPE_FP16, the model's is TYPE_FP32");
    expect_complete_error("model_warmup { inputs { key: 'input' value { data_type: TYPE_FP32 dims: [1, 64] random_data: true } } }",
                          FG_ESHAPE, "config.pbtxt:1:1: model_warmup[0]: input 'input' dims [1,64] do not fit the input's [64]");
    expect_complete_error("model_warmup { name: 'empty' }", FG_EINVAL,
                          "config.pbtxt:1:1: model_warmup[0]: no data for input 'input'");

    /* a model whose batch dim is fixed cannot take max_batch_size > 0 */
    fg_model_config c;
    fg_err e = {0};
    assert_int_equal(parse("max_batch_size: 4", &c, NULL, &e), 0);
    fg_tensor_info in = tinfo("x", FG_F32, 2, (int64_t[]){1, 64});
    assert_int_equal(fg_model_config_complete(&c, "m", &in, 1, NULL, 0, NULL, NULL, &e), FG_ESHAPE);
    assert_string_equal(e.msg, "config.pbtxt:1:1: input 'x': max_batch_size 4 needs a dynamic first dimension, but the model's shape is [1,64]");
    fg_model_config_free(&c);
    /* no name anywhere */
    fg_model_config_init(&c);
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_complete(&c, NULL, &in, 1, NULL, 0, NULL, NULL, &e), FG_EINVAL);
    assert_string_equal(e.msg, "no model name");
    fg_model_config_free(&c);
    /* too many model inputs */
    fg_tensor_info many[17];
    for (int i = 0; i < 17; i++)
        many[i] = in;
    fg_model_config_init(&c);
    fg_err_clear(&e);
    assert_int_equal(fg_model_config_complete(&c, "m", many, 17, NULL, 0, NULL, NULL, &e), FG_EUNSUPPORTED);
    fg_model_config_free(&c);
}

static void config_warmup_and_parameters_maps(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    warnings w;
    const char *text =
        "model_warmup [\n"
        "  { name: 'a' batch_size: 4 count: 2\n"
        "    inputs { key: 'input' value { data_type: TYPE_FP32 dims: [ 64 ] random_data: true } }\n"
        "    inputs { key: 'input' value { data_type: TYPE_FP32 dims: 64 input_data_file: 'in.raw' } } },\n"
        "  { name: 'b' batch_size: 0 inputs: [ { key: 'input', value: < data_type: TYPE_FP32, zero_data: false, dims: [64] > } ] }\n"
        "]\n"
        "parameters: { key: 'a' value: { string_value: '1' } }\n"
        "parameters [ { key: 'b' value { } } ]\n"
        "parameters { key: 'a' value { string_value: '2' } }\n";
    assert_int_equal(parse(text, &c, &w, &e), 0);
    assert_int_equal(w.n, 0);
    assert_int_equal(c.n_warmup, 2);
    assert_int_equal(c.warmup[0].n_inputs, 1); /* same key twice: the last entry wins */
    assert_int_equal(c.warmup[0].inputs[0].source, FG_WARMUP_FILE);
    assert_string_equal(c.warmup[0].inputs[0].file, "in.raw");
    assert_int_equal(c.warmup[0].count, 2);
    assert_int_equal(c.warmup[1].batch_size, 1); /* 0 reads as 1 */
    assert_int_equal(c.warmup[1].inputs[0].source, FG_WARMUP_ZERO);
    assert_int_equal(c.n_params, 2);
    assert_string_equal(c.params[0].key, "a");
    assert_string_equal(c.params[0].value, "2");
    assert_string_equal(c.params[1].key, "b");
    assert_string_equal(c.params[1].value, "");
    assert_int_equal(complete_digits(&c, &w, &e), 0);
    fg_model_config_free(&c);

    /* warmup batch_size must be 1 without batching */
    assert_int_equal(parse("max_batch_size: 0 model_warmup { batch_size: 2 inputs { key: 'input' value { "
                           "data_type: TYPE_FP32 dims: [1, 64] zero_data: true } } }",
                           &c, &w, &e),
                     0);
    assert_int_equal(complete_digits(&c, &w, &e), FG_EINVAL);
    assert_string_equal(e.msg, "config.pbtxt:1:19: model_warmup[0]: batch_size 2 is out of range (1..1)");
    fg_model_config_free(&c);
}

static void config_version_policy_forms(void **state) {
    (void)state;
    fg_model_config c;
    fg_err e = {0};
    assert_int_equal(parse("version_policy: { latest: { num_versions: 3 } }", &c, NULL, &e), 0);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_LATEST);
    assert_int_equal(c.version_policy.num_versions, 3);
    fg_model_config_free(&c);
    assert_int_equal(parse("version_policy < latest < > >", &c, NULL, &e), 0);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_LATEST);
    assert_int_equal(c.version_policy.num_versions, 1);
    fg_model_config_free(&c);
    assert_int_equal(parse("version_policy { all {} }", &c, NULL, &e), 0);
    assert_true(c.has_version_policy);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_ALL);
    fg_model_config_free(&c);
    assert_int_equal(parse("version_policy { specific { versions: 2 versions: [4, 0x10] } }", &c, NULL, &e), 0);
    assert_int_equal(c.version_policy.kind, FG_VERSIONS_SPECIFIC);
    assert_int_equal(c.version_policy.n_versions, 3);
    assert_int_equal(c.version_policy.versions[0], 2);
    assert_int_equal(c.version_policy.versions[2], 16);
    fg_model_config_free(&c);
}

static void config_dtype_names(void **state) {
    (void)state;
    const char *names[] = {"TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
                           "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16",
                           "TYPE_FP32", "TYPE_FP64", "TYPE_BF16"};
    fg_dtype want[] = {FG_BOOL, FG_U8, FG_U16, FG_U32, FG_U64, FG_I8, FG_I16,
                       FG_I32,  FG_I64, FG_F16, FG_F32, FG_F64, FG_BF16};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "input { name: 'x' data_type: %s }", names[i]);
        fg_model_config c;
        fg_err e = {0};
        assert_int_equal(parse(text, &c, NULL, &e), 0);
        assert_int_equal(c.inputs[0].dtype, want[i]);
        assert_string_equal(fg_config_dtype_name(want[i]), names[i]);
        fg_model_config_free(&c);
    }
    assert_string_equal(fg_config_dtype_name(FG_DT_UNDEFINED), "TYPE_INVALID");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_parses_full_example),
        cmocka_unit_test(config_defaults_of_empty_config),
        cmocka_unit_test(config_parses_densenet_and_resnet),
        cmocka_unit_test(config_warns_for_unknown_fields_with_paths),
        cmocka_unit_test(config_syntax_errors_name_line_and_column),
        cmocka_unit_test(config_type_and_range_errors_name_the_field),
        cmocka_unit_test(config_hostile_inputs_fail_cleanly),
        cmocka_unit_test(config_load_reads_files),
        cmocka_unit_test(config_completes_empty_config_from_model),
        cmocka_unit_test(config_completes_partial_config),
        cmocka_unit_test(config_completion_errors),
        cmocka_unit_test(config_warmup_and_parameters_maps),
        cmocka_unit_test(config_version_policy_forms),
        cmocka_unit_test(config_dtype_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
