/*
 * One-line structured logging to stderr, shared by every thread.
 * Levels use the reference's numeric values (10 debug .. 50 critical).
 * Secrets never reach a line: callers pass untrusted text through log_redact().
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LVL_DEBUG = 10,
    LOG_LVL_INFO = 20,
    LOG_LVL_WARN = 30,
    LOG_LVL_ERROR = 40,
    LOG_LVL_CRIT = 50,
};

extern int log_threshold; /* messages below this level are dropped before formatting */

/* Sets the threshold. Accepts 10..50 (any integer) or a name: debug, info, warning, error,
 * critical. Returns 0, or -1 for an unknown name (threshold unchanged). */
int log_set_level(const char *spec);

/* Parses a level spec without changing the threshold; returns the numeric level or -1. */
int log_parse_level(const char *spec);

/* Formats and writes one line: "<UTC time> <LEVEL> <message>\n", atomically (one write). */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_msg((lvl), __VA_ARGS__);                                                           \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LVL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_ERR(...) LOG_AT(LOG_LVL_ERROR, __VA_ARGS__)
#define LOG_CRIT(...) LOG_AT(LOG_LVL_CRIT, __VA_ARGS__)

/*
 * Copies src into dst (size dstlen, always NUL-terminated) with secrets masked:
 * the password of a URL's userinfo ("postgresql://u:***@h/db"), any "gw-..." virtual key,
 * "Bearer <token>", "sk-..." style keys, and "password=..." in libpq keyword strings.
 * Control characters are replaced by '?', so a value cannot forge a log line.
 * Returns dst.
 */
char *log_redact(char *dst, size_t dstlen, const char *src);

#endif
