/*
 * The parse-memory bound of jmem.h. Costs per item are jansson 2.14's on a 64-bit glibc, each
 * rounded up with room: a number is a 24-byte object (a 32-byte chunk); a string a 32-byte
 * object plus a copy of its text; an array slot 8 bytes, kept at up to twice the element count
 * and briefly three times while the table grows; an object member a hashtable pair with its key
 * (~48 bytes + key) and up to two 16-byte buckets; a container ~200 bytes with its first tables.
 * The lexer holds the current token in a buffer that doubles as it grows (up to three times the
 * token while it grows), and a string token is copied once more when it is complete.
 */
#include "jmem.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#define JMEM_NUMBER 48     /* a number value, and any other scalar, with slack */
#define JMEM_STRING 64     /* a string value without its text */
#define JMEM_SLOT 32       /* an element's share of its array's table (3 x 8, rounded up) */
#define JMEM_MEMBER 128    /* an object member without its key text */
#define JMEM_CONTAINER 256 /* an array or object with its first tables */

size_t jmem_estimate(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    size_t total = 0, longest = 0;

    while (p < end) {
        unsigned char c = *p;

        if (c == '"') {
            const unsigned char *s = ++p;
            size_t n;

            while (p < end && *p != '"') {
                const unsigned char *q = memchr(p, '"', (size_t)(end - p));
                const unsigned char *b = memchr(p, '\\', (size_t)((q != NULL ? q : end) - p));

                if (b == NULL) {
                    p = q != NULL ? q : end;
                    break;
                }
                p = b + 2 <= end ? b + 2 : end; /* the escaped byte cannot end the string */
            }
            n = (size_t)(p - s);
            if (p < end)
                p++;
            /* a value, or a key (whose member is charged at its ':'): its text, twice */
            total += JMEM_STRING + JMEM_SLOT + 2 * (n + 1);
            if (n > longest)
                longest = n;
        } else if (c == '[' || c == '{') {
            total += JMEM_CONTAINER + JMEM_SLOT;
            p++;
        } else if (c == ':') {
            total += JMEM_MEMBER;
            p++;
        } else if (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' ||
                   c == '\r') {
            p++;
        } else {
            /* a number or a literal (or garbage): one value per run of such bytes */
            const unsigned char *s = p;

            while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ':' && *p != '"' &&
                   *p != '[' && *p != '{' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
                p++;
            total += JMEM_NUMBER + JMEM_SLOT;
            if ((size_t)(p - s) > longest)
                longest = (size_t)(p - s);
        }
    }
    return total + 3 * (longest + 16) + 4096;
}

size_t jmem_limit_for(size_t len)
{
    return ((size_t)64 << 20) + 2 * len;
}

json_t *jmem_loadb(const char *buf, size_t len, size_t flags, size_t limit, json_error_t *err,
                   bool *over)
{
    bool big = jmem_estimate(buf, len) > limit;

    if (over != NULL)
        *over = big;
    if (big) {
        if (err != NULL) {
            memset(err, 0, sizeof(*err));
            snprintf(err->text, sizeof(err->text), "document too complex to parse within %zu MiB",
                     limit >> 20);
        }
        return NULL;
    }
    return json_loadb(buf, len, flags, err);
}

void jmem_trim_after(size_t len)
{
    if (len >= JMEM_TRIM_MIN)
        malloc_trim(0);
}
