/*
 * AWS event-stream message encoder (see t_awsframe.h): big-endian prelude (total length, headers
 * length, CRC-32 of those 8 bytes), string headers (name_len:u8, name, type 7, value_len:u16,
 * value), payload, CRC-32 of everything before it.
 */
#include "t_awsframe.h"

#include <stdint.h>
#include <string.h>

#include <zlib.h>

static void t_aws_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends one string header at out + *at; returns 0 or -1 when it does not fit. */
static int t_aws_header(unsigned char *out, size_t cap, size_t *at, const char *name,
                        const char *value)
{
    size_t n = strlen(name), v = strlen(value);

    if (n > 255 || v > 65535 || *at + 1 + n + 3 + v > cap)
        return -1;
    out[(*at)++] = (unsigned char)n;
    memcpy(out + *at, name, n);
    *at += n;
    out[(*at)++] = 7;
    out[(*at)++] = (unsigned char)(v >> 8);
    out[(*at)++] = (unsigned char)v;
    memcpy(out + *at, value, v);
    *at += v;
    return 0;
}

size_t t_aws_frame(unsigned char *out, size_t cap, const char *message_type, const char *type_name,
                   const char *type_value, const char *content_type, const void *payload,
                   size_t len)
{
    size_t at = 12, hlen, total;

    if (cap < 16 || t_aws_header(out, cap, &at, type_name, type_value) < 0 ||
        t_aws_header(out, cap, &at, ":content-type", content_type) < 0 ||
        t_aws_header(out, cap, &at, ":message-type", message_type) < 0)
        return 0;
    hlen = at - 12;
    total = at + len + 4;
    if (total > cap || total > UINT32_MAX)
        return 0;
    if (len > 0)
        memcpy(out + at, payload, len);
    t_aws_be32(out, (uint32_t)total);
    t_aws_be32(out + 4, (uint32_t)hlen);
    t_aws_be32(out + 8, (uint32_t)crc32(0L, out, 8));
    t_aws_be32(out + total - 4, (uint32_t)crc32(0L, out, (uInt)(total - 4)));
    return total;
}
