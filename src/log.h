/*
 * One-line structured logging to stderr, shared by every thread.
 * Levels use the reference's numeric values (10 debug .. 50 critical).
 * Every control byte of a message is escaped (\n, \xNN), so client text cannot forge a line.
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

extern _Atomic int log_threshold; /* messages below this level are dropped before formatting; SIGHUP
                                     may change it */

/* Sets the threshold. Accepts 10..50 (any integer) or a name: debug, info, warning, error,
 * critical. Returns 0, or -1 for an unknown name (threshold unchanged). */
int log_set_level(const char *spec);

/* Parses a level spec without changing the threshold; returns the numeric level or -1. */
int log_parse_level(const char *spec);

/*
 * Formats one line: "<UTC time> <LEVEL> <message>\n", the message's control bytes escaped
 * (log_escape). Written at once (one write(2), so threads never interleave), or, after
 * log_start(), queued for the writer thread: the caller never waits for stderr, and a line that
 * does not fit in the queue is dropped and counted.
 */
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

#define LOG_QUEUE_DEFAULT (1024 * 1024) /* bytes of lines the writer thread may hold */
#define LOG_SCRUB_PREFIX 8              /* log_scrub(): shortest prefix of a secret masked */

/*
 * Starts the writer thread with a queue of queue_bytes (0: LOG_QUEUE_DEFAULT). From then on
 * log_msg() only copies the line into the queue; lines that do not fit are dropped and counted,
 * and the writer reports the count in one line once the queue has drained. Returns 0 or -1
 * (lines are then written directly, as before).
 */
int log_start(size_t queue_bytes);

/* Writes every queued line, stops the writer thread; later lines are written directly. */
void log_stop(void);

/*
 * Copies n bytes of src into dst (size dstlen, NUL-terminated) with every control byte escaped:
 * "\n", "\r", "\t", else "\xNN" (DEL included). Stops before an escape that would not fit.
 * Returns the length written.
 */
size_t log_escape(char *dst, size_t dstlen, const char *src, size_t n);

/*
 * Copies src into dst (size dstlen, always NUL-terminated) with secrets masked:
 * the password of a URL's userinfo ("postgresql://u:***@h/db", any scheme, with or without a
 * port, IPv6 hosts, percent-encoded or not), any "gw-..." virtual key, "Bearer <token>",
 * "sk-..." style keys, and "password=..." (libpq keyword strings, quoted or not, and URL query
 * parameters). Control characters are escaped as by log_escape(). Returns dst.
 */
char *log_redact(char *dst, size_t dstlen, const char *src);

/*
 * Masks secret in s, in place, as "***": every occurrence of the whole secret (when it has at
 * least 4 characters) and every occurrence of a prefix of it of LOG_SCRUB_PREFIX or more
 * characters (a provider echoing the key cut short). For provider keys and header values.
 */
void log_scrub(char *s, const char *secret);

#endif
