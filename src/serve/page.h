/* page.h - the built-in live dashboard of `frugal serve`, one self-contained HTML page.
 *
 * Routes (src/tools/serve.c, handle()):
 *   GET|HEAD /dashboard   200, FG_PAGE_CONTENT_TYPE, the bytes fg_page_dashboard[0, fg_page_dashboard_len)
 *   GET|HEAD /            302 to /dashboard
 *   other methods         405
 * The page polls GET /stats once a second (the keys it reads are listed in page.c) and draws the last
 * five minutes client-side; it loads nothing else (no CDN, fonts or scripts from elsewhere).
 * Source: src/serve/page/dashboard.html, embedded into page.c by scripts/embed_page.sh. */
#ifndef FG_SERVE_PAGE_H
#define FG_SERVE_PAGE_H

#include <stddef.h>

#define FG_PAGE_CONTENT_TYPE "text/html; charset=utf-8"

extern const char fg_page_dashboard[];  /* NUL-terminated */
extern const size_t fg_page_dashboard_len; /* strlen(fg_page_dashboard) */

#endif
