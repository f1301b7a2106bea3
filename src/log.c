/*
 * Logging: level filter, control bytes escaped so a value cannot forge a line, the redaction
 * helpers that keep keys and DSN passwords out of every line, and an optional writer thread
 * (log_start) so a stalled stderr never stalls the thread that logs.
 */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

_Atomic int log_threshold = LOG_LVL_INFO;

static const struct {
    const char *name;
    int level;
} log_names[] = {
    {"debug", LOG_LVL_DEBUG}, {"info", LOG_LVL_INFO},   {"warning", LOG_LVL_WARN},
    {"warn", LOG_LVL_WARN},   {"error", LOG_LVL_ERROR}, {"critical", LOG_LVL_CRIT},
};

/* The writer thread's byte ring (log_start). Producers append whole lines or drop them. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    char *buf;
    size_t cap, head, len; /* bytes [head, head+len) (mod cap) wait to be written */
    unsigned long long dropped;
    bool running; /* the thread exists and takes every line */
    bool stop;
} log_q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int log_parse_level(const char *spec)
{
    char *end;
    long v;

    if (spec == NULL || *spec == '\0')
        return -1;
    v = strtol(spec, &end, 10);
    if (*end == '\0')
        return (v >= 0 && v <= 100) ? (int)v : -1;
    for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
        if (strcasecmp(spec, log_names[i].name) == 0)
            return log_names[i].level;
    return -1;
}

int log_set_level(const char *spec)
{
    int lvl = log_parse_level(spec);

    if (lvl < 0)
        return -1;
    log_threshold = lvl;
    return 0;
}

static const char *log_level_name(int level)
{
    if (level >= LOG_LVL_CRIT)
        return "CRITICAL";
    if (level >= LOG_LVL_ERROR)
        return "ERROR";
    if (level >= LOG_LVL_WARN)
        return "WARNING";
    if (level >= LOG_LVL_INFO)
        return "INFO";
    return "DEBUG";
}

size_t log_escape(char *dst, size_t dstlen, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (dstlen == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc[4];
        size_t k = 0;

        if (c >= 0x20 && c != 0x7f) {
            esc[k++] = (char)c;
        } else {
            esc[k++] = '\\';
            if (c == '\n') {
                esc[k++] = 'n';
            } else if (c == '\r') {
                esc[k++] = 'r';
            } else if (c == '\t') {
                esc[k++] = 't';
            } else {
                esc[k++] = 'x';
                esc[k++] = hex[c >> 4];
                esc[k++] = hex[c & 15];
            }
        }
        if (o + k + 1 > dstlen)
            break; /* never half an escape */
        memcpy(dst + o, esc, k);
        o += k;
    }
    dst[o] = '\0';
    return o;
}

/* Writes all of buf to stderr (retrying short writes); gives up on a hard error. */
static void log_write_all(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

/* Copies n bytes into the ring (caller holds the lock and checked the room). */
static void log_q_put(const char *line, size_t n)
{
    size_t tail = (log_q.head + log_q.len) % log_q.cap;
    size_t first = n < log_q.cap - tail ? n : log_q.cap - tail;

    memcpy(log_q.buf + tail, line, first);
    memcpy(log_q.buf, line + first, n - first);
    log_q.len += n;
}

/* Hands a finished line to the writer thread, or writes it at once when there is none. */
static void log_emit(const char *line, size_t n)
{
    pthread_mutex_lock(&log_q.mu);
    if (!log_q.running) {
        pthread_mutex_unlock(&log_q.mu);
        /* One write per line: lines from different threads never interleave. */
        log_write_all(line, n);
        return;
    }
    if (log_q.len + n > log_q.cap) {
        log_q.dropped++;
    } else {
        if (log_q.len == 0)
            pthread_cond_signal(&log_q.cv);
        log_q_put(line, n);
    }
    pthread_mutex_unlock(&log_q.mu);
}

/* Formats "<UTC time> <LEVEL> " into line; returns its length. */
static size_t log_prefix(char *line, size_t cap, int level)
{
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, cap - n, ".%03ldZ %s ", (long)(tv.tv_usec / 1000),
                 log_level_name(level));
    if (r > 0)
        n += (size_t)r < cap - n ? (size_t)r : cap - n - 1;
    return n;
}

