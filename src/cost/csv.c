/* csv.c - streaming RFC 4180 reader (see csv.h). */
#include "cost/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define READ_CHUNK (256u << 10)               /* bytes asked of one read */
#define BUF_MAX (FG_CSV_MAX_RECORD + (64u << 10)) /* the buffer never grows past one whole record */

/* How it reads: the input goes into one buffer; a record is parsed where it lies, and fields point into
 * the buffer (quoted fields are unescaped in place), so nothing is copied per byte. When a record runs
 * past the bytes read so far, the unread tail moves to the front, more is read behind it (the buffer
 * doubles when full, up to one whole record of FG_CSV_MAX_RECORD bytes) and the record is parsed again
 * from its start: nothing of it was changed, because unescaping waits until the record is complete.
 * A record longer than the limit is then read to its end in skip mode, without keeping it. */

struct fg_csv {
    FILE *f;
    int own_f;
    gzFile gz;
    char *label;
    unsigned char *buf;
    size_t cap, pos, len; /* unread bytes are buf[pos..len) */
    int eof;
    size_t *off, *flen;   /* field offsets from the record start, lengths */
    unsigned char *esc;   /* field holds "" escapes */
    fg_csv_field *fields;
    size_t fcap;
    long line;
    int fatal;            /* sticky fatal code, 0 if none */
    char fatal_msg[512];
};

/* Makes room and reads more input behind the unread bytes. Returns bytes read, 0 at end of input,
 * -1 (fatal_msg set: read error) or -2 (the unread bytes already fill BUF_MAX). */
static long read_more(fg_csv *c) {
    if (c->eof)
        return 0;
    if (c->pos) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == c->cap) {
        if (c->cap >= BUF_MAX)
            return -2;
        size_t cap = c->cap * 2 > BUF_MAX ? BUF_MAX : c->cap * 2;
        unsigned char *nb = realloc(c->buf, cap);
        if (!nb) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: out of memory", c->label, c->line);
            return -1;
        }
        c->buf = nb;
        c->cap = cap;
    }
    size_t want = c->cap - c->len < READ_CHUNK ? c->cap - c->len : READ_CHUNK;
    long n;
    if (c->gz) {
        int k = gzread(c->gz, c->buf + c->len, (unsigned)want);
        int errnum = Z_OK;
        const char *m = gzerror(c->gz, &errnum);
        if (k < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: gzip: %s", c->label, c->line,
                     m && *m ? m : "read failed");
            return -1;
        }
        n = k;
    } else {
        n = (long)fread(c->buf + c->len, 1, want, c->f);
        if (n == 0 && ferror(c->f)) {
            snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: read failed: %s", c->label, c->line,
                     strerror(errno));
            return -1;
        }
    }
    if (n == 0)
        c->eof = 1;
    c->len += (size_t)n;
    return n;
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
    c->line = 1;
    c->label = strdup(label);
    c->cap = 2 * READ_CHUNK;
    c->buf = malloc(c->cap);
    if (!c->label || !c->buf) {
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
        gzbuffer(c->gz, READ_CHUNK);
    } else {
        if (ferror(f)) {
            fg_csv_close(c);
            fg_err_set(e, FG_EIO, "%s: read failed: %s", label, strerror(errno));
            return NULL;
        }
        /* Put the peeked bytes in front of the buffer. */
        if (b0 != EOF)
            c->buf[c->len++] = (unsigned char)b0;
        if (b1 != EOF)
            c->buf[c->len++] = (unsigned char)b1;
        if (b1 == EOF)
            c->eof = 1;
    }
    /* Skip a UTF-8 BOM. */
    while (c->len < 3 && !c->eof) {
        if (read_more(c) < 0) {
            fg_err_set(e, FG_EIO, "%s", c->fatal_msg);
            fg_csv_close(c);
            return NULL;
        }
    }
    if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
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
    free(c->buf);
    free(c->off);
    free(c->flen);
    free(c->esc);
    free(c->fields);
    free(c);
}

long fg_csv_line(const fg_csv *c) { return c->line; }
const char *fg_csv_label(const fg_csv *c) { return c->label; }
int fg_csv_is_gzip(const fg_csv *c) { return c->gz != NULL; }

/* Index of the first byte of p[0..n) that ends a run of plain field bytes: ',', '"', LF or CR outside
 * quotes (quoted = 0), '"', LF or CR inside (quoted = 1); n when there is none. Fields are short, so
 * the first 16-byte compare usually answers. */
static inline size_t scan(const unsigned char *p, size_t n, int quoted) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i comma = quoted ? q : _mm_set1_epi8(',');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, comma)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#endif
    for (; i < n; i++) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\n' || ch == '\r' || (!quoted && ch == ','))
            return i;
    }
    return n;
}

