/* csv.h - streaming RFC 4180 CSV reader for billing exports (plain or gzip-compressed).
 *
 * Overview
 *   fg_csv_open reads a file one record at a time with bounded memory: the input goes through one
 *   buffer (512 KiB, growing only for a record longer than that, up to FG_CSV_MAX_RECORD) and fields
 *   point into it; quoted fields are unescaped in place. Field boundaries are found 16 bytes at a time
 *   (SSE2), so the reader runs at memory speed rather than byte by byte.
 *   Gzip input is recognised by its magic bytes (1f 8b), never by the file name, and decompressed with
 *   zlib's gzread (concatenated gzip members are read as one stream).
 *
 * Syntax accepted
 *   - Fields separated by ',', records ended by LF, CRLF or a lone CR; the last record may lack an ending.
 *   - A UTF-8 byte order mark (EF BB BF) at the very start is skipped.
 *   - A field that starts with '"' is quoted: it may hold ',', '"' written as "", CR and LF. After the
 *     closing quote only ',' or a record end may follow.
 *   - A completely empty physical line is not a record: it is skipped (exports and the FOCUS spec
 *     examples contain blank lines). A line holding only spaces, or only "", is a record of one field.
 *
 * Errors (returned by fg_csv_next with "label:line: message" in e)
 *   FG_EFORMAT - a malformed record; the reader has resynchronised and the next call goes on with the
 *                next record, so callers may count and skip it:
 *                  '"' inside an unquoted field ("quote inside unquoted field"), a character after a
 *                  closing quote, a quoted field still open at end of input ("unterminated quoted field
 *                  starting at line N": the rest of the input was consumed), a record longer than
 *                  FG_CSV_MAX_RECORD bytes or with more than FG_CSV_MAX_FIELDS fields (the record is read
 *                  to its end without storing it, so memory stays bounded).
 *   FG_EIO     - reading or decompressing failed (truncated/corrupt gzip included); fatal, later calls
 *                return the same code.
 *   FG_ENOMEM  - allocation failed; fatal.
 *
 * Line numbers
 *   Physical lines, 1-based, counted on LF, CRLF and lone CR, including those inside quoted fields. A
 *   record's line is the line it starts on; fg_csv_line is the line the reader is on now.
 *
 * Memory
 *   fg_csv_record.fields and the bytes its fields point to live in the reader and stay valid until the
 *   next fg_csv_next or fg_csv_close. Field bytes are not NUL-terminated (they may contain NUL).
 *
 * Usage
 *   fg_err e = {0};
 *   fg_csv *c = fg_csv_open("export.csv.gz", &e);   // NULL on error, e says why
 *   fg_csv_record r;
 *   int rc;
 *   while ((rc = fg_csv_next(c, &r, &e)) != 0) {
 *       if (rc == FG_EFORMAT) { warn(e.msg); fg_err_clear(&e); continue; }
 *       if (rc < 0) fail(e.msg);
 *       use(r.fields[0].p, r.fields[0].n);
 *   }
 *   fg_csv_close(c);
 */
#ifndef FG_COST_CSV_H
#define FG_COST_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

/* Limits. Exceeding one makes that record an FG_EFORMAT error; the stream goes on. */
#define FG_CSV_MAX_RECORD (16u << 20) /* bytes of one record as written (quotes and commas included) */
#define FG_CSV_MAX_FIELDS 65536u      /* fields in one record */

typedef struct fg_csv fg_csv;

/* One field: n bytes at p (not NUL-terminated). */
typedef struct fg_csv_field {
    const char *p;
    size_t n;
} fg_csv_field;

/* One record: n fields (n >= 1), starting on physical line `line`. */
typedef struct fg_csv_record {
    const fg_csv_field *fields;
    size_t n;
    long line;
} fg_csv_record;

/* Opens path (plain or gzip, by magic bytes). Returns NULL with e set (FG_EIO, FG_ENOMEM) on failure.
 * Messages name the file by path. */
fg_csv *fg_csv_open(const char *path, fg_err *e);

/* Reads from an open stream, starting at its current position; label names it in messages (copied).
 * Gzip is detected as for a path; gzip input needs a stream with a file descriptor. The stream stays
 * the caller's: fg_csv_close does not close it (a gzip stream is read through a dup of its descriptor,
 * so f's own position afterwards is unspecified). */
fg_csv *fg_csv_open_stream(FILE *f, const char *label, fg_err *e);

/* Reads the next record into r. Returns 1 (record), 0 (end of input) or a negative FG_E* code with e
 * set as described above. */
int fg_csv_next(fg_csv *c, fg_csv_record *r, fg_err *e);

/* The physical line the reader is on (1-based). */
long fg_csv_line(const fg_csv *c);

/* The label used in messages (the path for fg_csv_open). */
const char *fg_csv_label(const fg_csv *c);

/* Whether the input was gzip-compressed. */
int fg_csv_is_gzip(const fg_csv *c);

/* Frees c and closes what fg_csv_open opened. NULL is a no-op. */
void fg_csv_close(fg_csv *c);

#endif