void log_msg(int level, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
    size_t n;
    int r;
    va_list ap;

    if (level < log_threshold)
        return;
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    n = log_prefix(line, sizeof(line), level);
    /* Every control byte of the message (client text included) is escaped: one event, one line. */
    n += log_escape(line + n, sizeof(line) - n - 1, msg,
                    (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
    line[n++] = '\n';
    log_emit(line, n);
}

static void *log_writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&log_q.mu);
    for (;;) {
        size_t chunk;

        while (log_q.len == 0 && !log_q.stop)
            pthread_cond_wait(&log_q.cv, &log_q.mu);
        if (log_q.len == 0)
            break; /* stopping and everything is written */
        /* Producers append after head+len only: this region stays put while unlocked. */
        chunk = log_q.cap - log_q.head < log_q.len ? log_q.cap - log_q.head : log_q.len;
        pthread_mutex_unlock(&log_q.mu);
        log_write_all(log_q.buf + log_q.head, chunk);
        pthread_mutex_lock(&log_q.mu);
        log_q.head = (log_q.head + chunk) % log_q.cap;
        log_q.len -= chunk;
        if (log_q.len == 0 && log_q.dropped > 0) {
            char line[256];
            size_t n = log_prefix(line, sizeof(line), LOG_LVL_WARN);
            int r =
                snprintf(line + n, sizeof(line) - n,
                         "log: %llu line(s) dropped: stderr could not keep up\n", log_q.dropped);
            log_q.dropped = 0;
            log_q.head = 0;
            log_q_put(line, n + (size_t)r);
        }
    }
    pthread_mutex_unlock(&log_q.mu);
    return NULL;
}

int log_start(size_t queue_bytes)
{
    char *buf = malloc(queue_bytes > 0 ? queue_bytes : LOG_QUEUE_DEFAULT);
    int rc = -1;

    if (buf == NULL)
        return -1;
    pthread_mutex_lock(&log_q.mu);
    if (log_q.running) {
        rc = 0; /* already started */
        goto out;
    }
    log_q.buf = buf;
    log_q.cap = queue_bytes > 0 ? queue_bytes : LOG_QUEUE_DEFAULT;
    log_q.head = log_q.len = 0;
    log_q.dropped = 0;
    log_q.stop = false;
    if (pthread_create(&log_q.thread, NULL, log_writer_main, NULL) != 0) {
        log_q.buf = NULL;
        goto out;
    }
    log_q.running = true;
    buf = NULL;
    rc = 0;
out:
    pthread_mutex_unlock(&log_q.mu);
    free(buf);
    return rc;
}

void log_stop(void)
{
    pthread_mutex_lock(&log_q.mu);
    if (!log_q.running) {
        pthread_mutex_unlock(&log_q.mu);
        return;
    }
    log_q.stop = true;
    pthread_cond_signal(&log_q.cv);
    pthread_mutex_unlock(&log_q.mu);
    pthread_join(log_q.thread, NULL);
    pthread_mutex_lock(&log_q.mu);
    log_q.running = false;
    free(log_q.buf);
    log_q.buf = NULL;
    log_q.cap = 0;
    pthread_mutex_unlock(&log_q.mu);
}

/* ---- redaction ------------------------------------------------------------------------------ */

static bool log_is_token_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}

/*
 * "password" "=" value (libpq keyword strings, URL query parameters, PGPASSWORD=...): *keep is
 * what the keyword, '=' and spaces take; returns the length up to the end of the value. A value
 * ends at whitespace, or for a URL query parameter (after '?' or '&') also at '&'; a quoted
 * libpq value at its closing quote.
 */
