/*
 * Small shared helpers: UTC timestamps in the reference's ISO-8601 form, UUID strings (random v4,
 * time-ordered v7) and kernel randomness.
 */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define UTIL_TS_LEN 40   /* buffer size for util_ts_format() */
#define UTIL_UUID_LEN 37 /* buffer size for util_uuid4() / util_uuid7() */

/* Microseconds since the Unix epoch (wall clock). */
int64_t util_now_us(void);

/* Monotonic microseconds (for durations). */
int64_t util_mono_us(void);

/*
 * Formats t (microseconds since the epoch, UTC) like Python's isoformat() on an aware value:
 * "2025-11-07T16:41:44.429258+00:00", the fraction omitted when it is 0. Returns buf.
 */
char *util_ts_format(char *buf, size_t len, int64_t t_us);

/* Fills buf with n bytes from the kernel CSPRNG (getrandom). Returns 0 or -1. */
int util_random(void *buf, size_t n) __attribute__((warn_unused_result));

/* Writes a random UUID4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") into buf. Returns 0 or -1. */
int util_uuid4(char buf[UTIL_UUID_LEN]) __attribute__((warn_unused_result));

/*
 * Writes a time-ordered UUID7 for t_us (microseconds since the epoch, >= 0) into buf: 48 bits
 * of milliseconds, 12 bits of sub-millisecond fraction, 62 bits from rnd. Ids of increasing
 * times sort increasingly, so an index on them grows at its end. Returns 0, or -1 if t_us < 0.
 */
int util_uuid7(char buf[UTIL_UUID_LEN], int64_t t_us, const unsigned char rnd[8])
    __attribute__((warn_unused_result));

/*
 * Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates), 0 if
 * none. Reads at most up to the first byte that ends the sequence (never past a '\0').
 */
size_t util_utf8_len(const unsigned char *s);

/* Replaces in place every byte of s that is not part of valid UTF-8 with '?'. */
void util_utf8_scrub(char *s);

/* The first occurrence of needle (nlen > 0 bytes) in hay (hlen bytes), or NULL (memmem()
   without _GNU_SOURCE). */
const char *util_memfind(const char *hay, size_t hlen, const char *needle, size_t nlen);

#endif
