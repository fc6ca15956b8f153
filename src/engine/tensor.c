/* tensor.c - dtype facts and tensor file formats (TensorProto .pb and NumPy .npy).
 * Every length read from a file is checked against the bytes that are actually there before use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/tensor_io.h"
#include "onnx.pb-c.h"

size_t fg_dtype_size(fg_dtype t) {
    switch (t) {
    case FG_F32: case FG_I32: case FG_U32: return 4;
    case FG_U8: case FG_I8: case FG_BOOL: return 1;
    case FG_U16: case FG_I16: case FG_F16: case FG_BF16: return 2;
    case FG_I64: case FG_F64: case FG_U64: return 8;
    default: return 0;
    }
}

const char *fg_dtype_name(fg_dtype t) {
    switch (t) {
    case FG_F32: return "float32";
    case FG_U8: return "uint8";
    case FG_I8: return "int8";
    case FG_U16: return "uint16";
    case FG_I16: return "int16";
    case FG_I32: return "int32";
    case FG_I64: return "int64";
    case FG_STRING: return "string";
    case FG_BOOL: return "bool";
    case FG_F16: return "float16";
    case FG_F64: return "float64";
    case FG_U32: return "uint32";
    case FG_U64: return "uint64";
    case FG_BF16: return "bfloat16";
    default: return "undefined";
    }
}

int64_t fg_tensor_numel(const fg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

char *fg_shape_str(const fg_tensor *t, char *buf, size_t len) {
    size_t o = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < t->rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

/* numel of dims with overflow and negative checks; -1 when invalid */
static int64_t checked_numel(const int64_t *dims, size_t n) {
    int64_t num = 1;
    for (size_t i = 0; i < n; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] && num > INT64_MAX / 16 / dims[i])
            return -1;
        num *= dims[i];
    }
    return num;
}

int fg_tensor_from_proto(const Onnx__TensorProto *p, fg_tensor *t, fg_err *e) {
    memset(t, 0, sizeof *t);
    const char *nm = p->name ? p->name : "";
    if (p->n_dims > FG_MAX_RANK)
        return fg_err_set(e, FG_EUNSUPPORTED, "tensor '%s' has rank %zu (max %d)", nm, p->n_dims, FG_MAX_RANK);
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fg_err_set(e, FG_EUNSUPPORTED, "tensor '%s' uses external data, which is not supported", nm);
    fg_dtype dt = (fg_dtype)p->data_type;
    size_t es = fg_dtype_size(dt);
    if (es == 0)
        return fg_err_set(e, FG_EUNSUPPORTED, "tensor '%s' has unsupported data type %d", nm, (int)p->data_type);
    int64_t n = checked_numel(p->dims, p->n_dims);
    if (n < 0)
        return fg_err_set(e, FG_EFORMAT, "tensor '%s' has invalid dims", nm);
    t->dtype = dt;
    t->rank = (int)p->n_dims;
    for (size_t i = 0; i < p->n_dims; i++)
        t->dims[i] = p->dims[i];
    size_t bytes = (size_t)n * es, got;
    /* check the payload length before allocating: a corrupt dims field must not ask for terabytes */
    if (p->has_raw_data)
        got = p->raw_data.len;
    else if (dt == FG_F32)
        got = p->n_float_data * 4;
    else if (dt == FG_I64)
        got = p->n_int64_data * 8;
    else if (dt == FG_F64)
        got = p->n_double_data * 8;
    else if (dt == FG_U32 || dt == FG_U64)
        got = p->n_uint64_data * es;
    else
        got = p->n_int32_data * es;
    if (got != bytes)
        return fg_err_set(e, FG_EFORMAT, "tensor '%s': %zu data bytes for %lld %s elements (need %zu)", nm,
                          got, (long long)n, fg_dtype_name(dt), bytes);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data)
        return fg_err_set(e, FG_ENOMEM, "tensor '%s': cannot allocate %zu bytes", nm, bytes);
    if (bytes == 0) {
        /* empty tensor: nothing to copy (the proto's arrays may be NULL) */
    } else if (p->has_raw_data) {
        memcpy(t->data, p->raw_data.data, bytes);
    } else {
        switch (dt) {
        case FG_F32: memcpy(t->data, p->float_data, bytes); break;
        case FG_I64: memcpy(t->data, p->int64_data, bytes); break;
        case FG_F64: memcpy(t->data, p->double_data, bytes); break;
        case FG_U32: case FG_U64:
            for (int64_t i = 0; i < n; i++) {
                if (dt == FG_U32)
                    ((uint32_t *)t->data)[i] = (uint32_t)p->uint64_data[i];
                else
                    ((uint64_t *)t->data)[i] = p->uint64_data[i];
            }
            break;
        default: /* int32_data carries int32 and every narrower type, one per element */
            for (int64_t i = 0; i < n; i++) {
                int32_t v = p->int32_data[i];
                switch (es) {
                case 1: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
                case 2: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
                default: ((int32_t *)t->data)[i] = v; break;
                }
            }
            break;
        }
    }
    return 0;
}

