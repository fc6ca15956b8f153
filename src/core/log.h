/* log.h - one-line logging to stderr with a timestamp and level.
 * The level is set once at start-up (fg_log_set_level) and read without locks; each line is written
 * with a single write so lines from different threads do not interleave. */
#ifndef FG_CORE_LOG_H
#define FG_CORE_LOG_H

enum { FG_LOG_DEBUG = 0, FG_LOG_INFO = 1, FG_LOG_WARN = 2, FG_LOG_ERROR = 3, FG_LOG_OFF = 4 };

/* Sets the lowest level that is printed (default FG_LOG_INFO). */
void fg_log_set_level(int level);
/* Returns the current level. */
int fg_log_level(void);
/* Prints one line "<time> <LEVEL> <message>" to stderr when level is enabled. */
void fg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fg_debug(...) fg_log(FG_LOG_DEBUG, __VA_ARGS__)
#define fg_info(...) fg_log(FG_LOG_INFO, __VA_ARGS__)
#define fg_warn(...) fg_log(FG_LOG_WARN, __VA_ARGS__)
#define fg_error(...) fg_log(FG_LOG_ERROR, __VA_ARGS__)

#endif
