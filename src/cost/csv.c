/* csv.c - streaming RFC 4180 reader (see csv.h). */
#include "cost/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_BUF (64u << 10)
#define C_EOF (-1)
#define C_ERR (-2)

struct fg_csv {
    FILE *f;
    int own_f;
    gzFile gz;
    char *label;
    unsigned char in[IN_BUF];
    size_t in_pos, in_len;
    int in_eof;
    int pb; /* pushed-back byte or -1 */
    char *rec;
    size_t rec_len, rec_cap;
    size_t *off;  /* field start offsets into rec */
    size_t *len;  /* field lengths */
    fg_csv_field *fields;
    size_t nf, fcap;
    long line;
    int too_long, too_many;
    int fatal;            /* sticky fatal code, 0 if none */
    char fatal_msg[512];
};

static int set_fatal(fg_csv *c, fg_err *e, int code, const char *what) {
    c->fatal = code;
    snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: %s", c->label, c->line, what);
    return fg_err_set(e, code, "%s", c->fatal_msg);
}

/* Refills the input buffer. Returns bytes read, 0 at end, C_ERR on failure (fatal_msg prepared). */
static long refill(fg_csv *c) {
    if (c->in_eof)
        return 0;
    long n;
    if (c->gz) {
        int k = gzread(c->gz, c->in, IN_BUF);
        int errnum = Z_OK;
        const char *m = gzerror(c->gz, &errnum);
        if (k < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: gzip: %s", c->label, c->line,
                     m && *m ? m : "read failed");
            return C_ERR;
        }
        n = k;
    } else {
        n = (long)fread(c->in, 1, IN_BUF, c->f);
        if (n == 0 && ferror(c->f)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: read failed: %s", c->label, c->line,
                     strerror(errno));
            return C_ERR;
        }
    }
    if (n == 0) {
        c->in_eof = 1; /* keep the old bytes in place: the BOM check may step back over them */
        return 0;
    }
    c->in_pos = 0;
    c->in_len = (size_t)n;
    return n;
}

static inline int get(fg_csv *c) {
    if (c->pb >= 0) {
        int ch = c->pb;
        c->pb = -1;
        return ch;
    }
    if (c->in_pos == c->in_len) {
        long n = refill(c);
        if (n < 0)
            return C_ERR;
        if (n == 0)
            return C_EOF;
    }
    return c->in[c->in_pos++];
}

static inline int peek(fg_csv *c) {
    if (c->pb < 0)
        c->pb = get(c);
    return c->pb;
}

static fg_csv *open_common(FILE *f, int own_f, const char *label, fg_err *e) {
    fg_csv *c = calloc(1, sizeof *c);
    if (!c) {
        if (own_f)
            fclose(f);
        fg_err_set(e, FG_ENOMEM, "%s: out of memory", label);
        return NULL;
    }
    c->f = f;
    c->own_f = own_f;
    c->pb = -1;
    c->line = 1;
    c->label = strdup(label);
    if (!c->label) {
        fg_csv_close(c);
        fg_err_set(e, FG_ENOMEM, "%s: out of memory", label);
        return NULL;
    }
    /* Detect gzip from the first two bytes, then rewind the descriptor for zlib. */
    off_t start = ftello(f);
    int b0 = getc(f), b1 = b0 == EOF ? EOF : getc(f);
    if (b0 == 0x1f && b1 == 0x8b) {
        int fd = fileno(f);
        if (start < 0 || fd < 0 || fseeko(f, start, SEEK_SET) != 0 || lseek(fd, start, SEEK_SET) != start) {
            fg_csv_close(c);
            fg_err_set(e, FG_EIO, "%s: gzip input must be seekable", label);
            return NULL;
        }
        int fd2 = dup(fd);
        c->gz = fd2 >= 0 ? gzdopen(fd2, "rb") : NULL;
        if (!c->gz) {
            if (fd2 >= 0)
                close(fd2);
            fg_csv_close(c);
            fg_err_set(e, FG_EIO, "%s: cannot open gzip stream", label);
            return NULL;
        }
        gzbuffer(c->gz, IN_BUF);
    } else {
        if (ferror(f)) {
            fg_csv_close(c);
            fg_err_set(e, FG_EIO, "%s: read failed: %s", label, strerror(errno));
            return NULL;
        }
        /* Put the peeked bytes in front of the buffer. */
        if (b0 != EOF)
            c->in[c->in_len++] = (unsigned char)b0;
        if (b1 != EOF)
            c->in[c->in_len++] = (unsigned char)b1;
        if (b0 == EOF || b1 == EOF)
            c->in_eof = 1;
        else /* fill the rest so that the BOM check below reads from this one buffer */
            c->in_len += fread(c->in + c->in_len, 1, IN_BUF - c->in_len, f);
    }
    /* Skip a UTF-8 BOM. */
    unsigned char bom[3];
    int nb = 0;
    while (nb < 3) {
        int ch = get(c);
        if (ch == C_ERR) {
            fg_err_set(e, FG_EIO, "%s", c->fatal_msg);
            fg_csv_close(c);
            return NULL;
        }
        if (ch == C_EOF)
            break;
        bom[nb++] = (unsigned char)ch;
        if (bom[nb - 1] != (unsigned char)"\xEF\xBB\xBF"[nb - 1])
            break;
    }
    if (!(nb == 3 && memcmp(bom, "\xEF\xBB\xBF", 3) == 0)) {
        /* Step back over the bytes read: the first fill holds min(3, input size) bytes, and a refill
         * that finds nothing leaves the buffer in place. */
        size_t back = (size_t)nb;
        if (back > c->in_pos) {
            fg_csv_close(c);
            fg_err_set(e, FG_EINTERNAL, "%s: BOM check lost bytes", label);
            return NULL;
        }
        c->in_pos -= back;
    }
    return c;
}