int fg_tensor_parse_pb(const void *buf, size_t len, fg_tensor *t, char **name, fg_err *e) {
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!p)
        return fg_err_set(e, FG_EFORMAT, "not a valid TensorProto (%zu bytes)", len);
    int rc = fg_tensor_from_proto(p, t, e);
    if (rc == 0 && name)
        *name = p->name && p->name[0] ? fg_xstrdup(p->name) : NULL;
    onnx__tensor_proto__free_unpacked(p, NULL);
    return rc;
}

int fg_read_file(const char *path, void **buf, size_t *len, fg_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fg_err_set(e, FG_EIO, "cannot open '%s': %s", path, strerror(errno));
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                return fg_err_set(e, FG_ENOMEM, "reading '%s': out of memory", path);
            }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return fg_err_set(e, FG_EIO, "reading '%s' failed", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

/* ---- .npy ---- */

static const struct {
    const char *descr;
    fg_dtype dt;
} npy_types[] = {
    {"<f4", FG_F32}, {"<f8", FG_F64}, {"<i8", FG_I64}, {"<i4", FG_I32}, {"<i2", FG_I16}, {"|i1", FG_I8},
    {"|u1", FG_U8},  {"|b1", FG_BOOL}, {"<u2", FG_U16}, {"<u4", FG_U32}, {"<u8", FG_U64}, {"<f2", FG_F16},
};

int fg_tensor_parse_npy(const void *buf, size_t len, fg_tensor *t, fg_err *e) {
    const unsigned char *b = buf;
    memset(t, 0, sizeof *t);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return fg_err_set(e, FG_EFORMAT, "not a .npy file");
    size_t hl, off;
    if (b[6] == 1) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            return fg_err_set(e, FG_EFORMAT, "truncated .npy header");
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    } else {
        return fg_err_set(e, FG_EFORMAT, ".npy version %d is not supported", b[6]);
    }
    if (hl > len - off)
        return fg_err_set(e, FG_EFORMAT, "truncated .npy header");
    char *h = fg_xstrndup((const char *)b + off, hl);
    int rc = 0;
    const char *d = strstr(h, "'descr'");
    const char *fo = strstr(h, "'fortran_order'");
    const char *sh = strstr(h, "'shape'");
    if (!d || !fo || !sh) {
        rc = fg_err_set(e, FG_EFORMAT, ".npy header lacks descr, fortran_order or shape");
        goto out;
    }
    d = strchr(d + 7, '\'');
    if (!d) {
        rc = fg_err_set(e, FG_EFORMAT, "bad .npy descr");
        goto out;
    }
    d++;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
        size_t dl = strlen(npy_types[i].descr);
        if (strncmp(d, npy_types[i].descr, dl) == 0 && d[dl] == '\'')
            t->dtype = npy_types[i].dt;
        /* single-byte types may be written with '<' or '|' */
        if (npy_types[i].descr[0] == '|' && (d[0] == '<' || d[0] == '>') && strncmp(d + 1, npy_types[i].descr + 1, dl - 1) == 0 && d[dl] == '\'')
            t->dtype = npy_types[i].dt;
    }
    if (!t->dtype) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, ".npy dtype '%.8s' is not supported", d);
        goto out;
    }
    if (strstr(fo, "True") && strstr(fo, "True") < sh) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, ".npy in Fortran order is not supported");
        goto out;
    }
    const char *p = strchr(sh, '(');
    if (!p) {
        rc = fg_err_set(e, FG_EFORMAT, "bad .npy shape");
        goto out;
    }
    p++;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || t->rank == FG_MAX_RANK) {
            rc = fg_err_set(e, FG_EFORMAT, "bad .npy shape");
            goto out;
        }
        t->dims[t->rank++] = v;
        p = end;
    }
    int64_t n = checked_numel(t->dims, (size_t)t->rank);
    size_t bytes = n < 0 ? 0 : (size_t)n * fg_dtype_size(t->dtype);
    if (n < 0 || bytes != len - off - hl) {
        rc = fg_err_set(e, FG_EFORMAT, ".npy payload is %zu bytes, shape needs %zu", len - off - hl, bytes);
        goto out;
    }
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data) {
        rc = fg_err_set(e, FG_ENOMEM, ".npy: cannot allocate %zu bytes", bytes);
        goto out;
    }
    memcpy(t->data, b + off + hl, bytes);
