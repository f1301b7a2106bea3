/*
 * AWS event-stream decoder: assembles one message at a time (prelude first, so its lengths are
 * checked before the rest is buffered), verifies both CRCs with zlib, parses the headers, hands
 * the message to the callback. See prov_awsstream.h.
 */
#include "providers/prov_awsstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t aws_be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t aws_be64(const unsigned char *b)
{
    return (uint64_t)aws_be32(b) << 32 | aws_be32(b + 4);
}

static uint32_t aws_crc(const unsigned char *b, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)n);
}

void prov_awsstream_init(struct prov_awsstream *p, prov_awsstream_fn *on_message, void *arg)
{
    *p = (struct prov_awsstream){.on_message = on_message, .arg = arg};
}

void prov_awsstream_cleanup(struct prov_awsstream *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p->hdrs);
    free(p->strs);
    *p = (struct prov_awsstream){0};
}

/* Marks p failed with rc and, for -1, the reason. Returns rc. */
__attribute__((format(printf, 3, 4))) static int aws_fail(struct prov_awsstream *p, int rc,
                                                          const char *fmt, ...)
{
    va_list ap;

    p->failed = rc;
    va_start(ap, fmt);
    vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
    va_end(ap);
    return rc;
}

static int aws_reserve(struct prov_awsstream *p, size_t n)
{
    unsigned char *nb;

    if (n <= p->cap)
        return 0;
    nb = realloc(p->buf, n);
    if (nb == NULL)
        return -1;
    p->buf = nb;
    p->cap = n;
    return 0;
}

/* Checks the prelude in p->buf; sets p->need. Returns 0 or -1 (p failed). */
static int aws_prelude(struct prov_awsstream *p)
{
    uint32_t total = aws_be32(p->buf), hlen = aws_be32(p->buf + 4);

    if (aws_crc(p->buf, 8) != aws_be32(p->buf + 8))
        return aws_fail(p, -1, "event stream: prelude CRC mismatch");
    if (total < PROV_AWS_MIN_MESSAGE)
        return aws_fail(p, -1, "event stream: message length %u is under 16 bytes", total);
    if (hlen > PROV_AWS_MAX_HEADERS)
        return aws_fail(p, -1, "event stream: headers length %u over the %d-byte limit", hlen,
                        PROV_AWS_MAX_HEADERS);
    if (hlen > total - PROV_AWS_MIN_MESSAGE)
        return aws_fail(p, -1, "event stream: headers length %u exceeds the message (%u bytes)",
                        hlen, total);
    if (total - PROV_AWS_MIN_MESSAGE - hlen > PROV_AWS_MAX_PAYLOAD)
        return aws_fail(p, -1, "event stream: payload of %u bytes over the %d-byte limit",
                        total - PROV_AWS_MIN_MESSAGE - hlen, PROV_AWS_MAX_PAYLOAD);
    if (aws_reserve(p, total) != 0)
        return aws_fail(p, -1, "event stream: out of memory");
    p->need = total;
    return 0;
}

/* Parses the n header bytes at h into p->hdrs. Returns the count, or -1 (p failed). */
static long aws_headers(struct prov_awsstream *p, const unsigned char *h, size_t n)
{
    static const size_t fixed[] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    size_t off = 0, count = 0;

    while (off < n) {
        struct prov_aws_header hd = {0};
        size_t nl = h[off++], vl;

        if (nl == 0 || nl > n - off)
            return aws_fail(p, -1, "event stream: header %zu: bad name length", count + 1);
        hd.name = (const char *)h + off;
        hd.name_len = nl;
        off += nl;
        if (off >= n || h[off] > PROV_AWS_UUID)
            return aws_fail(p, -1, "event stream: header %zu: %s", count + 1,
                            off >= n ? "no value type" : "unknown value type");
        hd.type = (enum prov_aws_htype)h[off++];
        vl = fixed[hd.type];
        if (hd.type == PROV_AWS_BYTES || hd.type == PROV_AWS_STRING) {
            if (n - off < 2)
                return aws_fail(p, -1, "event stream: header %zu: truncated value", count + 1);
            vl = (size_t)h[off] << 8 | h[off + 1];
            off += 2;
        }
        if (vl > n - off)
            return aws_fail(p, -1, "event stream: header %zu: truncated value", count + 1);
        switch (hd.type) {
        case PROV_AWS_TRUE:
            hd.ival = 1;
            break;
        case PROV_AWS_INT8:
            hd.ival = (int8_t)h[off];
            break;
        case PROV_AWS_INT16:
            hd.ival = (int16_t)((uint16_t)h[off] << 8 | h[off + 1]);
            break;
        case PROV_AWS_INT32:
            hd.ival = (int32_t)aws_be32(h + off);
            break;
        case PROV_AWS_INT64:
        case PROV_AWS_TIMESTAMP:
            hd.ival = (int64_t)aws_be64(h + off);
            break;
        case PROV_AWS_BYTES:
        case PROV_AWS_STRING:
        case PROV_AWS_UUID:
            hd.data = h + off;
            hd.len = vl;
            break;
        default: /* FALSE */
            break;
        }
        off += vl;
        if (count == p->hcap) {
            size_t ncap = p->hcap ? p->hcap * 2 : 8;
            struct prov_aws_header *g = realloc(p->hdrs, ncap * sizeof(*g));

            if (g == NULL)
                return aws_fail(p, -1, "event stream: out of memory");
            p->hdrs = g;
            p->hcap = ncap;
        }
        p->hdrs[count++] = hd;
    }
    return (long)count;
}