static __attribute__((noinline)) int grow_fields(fg_csv *c) {
    {
        size_t cap = c->fcap ? c->fcap * 2 : 64;
        size_t *o = realloc(c->off, cap * sizeof *o);
        if (o)
            c->off = o;
        size_t *l = o ? realloc(c->flen, cap * sizeof *l) : NULL;
        if (l)
            c->flen = l;
        unsigned char *x = l ? realloc(c->esc, cap) : NULL;
        if (x)
            c->esc = x;
        fg_csv_field *f = x ? realloc(c->fields, cap * sizeof *f) : NULL;
        if (!f)
            return FG_ENOMEM;
        c->fields = f;
        c->fcap = cap;
    }
    return 0;
}

static inline int add_field(fg_csv *c, size_t nf, size_t off, size_t len, int esc) {
    if (nf == c->fcap && grow_fields(c) < 0)
        return FG_ENOMEM;
    c->off[nf] = off;
    c->flen[nf] = len;
    c->esc[nf] = (unsigned char)esc;
    return 0;
}

/* Outcomes of one parse attempt of the record at buf[pos..len). */
enum { P_DONE = 1, P_MORE = 0, P_QUOTE_IN_FIELD = -1, P_AFTER_QUOTE = -2, P_UNTERMINATED = -3, P_NOMEM = -4 };

/* Parses the record starting at c->pos. P_DONE: fields recorded (*nf), *end just past its line end,
 * *lines the line breaks it spans; P_MORE: it runs past the bytes read (and input remains); an error
 * P_*: *end where the fault is, *lines the line breaks before it (P_UNTERMINATED: *qlines those before
 * the opening quote). */
static int parse_record(fg_csv *c, size_t *nf_out, size_t *end, long *lines, long *qlines) {
    const unsigned char *b = c->buf;
    size_t i = c->pos, n = c->len, nf = 0, rs = c->pos;
    long ln = 0;
    for (;;) { /* one field per iteration, starting at i */
        if (i < n && b[i] == '"') {
            size_t j = i + 1, fs = j;
            int esc = 0;
            long qln = ln;
            for (;;) {
                j += scan(b + j, n - j, 1);
                if (j == n) {
                    if (!c->eof)
                        return P_MORE;
                    *end = n;
                    *lines = ln;
                    *qlines = qln;
                    return P_UNTERMINATED;
                }
                if (b[j] == '"') {
                    if (j + 1 == n && !c->eof)
                        return P_MORE;
                    if (j + 1 < n && b[j + 1] == '"') {
                        esc = 1;
                        j += 2;
                        continue;
                    }
                    break;
                }
                ln++;
                if (b[j] == '\r' && j + 1 == n && !c->eof)
                    return P_MORE;
                j += b[j] == '\r' && j + 1 < n && b[j + 1] == '\n' ? 2 : 1;
            }
            if (nf < FG_CSV_MAX_FIELDS && add_field(c, nf, fs - rs, j - fs, esc) < 0)
                return P_NOMEM;
            nf++;
            i = j + 1;
            if (i < n && b[i] != ',' && b[i] != '\n' && b[i] != '\r') {
                *end = i;
                *lines = ln;
                return P_AFTER_QUOTE;
            }
        } else {
            size_t j = i + scan(b + i, n - i, 0);
            if (j == n && !c->eof)
                return P_MORE;
            if (j < n && b[j] == '"') {
                *end = j;
                *lines = ln;
                return P_QUOTE_IN_FIELD;
            }
            if (nf < FG_CSV_MAX_FIELDS && add_field(c, nf, i - rs, j - i, 0) < 0)
                return P_NOMEM;
            nf++;
            i = j;
        }
        /* i is at ',', a line end or the end of input */
        if (i < n && b[i] == ',') {
            i++;
            continue;
        }
        if (i < n) {
            if (b[i] == '\r' && i + 1 == n && !c->eof)
                return P_MORE;
            i += b[i] == '\r' && i + 1 < n && b[i + 1] == '\n' ? 2 : 1;
            ln++;
        }
        *nf_out = nf;
        *end = i;
        *lines = ln;
        return P_DONE;
    }
}

/* Consumes the next byte when it is `want`, reading on when the buffer is used up (a CR at the end of
 * a read may be half of a CRLF, a quote half of a ""). 1 consumed, 0 not, -1 read error. */
static int take_if(fg_csv *c, unsigned char want) {
    if (c->pos == c->len && read_more(c) < 0)
        return -1;
    if (c->pos < c->len && c->buf[c->pos] == want) {
        c->pos++;
        return 1;
    }
    return 0;
}

/* After a fault at buf[at]: skips the rest of that physical line (unquoted rules), reading on as
 * needed. 0, or -1 on a read error. */
static int skip_line(fg_csv *c, size_t at) {
    c->pos = at;
    for (;;) {
        while (c->pos < c->len && c->buf[c->pos] != '\n' && c->buf[c->pos] != '\r')
            c->pos++;
        if (c->pos == c->len) {
            c->pos = c->len; /* drop what was scanned: read_more keeps nothing */
            long r = read_more(c);
            if (r < 0)
                return -1;
            if (r == 0)
                return 0;
            continue;
        }
        unsigned char ch = c->buf[c->pos++];
        c->line++;
        return ch == '\r' && take_if(c, '\n') < 0 ? -1 : 0;
    }
}

