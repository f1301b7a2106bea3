/*
 * Time formatting, UUIDs and randomness shared by every module.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t util_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *util_ts_format(char *buf, size_t len, int64_t t_us)
{
    time_t sec = (time_t)(t_us / 1000000);
    long usec = (long)(t_us % 1000000);
    struct tm tm;
    size_t n;

    if (usec < 0) {
        usec += 1000000;
        sec -= 1;
    }
    gmtime_r(&sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (usec != 0)
        snprintf(buf + n, len - n, ".%06ld+00:00", usec);
    else
        snprintf(buf + n, len - n, "+00:00");
    return buf;
}

int util_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Formats 16 bytes as the canonical 8-4-4-4-12 lower-case hex string. */
static void util_uuid_format(char buf[UTIL_UUID_LEN], const unsigned char b[16])
{
    static const char hex[] = "0123456789abcdef";
    char *p = buf;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
}

int util_uuid4(char buf[UTIL_UUID_LEN])
{
    unsigned char b[16];

    if (util_random(b, sizeof(b)) < 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    util_uuid_format(buf, b);
    return 0;
}

int util_uuid7(char buf[UTIL_UUID_LEN], int64_t t_us, const unsigned char rnd[8])
{
    uint64_t ms, sub;
    unsigned char b[16];

    if (t_us < 0)
        return -1;
    ms = (uint64_t)t_us / 1000;
    sub = ((uint64_t)t_us % 1000) * 4096 / 1000; /* RFC 9562 6.2 method 3: 12-bit fraction */
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (sub >> 8));
    b[7] = (unsigned char)sub;
    memcpy(b + 8, rnd, 8);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    util_uuid_format(buf, b);
    return 0;
}

size_t util_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        unsigned lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        unsigned lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void util_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p != '\0') {
        size_t n = util_utf8_len(p);

        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

const char *util_memfind(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    const char *p = hay, *end = hay + hlen;

    if (nlen == 0 || hlen < nlen)
        return NULL;
    while ((p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1)) != NULL) {
        if (memcmp(p, needle, nlen) == 0)
            return p;
        if (++p > end - nlen)
            break;
    }
    return NULL;
}
