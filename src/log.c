/*
 * Logging: level filter, one write(2) per line so threads never interleave, and the
 * redaction helper that keeps keys and DSN passwords out of every line.
 */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_LVL_INFO;

static const struct {
    const char *name;
    int level;
} log_names[] = {
    {"debug", LOG_LVL_DEBUG}, {"info", LOG_LVL_INFO},   {"warning", LOG_LVL_WARN},
    {"warn", LOG_LVL_WARN},   {"error", LOG_LVL_ERROR}, {"critical", LOG_LVL_CRIT},
};

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

void log_msg(int level, const char *fmt, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;
    va_list ap;

    if (level < log_threshold)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", (long)(tv.tv_usec / 1000),
                 log_level_name(level));
    if (r > 0)
        n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line: lines from different threads never interleave. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

static bool log_is_token_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}

/* True when s (a ':') is the first ':' of the userinfo of a URL: the nearest "://" before s is
 * followed by no '@', '/', ':' or whitespace up to s. */
static bool log_url_authority(const char *start, const char *s)
{
    const char *a = NULL;

    for (const char *p = strstr(start, "://"); p != NULL && p + 3 <= s; p = strstr(p + 1, "://"))
        a = p + 3;
    if (a == NULL)
        return false;
    for (const char *p = a; p < s; p++)
        if (*p == '@' || *p == '/' || *p == ':' || isspace((unsigned char)*p))
            return false;
    return true;
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
    } else if (strncasecmp(s, "password=", 9) == 0) {
        *keep = 9;
    } else if (s[0] == ':' && log_url_authority(start, s)) {
        /* URL userinfo password: "scheme://user:PASSWORD@host", up to the first '@' of the URL
         * (a '/' or ':' in an unencoded password is masked too). */
        const char *at = s + 1;
        while (*at != '\0' && *at != '@' && !isspace((unsigned char)*at))
            at++;
        if (*at != '@')
            return 0;
        *keep = 1;
        return (size_t)(at - s);
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
            for (size_t i = 0; i < keep && o + 1 < dstlen; i++)
                dst[o++] = s[i];
            for (const char *m = "***"; *m != '\0' && o + 1 < dstlen; m++)
                dst[o++] = *m;
            s += len;
            continue;
        }
        dst[o++] = (iscntrl((unsigned char)*s)) ? '?' : *s;
        s++;
    }
    dst[o] = '\0';
    return dst;
}
