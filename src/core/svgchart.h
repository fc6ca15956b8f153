/* svgchart.h - self-contained HTML reports with inline SVG charts: no scripts, no external fonts or
 * styles, so a report opens anywhere (a mail attachment, a CI artifact) and shows the same thing.
 *
 * Every chart is an <svg class="chart"> carrying data-kind ("bars", "columns" or "lines") and
 * data-points (how many data points it draws), and each mark carries its value (data-value on bars
 * and columns, data-n on each series' polyline), so a browser test can check that charts hold data.
 * Non-finite values are drawn as 0 (bars, columns) or skipped (lines) and do not count as points.
 * Text is HTML-escaped; titles and labels may hold any UTF-8.
 *
 * Usage
 *   fg_html_begin(f, "frugal cost report");
 *   fg_html_heading(f, 2, "Cost by bucket");
 *   fg_svg_bars(f, "Cost by bucket", "USD", labels, values, n);
 *   fg_html_end(f);
 */
#ifndef FG_CORE_SVGCHART_H
#define FG_CORE_SVGCHART_H

#include <stddef.h>
#include <stdio.h>

/* One line of a line chart: n points (x[i], y[i]), x ascending. */
typedef struct fg_svg_series {
    const char *name;
    const double *x, *y;
    size_t n;
} fg_svg_series;

#define FG_SVG_LOG_Y 1u   /* lines: logarithmic y axis (values <= 0 are skipped) */
#define FG_SVG_Y_ZERO 2u  /* lines: y axis starts at 0 rather than at the smallest value */

/* Writes s to f with &, <, >, " and ' escaped. */
void fg_html_escape(FILE *f, const char *s);

/* Starts a report: doctype, <head> with the title and an inline stylesheet, opens <body> and writes
 * the title as <h1>. */
void fg_html_begin(FILE *f, const char *title);

/* A heading <hN> (level 2..4) with escaped text. */
void fg_html_heading(FILE *f, int level, const char *text);

/* Closes <body> and <html>. */
void fg_html_end(FILE *f);

/* A horizontal bar chart: one bar per label, longest first as given (the caller orders), the value
 * printed at the bar's end with unit. */
void fg_svg_bars(FILE *f, const char *title, const char *unit, const char *const *labels, const double *values,
                 size_t n);

/* A vertical column chart (histograms, values per period): one column per label, labels under the
 * x axis (thinned when crowded). */
void fg_svg_columns(FILE *f, const char *title, const char *ylabel, const char *const *labels,
                    const double *values, size_t n);

/* A line chart of ns series sharing both axes, with a legend; flags FG_SVG_LOG_Y, FG_SVG_Y_ZERO. */
void fg_svg_lines(FILE *f, const char *title, const char *xlabel, const char *ylabel, const fg_svg_series *s,
                  size_t ns, unsigned flags);

#endif