static size_t log_password_kw(const char *s, const char *start, size_t *keep)
{
    bool query = s > start && (s[-1] == '?' || s[-1] == '&');
    size_t n = 8;

    if (strncasecmp(s, "password", 8) != 0)
        return 0;
    while (s[n] == ' ')
        n++;
    if (s[n] != '=')
        return 0;
    n++;
    while (s[n] == ' ')
        n++;
    *keep = n;
    if (s[n] == '\'' && !query) {
        /* libpq quoted value: ends at the first quote not escaped by a backslash */
        for (n++; s[n] != '\0' && s[n] != '\''; n++)
            if (s[n] == '\\' && s[n + 1] != '\0')
                n++;
        if (s[n] == '\'')
            n++;
    } else {
        while (s[n] != '\0' && !isspace((unsigned char)s[n]) && !(query && s[n] == '&'))
            n++;
    }
    return n > *keep ? n : 0;
}

/*
 * URL userinfo password: s points at "://". The userinfo ends at the last '@' before the end
 * of the URL (whitespace, a quote or the end of the text): a password may hold '@', '/', '?' or
 * be percent-encoded, and masking too much is the safe way to be wrong. The password starts
 * after the first ':' of the userinfo; no ':' means no password.
 */
static size_t log_url_password(const char *s, size_t *keep)
{
    const char *p = s + 3, *at = NULL, *colon = NULL;

    for (; *p != '\0' && !isspace((unsigned char)*p) && *p != '"' && *p != '\'' && *p != '<' &&
           *p != '>';
         p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return 0;
    for (p = s + 3; p < at; p++)
        if (*p == ':') {
            colon = p;
            break;
        }
    if (colon == NULL || colon + 1 == at)
        return 0;
    *keep = (size_t)(colon + 1 - s);
    return (size_t)(at - s);
}

/* Length of the secret starting at s when s begins a known secret form, else 0;
 * *keep is how many leading bytes stay visible. */
static size_t log_secret_at(const char *s, const char *start, size_t *keep)
{
    size_t n = 0;

    *keep = 0;
    if ((s == start || !isalnum((unsigned char)s[-1])) &&
        (strncmp(s, "gw-", 3) == 0 || strncmp(s, "sk-", 3) == 0)) {
        *keep = 3;
    } else if (strncasecmp(s, "bearer ", 7) == 0) {
        *keep = 7;
    } else if ((n = log_password_kw(s, start, keep)) > 0) {
        return n;
    } else if (strncmp(s, "://", 3) == 0) {
        return log_url_password(s, keep);
    } else {
        return 0;
    }
    n = *keep;
    while (s[n] != '\0' && log_is_token_char((unsigned char)s[n]))
        n++;
    return n > *keep ? n : 0;
}

char *log_redact(char *dst, size_t dstlen, const char *src)
{
    size_t o = 0;
    const char *s = src;

    if (dstlen == 0)
        return dst;
    if (src == NULL)
        src = s = "";
    while (*s != '\0' && o + 1 < dstlen) {
        size_t keep, len = log_secret_at(s, src, &keep);
        if (len > 0) {
            o += log_escape(dst + o, dstlen - o, s, keep);
            for (const char *m = "***"; *m != '\0' && o + 1 < dstlen; m++)
                dst[o++] = *m;
            s += len;
            continue;
        }
        size_t k = log_escape(dst + o, dstlen - o, s, 1);
        if (k == 0)
            break; /* no room for the whole escape */
        o += k;
        s++;
    }
    dst[o] = '\0';
    return dst;
}

void log_scrub(char *s, const char *secret)
{
    size_t n = secret != NULL ? strlen(secret) : 0;
    size_t min = n < LOG_SCRUB_PREFIX ? n : LOG_SCRUB_PREFIX;
    char *r, *w;

    if (s == NULL || n < 4)
        return;
    for (r = w = s; *r != '\0';) {
        size_t k = 0;

        while (k < n && r[k] == secret[k])
            k++; /* stops at s's NUL too: secret has none before n */
        if (k >= min) {
            memcpy(w, "***", 3); /* k >= 4 > 3: w never overtakes r */
            w += 3;
            r += k;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}