fg_csv *fg_csv_open(const char *path, fg_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fg_err_set(e, FG_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return open_common(f, 1, path, e);
}

fg_csv *fg_csv_open_stream(FILE *f, const char *label, fg_err *e) {
    if (!f)
        return fg_err_set(e, FG_EINVAL, "%s: no stream", label ? label : "csv"), NULL;
    return open_common(f, 0, label ? label : "csv", e);
}

void fg_csv_close(fg_csv *c) {
    if (!c)
        return;
    if (c->gz)
        gzclose(c->gz);
    if (c->own_f && c->f)
        fclose(c->f);
    free(c->label);
    free(c->rec);
    free(c->off);
    free(c->len);
    free(c->fields);
    free(c);
}

long fg_csv_line(const fg_csv *c) { return c->line; }
const char *fg_csv_label(const fg_csv *c) { return c->label; }
int fg_csv_is_gzip(const fg_csv *c) { return c->gz != NULL; }

/* Appends one byte to the record; past the limit the record is marked too long and nothing is stored. */
static inline int append(fg_csv *c, int ch) {
    if (c->too_long)
        return 0;
    if (c->rec_len >= FG_CSV_MAX_RECORD) {
        c->too_long = 1;
        return 0;
    }
    if (c->rec_len == c->rec_cap) {
        size_t cap = c->rec_cap ? c->rec_cap * 2 : 4096;
        if (cap > FG_CSV_MAX_RECORD)
            cap = FG_CSV_MAX_RECORD;
        char *p = realloc(c->rec, cap);
        if (!p)
            return FG_ENOMEM;
        c->rec = p;
        c->rec_cap = cap;
    }
    c->rec[c->rec_len++] = (char)ch;
    return 0;
}

static int end_field(fg_csv *c, size_t start) {
    if (c->too_many || c->nf >= FG_CSV_MAX_FIELDS) {
        c->too_many = 1;
        return 0;
    }
    if (c->nf == c->fcap) {
        size_t cap = c->fcap ? c->fcap * 2 : 64;
        size_t *o = realloc(c->off, cap * sizeof *o);
        if (!o)
            return FG_ENOMEM;
        c->off = o;
        size_t *l = realloc(c->len, cap * sizeof *l);
        if (!l)
            return FG_ENOMEM;
        c->len = l;
        fg_csv_field *f = realloc(c->fields, cap * sizeof *f);
        if (!f)
            return FG_ENOMEM;
        c->fields = f;
        c->fcap = cap;
    }
    c->off[c->nf] = c->too_long ? 0 : start;
    c->len[c->nf] = c->too_long ? 0 : c->rec_len - start;
    c->nf++;
    return 0;
}

/* Consumes a record end that starts with ch ('\n' or '\r'), counting one line. Returns 0 or C_ERR. */
static int eat_eol(fg_csv *c, int ch) {
    c->line++;
    if (ch == '\r') {
        int n = peek(c);
        if (n == C_ERR)
            return C_ERR;
        if (n == '\n')
            c->pb = -1;
    }
    return 0;
}

/* After a syntax error: skip the rest of the physical line (unquoted rules). */
static int skip_line(fg_csv *c) {
    for (;;) {
        int ch = get(c);
        if (ch == C_ERR)
            return C_ERR;
        if (ch == C_EOF)
            return 0;
        if (ch == '\n' || ch == '\r')
            return eat_eol(c, ch);
    }
}

int fg_csv_next(fg_csv *c, fg_csv_record *r, fg_err *e) {
    if (c->fatal)
        return fg_err_set(e, c->fatal, "%s", c->fatal_msg);
    int ch;
    for (;;) { /* skip empty lines */
        ch = get(c);
        if (ch == C_ERR)
            goto io_error;
        if (ch == C_EOF)
            return 0;
        if (ch != '\n' && ch != '\r')
            break;
        if (eat_eol(c, ch) < 0)
            goto io_error;
    }
    c->rec_len = 0;
    c->nf = 0;
    c->too_long = c->too_many = 0;
    long start_line = c->line;
    int rc;
    for (;;) { /* one field per iteration; ch is its first byte */
        size_t start = c->rec_len;
        if (ch == '"') {
            long qline = c->line;
            for (;;) {
                ch = get(c);
                if (ch == C_ERR)
                    goto io_error;
                if (ch == C_EOF)
                    return fg_err_set(e, FG_EFORMAT, "%s:%ld: unterminated quoted field starting at line %ld",
                                      c->label, qline, qline);
                if (ch == '"') {
                    ch = get(c);
                    if (ch == C_ERR)
                        goto io_error;
                    if (ch != '"')
                        break;
                } else if (ch == '\n') {
                    c->line++;
                } else if (ch == '\r') {
                    c->line++;
                    int n = peek(c);
                    if (n == C_ERR)
                        goto io_error;
                    if (n == '\n') {
                        c->pb = -1;
                        if ((rc = append(c, '\r')) < 0)
                            goto nomem;
                        ch = '\n';
                    }
                }
                if ((rc = append(c, ch)) < 0)
                    goto nomem;
            }
            if (ch != ',' && ch != '\n' && ch != '\r' && ch != C_EOF) {
                long l = c->line;
                if (skip_line(c) < 0)
                    goto io_error;
                return fg_err_set(e, FG_EFORMAT, "%s:%ld: unexpected character after closing quote", c->label,
                                  l);
            }
        } else {
            while (ch != ',' && ch != '\n' && ch != '\r' && ch != C_EOF) {
                if (ch == '"') {
                    long l = c->line;
                    if (skip_line(c) < 0)
                        goto io_error;
                    return fg_err_set(e, FG_EFORMAT, "%s:%ld: quote inside unquoted field", c->label, l);
                }
                if ((rc = append(c, ch)) < 0)
                    goto nomem;
                ch = get(c);
                if (ch == C_ERR)
                    goto io_error;
            }
        }
        if ((rc = end_field(c, start)) < 0)
            goto nomem;
        if (ch == ',') {
            ch = get(c);
            if (ch == C_ERR)
                goto io_error;
            continue;
        }
        if (ch != C_EOF && eat_eol(c, ch) < 0)
            goto io_error;
        break;
    }
    if (c->too_long)
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: record longer than %u bytes", c->label, start_line,
                          FG_CSV_MAX_RECORD);
    if (c->too_many)
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: record has more than %u fields", c->label, start_line,
                          FG_CSV_MAX_FIELDS);
    for (size_t i = 0; i < c->nf; i++) {
        c->fields[i].p = c->rec ? c->rec + c->off[i] : "";
        c->fields[i].n = c->len[i];
    }
    r->fields = c->fields;
    r->n = c->nf;
    r->line = start_line;
    return 1;
io_error:
    c->fatal = FG_EIO;
    return fg_err_set(e, FG_EIO, "%s", c->fatal_msg);
nomem:
    return set_fatal(c, e, FG_ENOMEM, "out of memory");
}