/* The NUL-terminated copies of the well-known string headers into m. Returns 0 or -1. */
static int aws_strings(struct prov_awsstream *p, struct prov_aws_message *m, size_t hlen)
{
    static const char *const names[] = {":message-type", ":event-type", ":exception-type",
                                        ":content-type", ":error-code", ":error-message"};
    const char **slots[] = {&m->message_type, &m->event_type, &m->exception_type,
                            &m->content_type, &m->error_code, &m->error_message};
    const struct prov_aws_header *found[6] = {0};
    size_t off = 0;

    for (size_t i = 0; i < m->nheaders; i++) {
        const struct prov_aws_header *h = &m->headers[i];

        for (size_t k = 0; k < 6 && h->type == PROV_AWS_STRING; k++)
            if (h->name_len == strlen(names[k]) && memcmp(h->name, names[k], h->name_len) == 0)
                found[k] = h;
    }
    if (p->scap < hlen + 6) {
        char *g = realloc(p->strs, hlen + 6);

        if (g == NULL)
            return aws_fail(p, -1, "event stream: out of memory");
        p->strs = g;
        p->scap = hlen + 6;
    }
    for (size_t k = 0; k < 6; k++) {
        if (found[k] == NULL)
            continue;
        memcpy(p->strs + off, found[k]->data, found[k]->len);
        p->strs[off + found[k]->len] = '\0';
        *slots[k] = p->strs + off;
        off += found[k]->len + 1;
    }
    return 0;
}

/* Checks, parses and delivers the complete message in p->buf. Returns 0 or non-zero (p failed).
 */
static int aws_deliver(struct prov_awsstream *p)
{
    size_t total = p->need, hlen = aws_be32(p->buf + 4);
    struct prov_aws_message m = {0};
    long nh;
    int rc;

    if (aws_crc(p->buf, total - 4) != aws_be32(p->buf + total - 4))
        return aws_fail(p, -1, "event stream: message CRC mismatch");
    nh = aws_headers(p, p->buf + PROV_AWS_PRELUDE, hlen);
    if (nh < 0)
        return -1;
    m.headers = p->hdrs;
    m.nheaders = (size_t)nh;
    if (aws_strings(p, &m, hlen) != 0)
        return -1;
    m.payload = (const char *)p->buf + PROV_AWS_PRELUDE + hlen;
    m.payload_len = total - PROV_AWS_MIN_MESSAGE - hlen;
    p->buf[total - 4] = '\0'; /* over the checked CRC */
    p->n_messages++;
    rc = p->on_message(&m, p->arg);
    if (rc != 0)
        return aws_fail(p, rc, "event stream: stopped by the callback");
    return 0;
}

int prov_awsstream_feed(struct prov_awsstream *p, const void *buf, size_t len)
{
    const unsigned char *in = buf;
    int rc;

    if (p->failed != 0)
        return -1;
    while (len > 0) {
        size_t want = p->need ? p->need : PROV_AWS_PRELUDE, take;

        if (p->need == 0 && aws_reserve(p, PROV_AWS_PRELUDE) != 0)
            return aws_fail(p, -1, "event stream: out of memory");
        take = want - p->len < len ? want - p->len : len;
        memcpy(p->buf + p->len, in, take);
        p->len += take;
        in += take;
        len -= take;
        if (p->len < want)
            break;
        if (p->need == 0) {
            if (aws_prelude(p) != 0)
                return -1;
            if (p->len < p->need)
                continue;
        }
        rc = aws_deliver(p);
        p->len = 0;
        p->need = 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

bool prov_awsstream_finish(struct prov_awsstream *p)
{
    bool truncated = p->len > 0 || p->failed != 0;

    p->len = 0;
    p->need = 0;
    p->failed = 0;
    p->reason[0] = '\0';
    return truncated;
}

const char *prov_awsstream_error(const struct prov_awsstream *p)
{
    return p->reason;
}

unsigned long prov_awsstream_count(const struct prov_awsstream *p)
{
    return p->n_messages;
}