out:
    free(h);
    return rc;
}

int fg_tensor_write_npy(const char *path, const fg_tensor *t, fg_err *e) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dt == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return fg_err_set(e, FG_EUNSUPPORTED, "cannot write %s as .npy", fg_dtype_name(t->dtype));
    char h[512];
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, "%lld,%s", (long long)t->dims[i], i + 1 < t->rank ? " " : "");
    n += snprintf(h + n, sizeof h - (size_t)n, "), }");
    while ((10 + n + 1) % 64)
        h[n++] = ' ';
    h[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return fg_err_set(e, FG_EIO, "cannot create '%s': %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    size_t bytes = (size_t)fg_tensor_numel(t) * fg_dtype_size(t->dtype);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, (size_t)n, f) == (size_t)n &&
             fwrite(t->data, 1, bytes, f) == bytes;
    if (fclose(f) != 0 || !ok)
        return fg_err_set(e, FG_EIO, "writing '%s' failed", path);
    return 0;
}

int fg_tensor_write_pb(const char *path, const fg_tensor *t, const char *name, fg_err *e) {
    Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
    p.n_dims = (size_t)t->rank;
    p.dims = (int64_t *)t->dims;
    p.has_data_type = 1;
    p.data_type = (int32_t)t->dtype;
    p.name = (char *)(name ? name : "");
    p.has_raw_data = 1;
    p.raw_data.len = (size_t)fg_tensor_numel(t) * fg_dtype_size(t->dtype);
    p.raw_data.data = t->data;
    size_t sz = onnx__tensor_proto__get_packed_size(&p);
    uint8_t *buf = malloc(sz ? sz : 1);
    if (!buf)
        return fg_err_set(e, FG_ENOMEM, "writing '%s': out of memory", path);
    onnx__tensor_proto__pack(&p, buf);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return fg_err_set(e, FG_EIO, "cannot create '%s': %s", path, strerror(errno));
    }
    int ok = fwrite(buf, 1, sz, f) == sz;
    free(buf);
    if (fclose(f) != 0 || !ok)
        return fg_err_set(e, FG_EIO, "writing '%s' failed", path);
    return 0;
}

int fg_tensor_read_file(const char *path, fg_tensor *t, fg_err *e) {
    void *buf;
    size_t len;
    int rc = fg_read_file(path, &buf, &len, e);
    if (rc < 0)
        return rc;
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        rc = fg_tensor_parse_npy(buf, len, t, e);
    else
        rc = fg_tensor_parse_pb(buf, len, t, NULL, e);
    free(buf);
    if (rc < 0)
        fg_err_prefix(e, "%s: ", path);
    return rc;
}
