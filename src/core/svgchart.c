/* svgchart.c - inline SVG charts and the HTML around them (see svgchart.h). Layout is fixed-size and
 * computed here, so a report looks the same in every browser and needs nothing but itself. */
#include "core/svgchart.h"

#include <math.h>
#include <string.h>

#define W 760.0 /* chart width in px */
static const char *const palette[] = {"#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#b7791f", "#319795"};
#define N_PALETTE (sizeof palette / sizeof palette[0])

void fg_html_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

void fg_html_begin(FILE *f, const char *title) {
    fputs("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    fg_html_escape(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1000px;"
          "padding:0 1em;color:#1a202c;background:#fff}\n"
          "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #e2e8f0}\n"
          "table{border-collapse:collapse;margin:.6em 0;font-size:.92em}\n"
          "th,td{border:1px solid #e2e8f0;padding:.25em .6em;text-align:left}\n"
          "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          "th{background:#f7fafc}.muted{color:#718096}.bad{color:#c53030}.good{color:#2f855a}\n"
          "svg.chart{display:block;margin:.6em 0 1.2em;font-size:12px}\n"
          "svg.chart text{fill:#2d3748}svg.chart .axis{stroke:#a0aec0}svg.chart .grid{stroke:#edf2f7}\n"
          "</style></head><body>\n<h1>",
          f);
    fg_html_escape(f, title);
    fputs("</h1>\n", f);
}

void fg_html_heading(FILE *f, int level, const char *text) {
    if (level < 2 || level > 4)
        level = 2;
    fprintf(f, "<h%d>", level);
    fg_html_escape(f, text);
    fprintf(f, "</h%d>\n", level);
}

void fg_html_end(FILE *f) { fputs("</body></html>\n", f); }

/* A number short enough for an axis or a bar end: 3 significant digits, k/M/G above 10^4. */
static void fmt_num(char *b, size_t n, double v) {
    double a = fabs(v);
    if (a >= 1e9)
        snprintf(b, n, "%.3gG", v / 1e9);
    else if (a >= 1e6)
        snprintf(b, n, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(b, n, "%.3gk", v / 1e3);
    else if (a >= 100)
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%.3g", v);
}

/* Opens the <svg> with its accessible title and the data attributes tests read. */
static void svg_open(FILE *f, const char *kind, size_t points, double h, const char *title) {
    fprintf(f, "<svg class=\"chart\" data-kind=\"%s\" data-points=\"%zu\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\"><title>",
            kind, points, W, h, W, h);
    fg_html_escape(f, title);
    fprintf(f, "</title><text x=\"0\" y=\"14\" font-weight=\"600\">");
    fg_html_escape(f, title);
    fputs("</text>\n", f);
}

static double finite_or(double v, double d) { return isfinite(v) ? v : d; }

/* Nice tick step for a span divided in about `want` parts: 1, 2 or 5 times a power of ten. */
static double tick_step(double span, int want) {
    if (!(span > 0))
        return 1;
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    if (!(p > 0) || !isfinite(m))
        return span;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void fg_svg_bars(FILE *f, const char *title, const char *unit, const char *const *labels, const double *values,
                 size_t n) {
    const double row = 22, top = 26, label_w = 250, bar_w = W - label_w - 110;
    double max = 0;
    size_t points = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) {
            points++;
            max = fmax(max, fabs(values[i]));
        }
    svg_open(f, "bars", points, top + row * (double)n + 6, title);
    for (size_t i = 0; i < n; i++) {
        double v = finite_or(values[i], 0), y = top + row * (double)i;
        double w = max > 0 ? bar_w * fabs(v) / max : 0;
        char num[32];
        fmt_num(num, sizeof num, v);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 8, y + 15);
        /* long labels are cut so the bars keep their room; the full text is in the <title> tooltip */
        char cut[40];
        const char *lab = labels[i] ? labels[i] : "";
        if (strlen(lab) > 36) {
            snprintf(cut, sizeof cut, "%.34s…", lab);
            fg_html_escape(f, cut);
        } else {
            fg_html_escape(f, lab);
        }
        fprintf(f, "</text><rect class=\"bar\" data-value=\"%.17g\" x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" "
                   "height=\"%.0f\" fill=\"%s\"><title>",
                v, label_w, y + 3, fmax(w, v != 0 ? 1 : 0), row - 6, v < 0 ? palette[3] : palette[0]);
        fg_html_escape(f, lab);
        fprintf(f, ": %.6g %s</title></rect><text x=\"%.1f\" y=\"%.1f\">%s ", v, unit ? unit : "",
                label_w + w + 6, y + 15, num);
        fg_html_escape(f, unit ? unit : "");
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
}

/* y-axis ticks and grid lines from lo to hi mapped onto [y0 (bottom), y1 (top)] at x = x0..x1 */
static void y_axis(FILE *f, double lo, double hi, int logy, double x0, double x1, double y0, double y1) {
    if (logy) {
        for (double d = floor(lo); d <= ceil(hi) + 1e-9 && d - floor(lo) < 40; d++) {
            if (d < lo - 1e-9 || d > hi + 1e-9)
                continue;
            double y = y0 - (y0 - y1) * (d - lo) / (hi - lo);
            char num[32];
            fmt_num(num, sizeof num, pow(10, d));
            fprintf(f, "<line class=\"grid\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.0f\" "
                       "y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    x0, x1, y, y, x0 - 4, y + 4, num);
        }
        return;
    }
    double step = tick_step(hi - lo, 5);
    int guard = 0; /* a span near the precision of doubles must not spin */
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && guard++ < 40; v += step) {
        double y = y0 - (y0 - y1) * (v - lo) / (hi - lo);
        char num[32];
        fmt_num(num, sizeof num, fabs(v) < step * 1e-9 ? 0 : v);
        fprintf(f, "<line class=\"grid\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/><text x=\"%.0f\" "
                   "y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                x0, x1, y, y, x0 - 4, y + 4, num);
    }
}

void fg_svg_columns(FILE *f, const char *title, const char *ylabel, const char *const *labels,
                    const double *values, size_t n) {
    const double h = 280, left = 64, right = 12, top = 30, bottom = 46;
    double max = 0;
    size_t points = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) {
            points++;
            max = fmax(max, values[i]);
        }
    if (!(max > 0))
        max = 1;
    svg_open(f, "columns", points, h, title);
    double x0 = left, x1 = W - right, y0 = h - bottom, y1 = top;
    y_axis(f, 0, max, 0, x0, x1, y0, y1);
    double cw = n ? (x1 - x0) / (double)n : 0;
    /* at most ~24 x labels, and none wider than the columns it stands under (~6.6 px a character) */
    size_t every = n > 0 ? (n + 23) / 24 : 1, widest = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] && strlen(labels[i]) > widest)
            widest = strlen(labels[i]);
    if (cw > 0 && (double)every * cw < 6.6 * (double)widest + 6)
        every = (size_t)ceil((6.6 * (double)widest + 6) / cw);
    for (size_t i = 0; i < n; i++) {
        double v = finite_or(values[i], 0), bh = (y0 - y1) * fmax(v, 0) / max, x = x0 + cw * (double)i;
        fprintf(f, "<rect class=\"col\" data-value=\"%.17g\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"%s\"><title>",
                v, x + cw * 0.1, y0 - bh, fmax(cw * 0.8, 1), bh, palette[0]);
        fg_html_escape(f, labels[i] ? labels[i] : "");
        fprintf(f, ": %.6g</title></rect>\n", v);
        if (i % every == 0) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", x + cw / 2, y0 + 16);
            fg_html_escape(f, labels[i] ? labels[i] : "");
            fputs("</text>\n", f);
        }
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\"/>", x0, x1, y0, y0);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"muted\">", x0, h - 6);
    fg_html_escape(f, ylabel ? ylabel : "");
    fputs("</text></svg>\n", f);
}

