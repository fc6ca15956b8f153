/* graph.h - the engine's graph IR: values (tensors by name), nodes (op applications) and attributes,
 * as loaded from ONNX and rewritten by load-time optimisation. Values are referred to by index;
 * constant values own their data. Internal to src/engine. */
#ifndef FG_ENGINE_GRAPH_H
#define FG_ENGINE_GRAPH_H

#include <stdbool.h>

#include "frugal/engine.h"

struct fg_op_def;

typedef enum fg_attr_type {
    FG_ATTR_UNDEF = 0,
    FG_ATTR_FLOAT = 1,
    FG_ATTR_INT = 2,
    FG_ATTR_STRING = 3,
    FG_ATTR_TENSOR = 4,
    FG_ATTR_GRAPH = 5,
    FG_ATTR_FLOATS = 6,
    FG_ATTR_INTS = 7,
    FG_ATTR_STRINGS = 8,
} fg_attr_type;

typedef struct fg_attr {
    char *name;
    fg_attr_type type;
    int64_t i;
    float f;
    char *s; /* NUL-terminated copy */
    size_t s_len;
    int64_t *ints;
    size_t n_ints;
    float *floats;
    size_t n_floats;
    fg_tensor t; /* FG_ATTR_TENSOR; t.data owned by the attribute */
} fg_attr;

typedef struct fg_value {
    char *name;
    fg_tensor t;       /* dtype/rank/dims as declared or inferred (rank -1 unknown); data for constants */
    bool is_const;     /* t.data holds the value and the graph owns it */
    bool is_input;     /* graph input fed by the caller */
    bool is_output;    /* graph output */
    int producer;      /* node index, or -1 */
    int n_uses;        /* live nodes reading it (+1 if graph output) */
} fg_value;

typedef struct fg_node {
    char *name;
    char *op_type;
    char *domain;
    const struct fg_op_def *op; /* NULL when unsupported */
    int opset;                  /* opset version of the node's domain */
    int n_in, n_out;
    int *in;  /* value indices; -1 for an absent optional input */
    int *out; /* value indices; -1 for an absent optional output */
    int n_attrs;
    fg_attr *attrs;
    bool dead; /* folded away or removed by a rewrite */
} fg_node;

typedef struct fg_graph {
    fg_value *values;
    int n_values, cap_values;
    fg_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs; /* value indices of graph inputs, in order */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int opset; /* default domain */
    fg_tensor_info *in_info, *out_info;
} fg_graph;

/* Adds a value named name (copied) and returns its index. */
int fg_graph_add_value(fg_graph *g, const char *name);
/* Index of the value called name, or -1. Linear scan: load time only. */
int fg_graph_find_value(const fg_graph *g, const char *name);
/* Frees everything the graph owns (not g itself). */
void fg_graph_free(fg_graph *g);
/* Frees what an attribute owns. */
void fg_attr_free(fg_attr *a);

/* Attribute access for kernels. Each returns the default when the attribute is absent. */
const fg_attr *fg_attr_get(const fg_node *n, const char *name);
int64_t fg_attr_i(const fg_node *n, const char *name, int64_t def);
float fg_attr_f(const fg_node *n, const char *name, float def);
const char *fg_attr_s(const fg_node *n, const char *name, const char *def);
/* Number of ints in attribute name (and *v points to them), or -1 when absent. */
int fg_attr_ints(const fg_node *n, const char *name, const int64_t **v);
/* Number of floats in attribute name (and *v points to them), or -1 when absent. */
int fg_attr_floats(const fg_node *n, const char *name, const float **v);
/* The tensor of attribute name, or NULL. */
const fg_tensor *fg_attr_t(const fg_node *n, const char *name);

/* Runs load-time optimisation: removes dead nodes, folds constant subgraphs, folds
 * BatchNormalization into a preceding Conv, fuses where profitable. 0 or FG_E*. */
int fg_graph_optimize(fg_graph *g, bool fuse, size_t max_tensor_bytes, fg_err *e);

/* Recomputes n_uses of every value from the live nodes and graph outputs. */
void fg_graph_count_uses(fg_graph *g);

/* Human-readable description of a node for error messages: "Conv 'conv1'". Static buffer per thread. */
const char *fg_node_desc(const fg_node *n);

#endif