/* Reads a record too long to keep to its end (quotes respected), counting lines. 0 or -1 (read error). */
static int skip_record(fg_csv *c) {
    int in_q = 0, field_start = 1;
    for (;;) {
        if (c->pos == c->len) {
            long r = read_more(c);
            if (r < 0)
                return -1;
            if (r == 0)
                return 0;
        }
        unsigned char ch = c->buf[c->pos++];
        if (in_q) {
            int r = 0;
            if (ch == '"') {
                if ((r = take_if(c, '"')) == 0)
                    in_q = 0;
            } else if (ch == '\n' || ch == '\r') {
                c->line++;
                if (ch == '\r')
                    r = take_if(c, '\n');
            }
            if (r < 0)
                return -1;
            continue;
        }
        if (ch == '"' && field_start) {
            in_q = 1;
            continue;
        }
        field_start = ch == ',';
        if (ch == '\n' || ch == '\r') {
            c->line++;
            return ch == '\r' && take_if(c, '\n') < 0 ? -1 : 0;
        }
    }
}

int fg_csv_next(fg_csv *c, fg_csv_record *r, fg_err *e) {
    if (c->fatal)
        return fg_err_set(e, c->fatal, "%s", c->fatal_msg);
    for (;;) { /* skip empty lines */
        if (c->pos == c->len) {
            long k = read_more(c);
            if (k < 0)
                goto io_error;
            if (k == 0)
                return 0;
        }
        unsigned char ch = c->buf[c->pos];
        if (ch != '\n' && ch != '\r')
            break;
        if (ch == '\r' && c->pos + 1 == c->len && read_more(c) < 0)
            goto io_error;
        c->pos += ch == '\r' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n' ? 2 : 1;
        c->line++;
    }
    long start_line = c->line, lines = 0, qlines = 0;
    size_t nf = 0, end = 0;
    int rc;
    while ((rc = parse_record(c, &nf, &end, &lines, &qlines)) == P_MORE) {
        long k = read_more(c);
        if (k == -1)
            goto io_error;
        if (k == -2) { /* the record alone fills the largest buffer */
            if (skip_record(c) < 0)
                goto io_error;
            return fg_err_set(e, FG_EFORMAT, "%s:%ld: record longer than %u bytes", c->label, start_line,
                              FG_CSV_MAX_RECORD);
        }
    }
    switch (rc) {
    case P_NOMEM:
        c->fatal = FG_ENOMEM;
        snprintf(c->fatal_msg, sizeof c->fatal_msg, "%s:%ld: out of memory", c->label, c->line);
        return fg_err_set(e, FG_ENOMEM, "%s", c->fatal_msg);
    case P_UNTERMINATED:
        c->pos = c->len;
        c->line += lines;
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: unterminated quoted field starting at line %ld", c->label,
                          start_line + qlines, start_line + qlines);
    case P_QUOTE_IN_FIELD:
    case P_AFTER_QUOTE:
        c->line += lines;
        if (skip_line(c, end) < 0)
            goto io_error;
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: %s", c->label, start_line + lines,
                          rc == P_QUOTE_IN_FIELD ? "quote inside unquoted field"
                                                 : "unexpected character after closing quote");
    default: break;
    }
    unsigned char *rs = c->buf + c->pos;
    c->pos = end;
    c->line += lines;
    if (end - (size_t)(rs - c->buf) > FG_CSV_MAX_RECORD)
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: record longer than %u bytes", c->label, start_line,
                          FG_CSV_MAX_RECORD);
    if (nf > FG_CSV_MAX_FIELDS)
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: record has more than %u fields", c->label, start_line,
                          FG_CSV_MAX_FIELDS);
    for (size_t i = 0; i < nf; i++) {
        unsigned char *p = rs + c->off[i];
        size_t len = c->flen[i];
        if (c->esc[i]) { /* "" → ", in place: the record is complete, nothing reads the raw text again */
            unsigned char *w = p, *rd = p, *fe = p + len, *q;
            while ((q = memchr(rd, '"', (size_t)(fe - rd))) != NULL) {
                size_t k = (size_t)(q - rd) + 1; /* up to and with the first quote of the pair */
                memmove(w, rd, k);
                w += k;
                rd = q + 2;
            }
            memmove(w, rd, (size_t)(fe - rd));
            len = (size_t)(w - p) + (size_t)(fe - rd);
        }
        c->fields[i].p = (const char *)p;
        c->fields[i].n = len;
    }
    r->fields = c->fields;
    r->n = nf;
    r->line = start_line;
    return 1;
io_error:
    c->fatal = FG_EIO;
    return fg_err_set(e, FG_EIO, "%s", c->fatal_msg);
}