void fg_svg_lines(FILE *f, const char *title, const char *xlabel, const char *ylabel, const fg_svg_series *s,
                  size_t ns, unsigned flags) {
    const double h = 320, left = 64, right = 150, top = 30, bottom = 46;
    int logy = (flags & FG_SVG_LOG_Y) != 0;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    size_t points = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (logy && y <= 0))
                continue;
            points++;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x);
            y = logy ? log10(y) : y;
            ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    svg_open(f, "lines", points, h, title);
    if (!points) {
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"muted\">no data</text></svg>\n", left, h / 2);
        return;
    }
    if (!logy && (flags & FG_SVG_Y_ZERO))
        ylo = fmin(ylo, 0);
    if (logy)
        ylo = floor(ylo), yhi = ceil(yhi);
    if (yhi - ylo < 1e-12)
        yhi = ylo + (logy ? 1 : fabs(ylo) > 0 ? fabs(ylo) * 0.1 : 1);
    if (!logy) {
        double st = tick_step(yhi - ylo, 5);
        yhi = ceil(yhi / st) * st;
        if (!(flags & FG_SVG_Y_ZERO))
            ylo = floor(ylo / st) * st;
    }
    if (xhi - xlo < 1e-12)
        xlo -= 0.5, xhi += 0.5;
    double x0 = left, x1 = W - right, y0 = h - bottom, y1 = top;
    y_axis(f, ylo, yhi, logy, x0, x1, y0, y1);
    double xs = tick_step(xhi - xlo, 8);
    int guard = 0;
    for (double v = ceil(xlo / xs) * xs; v <= xhi + xs * 1e-9 && guard++ < 40; v += xs) {
        double x = x0 + (x1 - x0) * (v - xlo) / (xhi - xlo);
        char num[32];
        fmt_num(num, sizeof num, fabs(v) < xs * 1e-9 ? 0 : v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", x, y0 + 16, num);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\"/>"
               "<line class=\"axis\" x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\"/>\n",
            x0, x1, y0, y0, x0, x0, y0, y1);
    for (size_t k = 0; k < ns; k++) {
        const char *col = palette[k % N_PALETTE];
        size_t nk = 0;
        for (size_t i = 0; i < s[k].n; i++)
            nk += isfinite(s[k].x[i]) && isfinite(s[k].y[i]) && !(logy && s[k].y[i] <= 0);
        fprintf(f, "<polyline class=\"series\" data-n=\"%zu\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                   "points=\"",
                nk, col);
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (logy && y <= 0))
                continue;
            y = logy ? log10(y) : y;
            fprintf(f, "%.1f,%.1f ", x0 + (x1 - x0) * (x - xlo) / (xhi - xlo), y0 - (y0 - y1) * (y - ylo) / (yhi - ylo));
        }
        fputs("\"/>\n", f);
        /* single points are invisible as a polyline: mark every point */
        for (size_t i = 0; i < s[k].n && nk <= 64; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (logy && y <= 0))
                continue;
            double yy = logy ? log10(y) : y;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%.6g, %.6g</title></circle>\n",
                    x0 + (x1 - x0) * (x - xlo) / (xhi - xlo), y0 - (y0 - y1) * (yy - ylo) / (yhi - ylo), col, x, y);
        }
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">",
                x1 + 12, y1 + 16 * (double)k + 6, col, x1 + 28, y1 + 16 * (double)k + 10);
        fg_html_escape(f, s[k].name ? s[k].name : "");
        fputs("</text>\n", f);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" class=\"muted\">", (x0 + x1) / 2, h - 8);
    fg_html_escape(f, xlabel ? xlabel : "");
    fprintf(f, "</text><text x=\"%.0f\" y=\"%.0f\" class=\"muted\">", x0, y1 - 4);
    fg_html_escape(f, ylabel ? ylabel : "");
    fputs("</text></svg>\n", f);
}
