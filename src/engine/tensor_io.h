/* tensor_io.h - tensors to and from files: ONNX TensorProto (.pb, the layout of ONNX's own test data)
 * and NumPy .npy. Used by the loader (initializers), the CLI (--input/--output) and the tests. */
#ifndef FG_ENGINE_TENSOR_IO_H
#define FG_ENGINE_TENSOR_IO_H

#include <stddef.h>

#include "frugal/engine.h"

struct Onnx__TensorProto;

/* Converts a decoded TensorProto into t; t->data is malloc'd (caller frees). String tensors and
 * external data are FG_EUNSUPPORTED; a payload whose length does not match the dims is FG_EFORMAT. */
int fg_tensor_from_proto(const struct Onnx__TensorProto *p, fg_tensor *t, fg_err *e);

/* Parses serialized TensorProto bytes into t (t->data malloc'd, caller frees); *name receives a
 * malloc'd copy of the tensor's name (or NULL) when name is not NULL. */
int fg_tensor_parse_pb(const void *buf, size_t len, fg_tensor *t, char **name, fg_err *e);

/* Reads a .pb (TensorProto) or .npy file, chosen by content, into t (t->data malloc'd, caller frees). */
int fg_tensor_read_file(const char *path, fg_tensor *t, fg_err *e);

/* Writes t as a serialized TensorProto (raw_data) with the given name (may be NULL). */
int fg_tensor_write_pb(const char *path, const fg_tensor *t, const char *name, fg_err *e);

/* Writes t as a .npy file (format 1.0, little-endian, C order). */
int fg_tensor_write_npy(const char *path, const fg_tensor *t, fg_err *e);

/* Parses .npy bytes into t (t->data malloc'd, caller frees). */
int fg_tensor_parse_npy(const void *buf, size_t len, fg_tensor *t, fg_err *e);

/* Reads a whole file into a malloc'd buffer (caller frees); *len receives its size. */
int fg_read_file(const char *path, void **buf, size_t *len, fg_err *e);

#endif
