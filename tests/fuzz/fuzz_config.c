/* fuzz_config.c - libFuzzer target for the config.pbtxt reader (src/serve/config.c).
 * The input is the config text, given as an exact-size copy so ASan sees any read past it. Each input
 * that parses is completed against two fixed fake models (digits_mlp's shape, batchable; and one with
 * fixed shapes and an output of unknown rank). Checked: a failed parse leaves a message and nothing
 * allocated; a parsed config keeps its documented limits; a completed one names only model tensors,
 * with shapes that agree with the model; warnings are single non-empty lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/config.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static void warn(void *ctx, const char *msg) {
    (*(int *)ctx)++;
    CHECK(msg[0] != 0 && strchr(msg, '\n') == NULL);
}

static void check_ios(const fg_model_config *c, const fg_config_io *io, size_t n, const fg_tensor_info *mt,
                      size_t n_mt) {
    CHECK(n == n_mt);
    for (size_t i = 0; i < n; i++) {
        CHECK(io[i].model_index >= 0 && (size_t)io[i].model_index < n_mt);
        const fg_tensor_info *t = &mt[io[i].model_index];
        CHECK(strcmp(io[i].name, t->name) == 0);
        CHECK(io[i].dtype == t->dtype);
        if (t->rank >= 0) {
            CHECK(io[i].full_rank == t->rank);
            for (int d = 0; d < t->rank; d++)
                CHECK(t->dims[d] < 0 || io[i].full_dims[d] == t->dims[d]);
        }
        if (c->max_batch_size > 0 && io[i].full_rank >= 0)
            CHECK(io[i].full_rank >= 1 && io[i].full_dims[0] == -1);
    }
}

static void complete(const char *text, size_t len, const char *name, const fg_tensor_info *in, size_t n_in,
                     const fg_tensor_info *out, size_t n_out) {
    fg_model_config c;
    fg_err e = {0};
    int nw = 0;
    CHECK(fg_model_config_parse(text, len, "config.pbtxt", &c, warn, &nw, &e) == 0);
    int rc = fg_model_config_complete(&c, name, in, n_in, out, n_out, warn, &nw, &e);
    if (rc < 0) {
        CHECK(e.msg[0] != 0);
    } else {
        CHECK(strcmp(c.name, name) == 0);
        CHECK(c.max_batch_size >= 0);
        check_ios(&c, c.inputs, c.n_inputs, in, n_in);
        check_ios(&c, c.outputs, c.n_outputs, out, n_out);
        for (int k = 0; k < c.batching.n_preferred && c.max_batch_size > 0; k++)
            CHECK(c.batching.preferred[k] <= c.max_batch_size);
    }
    fg_model_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    fg_model_config c;
    fg_err e = {0};
    int nw = 0;
    int rc = fg_model_config_parse(text, size, "config.pbtxt", &c, warn, &nw, &e);
    CHECK(nw <= FG_CONFIG_MAX_WARNINGS + 1);
    if (rc < 0) {
        CHECK(e.msg[0] != 0);
        CHECK(c.label == NULL && c.name == NULL && c.platform == NULL && c.backend == NULL);
        CHECK(c.n_inputs == 0 && c.n_outputs == 0 && c.n_params == 0 && c.n_warmup == 0 && c.n_groups == 0);
        fg_model_config_free(&c);
        free(text);
        return 0;
    }
    CHECK(c.label != NULL);
    CHECK(c.n_inputs <= FG_CONFIG_MAX_IO && c.n_outputs <= FG_CONFIG_MAX_IO);
    CHECK(c.instances >= 1 && c.instances <= FG_CONFIG_MAX_INSTANCES);
    CHECK(c.max_batch_size >= 0);
    for (size_t i = 0; i < c.n_inputs; i++)
        CHECK(c.inputs[i].name && c.inputs[i].name[0] && c.inputs[i].rank <= FG_MAX_RANK);
    for (size_t i = 0; i < c.n_params; i++)
        CHECK(c.params[i].key && c.params[i].value && fg_model_config_param(&c, c.params[i].key));
    for (size_t s = 0; s < c.n_warmup; s++)
        for (size_t i = 0; i < c.warmup[s].n_inputs; i++)
            CHECK(c.warmup[s].inputs[i].key && c.warmup[s].inputs[i].rank >= 0);
    fg_model_config_free(&c);

    /* digits_mlp: input "input" FP32 [-1,64], output "logits" FP32 [-1,10] */
    fg_tensor_info din = {.name = "input", .dtype = FG_F32, .rank = 2, .dims = {-1, 64}};
    fg_tensor_info dout = {.name = "logits", .dtype = FG_F32, .rank = 2, .dims = {-1, 10}};
    complete(text, size, "digits_mlp", &din, 1, &dout, 1);
    /* fixed shapes, two inputs, an output whose rank the model does not declare */
    fg_tensor_info fin[2] = {{.name = "x", .dtype = FG_I64, .rank = 3, .dims = {1, -1, 4}},
                             {.name = "mask", .dtype = FG_BOOL, .rank = 0}};
    fg_tensor_info fout[1] = {{.name = "y", .dtype = FG_F16, .rank = -1}};
    complete(text, size, "m", fin, 2, fout, 1);
    free(text);
    return 0;
}
