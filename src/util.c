/*
 * Time formatting, UUIDs and randomness shared by every module.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
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

int util_uuid4(char buf[UTIL_UUID_LEN])
{
    unsigned char b[16];

    if (util_random(b, sizeof(b)) < 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, UTIL_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
