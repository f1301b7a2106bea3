/*
 * Unit tests of the AWS event-stream decoder (prov_awsstream): the providers.md §15 Bedrock
 * messages (contentBlockDelta, throttlingException) split at every byte, CRC and length checks,
 * every header value type, malformed headers, big messages over many feeds, several messages in
 * one feed, callback stop and end-of-stream rules. Test messages are built with zlib's crc32.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "providers/prov_awsstream.h"
#include "t_awsframe.h"
#include "t_xlate.h"

static const char delta_hex[] = T_AWS_FX_DELTA_HEX;
static const char throttle_hex[] = T_AWS_FX_THROTTLE_HEX;

/* Every delivered message serialised; problems flagged in bad (no ck_assert in callbacks, which
   run tens of thousands of times in the split loops). */
struct rec {
    char log[4096];
    size_t len;
    int n;
    int stop_at, stop_rc;
    bool bad;
};

static void rec_add(struct rec *r, const char *s, size_t n)
{
    if (r->len + n > sizeof(r->log)) {
        r->bad = true;
        return;
    }
    memcpy(r->log + r->len, s, n);
    r->len += n;
}

static void rec_str(struct rec *r, const char *s)
{
    rec_add(r, s ? s : "-", strlen(s ? s : "-"));
    rec_add(r, "|", 1);
}

static int rec_msg(const struct prov_aws_message *m, void *arg)
{
    struct rec *r = arg;
    char num[32];

    if (m->payload == NULL || m->payload[m->payload_len] != '\0' ||
        (m->nheaders > 0 && m->headers == NULL))
        r->bad = true;
    rec_str(r, m->message_type);
    rec_str(r, m->event_type);
    rec_str(r, m->exception_type);
    rec_str(r, m->content_type);
    rec_str(r, m->error_code);
    rec_str(r, m->error_message);
    snprintf(num, sizeof(num), "%zu|", m->nheaders);
    rec_add(r, num, strlen(num));
    rec_add(r, m->payload, m->payload_len);
    rec_add(r, "\n", 1);
    r->n++;
    return r->n == r->stop_at ? r->stop_rc : 0;
}

/* Feeds data in pieces of at most step bytes (0: whole); returns the first non-zero code. */
static int feed_steps(struct prov_awsstream *p, const unsigned char *d, size_t n, size_t step)
{
    int first = 0;

    for (size_t off = 0; off < n || (n == 0 && off == 0);) {
        size_t k = step == 0 || n - off < step ? n - off : step;
        int rc = prov_awsstream_feed(p, d + off, k);

        if (first == 0)
            first = rc;
        off += k;
        if (n == 0)
            break;
    }
    return first;
}

static const char fixtures_log[] =
    "event|contentBlockDelta|-|application/json|-|-|3|"
    "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}\n"
    "exception|-|throttlingException|application/json|-|-|3|{\"message\":\"Too many requests\"}\n";

START_TEST(fixtures_whole)
{
    unsigned char d[512];
    size_t n = tx_unhex(delta_hex, d);
    struct prov_awsstream p;
    struct rec r = {0};

    ck_assert_uint_eq(n, 148);
    ck_assert_uint_eq(tx_unhex(throttle_hex, d + n), 144);
    n += 144;
    prov_awsstream_init(&p, rec_msg, &r);
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), 0);
    ck_assert(!r.bad);
    ck_assert_int_eq(r.n, 2);
    ck_assert_uint_eq(r.len, strlen(fixtures_log));
    ck_assert(memcmp(r.log, fixtures_log, r.len) == 0);
    ck_assert_str_eq(prov_awsstream_error(&p), "");
    ck_assert(!prov_awsstream_finish(&p));
    ck_assert_uint_eq(prov_awsstream_count(&p), 2);
    prov_awsstream_cleanup(&p);
}
END_TEST

START_TEST(fixtures_split_everywhere)
{
    unsigned char d[512];
    size_t n = tx_unhex(delta_hex, d);
    struct prov_awsstream p;

    n += tx_unhex(throttle_hex, d + n);
    prov_awsstream_init(&p, rec_msg, NULL);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j += (i % 7 == 0 ? 1 : 13)) {
            struct rec r = {0};

            p.arg = &r;
            ck_assert_int_eq(prov_awsstream_feed(&p, d, i), 0);
            ck_assert_int_eq(prov_awsstream_feed(&p, d + i, j - i), 0);
            ck_assert_int_eq(prov_awsstream_feed(&p, d + j, n - j), 0);
            ck_assert(!prov_awsstream_finish(&p));
            ck_assert(!r.bad);
            ck_assert_uint_eq(r.len, strlen(fixtures_log));
            ck_assert(memcmp(r.log, fixtures_log, r.len) == 0);
        }
    }
    for (size_t step = 1; step < 20; step++) {
        struct rec r = {0};

        p.arg = &r;
        ck_assert_int_eq(feed_steps(&p, d, n, step), 0);
        ck_assert(!prov_awsstream_finish(&p));
        ck_assert(memcmp(r.log, fixtures_log, r.len) == 0 && r.len == strlen(fixtures_log));
    }
    prov_awsstream_cleanup(&p);
}
END_TEST

/* Appends one header to h (at *hl). */
static void hdr(unsigned char *h, size_t *hl, const char *name, int type, const void *v,
                size_t vlen)
{
    size_t nl = strlen(name);

    h[(*hl)++] = (unsigned char)nl;
    memcpy(h + *hl, name, nl);
    *hl += nl;
    h[(*hl)++] = (unsigned char)type;
    if (type == 6 || type == 7) {
        h[(*hl)++] = (unsigned char)(vlen >> 8);
        h[(*hl)++] = (unsigned char)vlen;
    }
    if (vlen > 0)
        memcpy(h + *hl, v, vlen);
    *hl += vlen;
}

static void be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* A message with headers h (hl bytes) and payload pl (plen) into out; returns its length. */
static size_t build(unsigned char *out, const unsigned char *h, size_t hl, const void *pl,
                    size_t plen)
{
    size_t total = 16 + hl + plen;

    be32(out, (uint32_t)total);
    be32(out + 4, (uint32_t)hl);
    be32(out + 8, (uint32_t)crc32(0, out, 8));
    memcpy(out + 12, h, hl);
    memcpy(out + 12 + hl, pl, plen);
    be32(out + total - 4, (uint32_t)crc32(0, out, (uInt)(total - 4)));
    return total;
}

/* The first message's headers, kept by the callback. */
struct keep {
    struct prov_aws_header h[16];
    unsigned char data[16][32];
    size_t n;
    char mt[32], et[32];
};

static int keep_msg(const struct prov_aws_message *m, void *arg)
{
    struct keep *k = arg;

    k->n = m->nheaders < 16 ? m->nheaders : 16;
    for (size_t i = 0; i < k->n; i++) {
        k->h[i] = m->headers[i];
        if (m->headers[i].data != NULL && m->headers[i].len <= 32)
            memcpy(k->data[i], m->headers[i].data, m->headers[i].len);
        k->h[i].name = NULL; /* borrowed: not valid after the call */
    }
    snprintf(k->mt, sizeof(k->mt), "%s", m->message_type ? m->message_type : "(null)");
    snprintf(k->et, sizeof(k->et), "%s", m->event_type ? m->event_type : "(null)");
    return 0;
}

START_TEST(every_header_type)
{
    unsigned char h[512], msg[1024];
    size_t hl = 0, n;
    const unsigned char i8[] = {0xfe}, i16[] = {0xfe, 0xd4}, i32[] = {0xff, 0xfe, 0xee, 0x90};
    const unsigned char i64[] = {0xff, 0xff, 0xfb, 0x73, 0xd8, 0xc6, 0xb0, 0x00};
    const unsigned char ts[] = {0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00};
    const unsigned char uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct prov_awsstream p;
    struct keep k = {0};

    hdr(h, &hl, "t", 0, NULL, 0);
    hdr(h, &hl, "f", 1, NULL, 0);
    hdr(h, &hl, "i8", 2, i8, 1);
    hdr(h, &hl, "i16", 3, i16, 2);
    hdr(h, &hl, "i32", 4, i32, 4);
    hdr(h, &hl, "i64", 5, i64, 8);
    hdr(h, &hl, "b", 6, "\0\1\2", 3);
    hdr(h, &hl, ":event-type", 7, "chunk", 5);
    hdr(h, &hl, "ts", 8, ts, 8);
    hdr(h, &hl, "u", 9, uuid, 16);
    hdr(h, &hl, ":message-type", 6, "event", 5); /* bytes, not string: not exposed */
    n = build(msg, h, hl, "", 0);
    prov_awsstream_init(&p, keep_msg, &k);
    ck_assert_int_eq(prov_awsstream_feed(&p, msg, n), 0);
    ck_assert_uint_eq(k.n, 11);
    ck_assert_int_eq(k.h[0].type, PROV_AWS_TRUE);
    ck_assert_int_eq(k.h[0].ival, 1);
    ck_assert_int_eq(k.h[1].type, PROV_AWS_FALSE);
    ck_assert_int_eq(k.h[1].ival, 0);
    ck_assert_int_eq(k.h[2].ival, -2);
    ck_assert_int_eq(k.h[3].ival, -300);
    ck_assert_int_eq(k.h[4].ival, -70000);
    ck_assert_int_eq(k.h[5].ival, -5000000000000LL);
    ck_assert_int_eq(k.h[6].type, PROV_AWS_BYTES);
    ck_assert_uint_eq(k.h[6].len, 3);
    ck_assert(memcmp(k.data[6], "\0\1\2", 3) == 0);
    ck_assert_int_eq(k.h[7].type, PROV_AWS_STRING);
    ck_assert_uint_eq(k.h[7].name_len, 11);
    ck_assert_int_eq(k.h[8].type, PROV_AWS_TIMESTAMP);
    ck_assert_int_eq(k.h[8].ival, 1700000000000LL);
    ck_assert_int_eq(k.h[9].type, PROV_AWS_UUID);
    ck_assert_uint_eq(k.h[9].len, 16);
    ck_assert(memcmp(k.data[9], uuid, 16) == 0);
    ck_assert_str_eq(k.et, "chunk");
    ck_assert_str_eq(k.mt, "(null)");
    ck_assert(!prov_awsstream_finish(&p));
    prov_awsstream_cleanup(&p);
}
END_TEST

/* Feeds n bytes of d whole and expects -1 with reason containing want, and no message. */
static void expect_fail(const unsigned char *d, size_t n, const char *want)
{
    struct prov_awsstream p;
    struct rec r = {0};

    prov_awsstream_init(&p, rec_msg, &r);
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), -1);
    ck_assert_int_eq(r.n, 0);
    ck_assert_msg(strstr(prov_awsstream_error(&p), want) != NULL, "reason '%s', want '%s'",
                  prov_awsstream_error(&p), want);
    /* Failed for good until finish. */
    ck_assert_int_eq(prov_awsstream_feed(&p, d, 0), -1);
    ck_assert(prov_awsstream_finish(&p));
    ck_assert_str_eq(prov_awsstream_error(&p), "");
    prov_awsstream_cleanup(&p);
}

START_TEST(crc_mismatches)
{
    unsigned char d[512];
    size_t n = tx_unhex(delta_hex, d);

    d[8] ^= 1;
    expect_fail(d, n, "prelude CRC mismatch");
    d[8] ^= 1;
    d[2] ^= 0x10; /* a length bit: caught by the prelude CRC before it is trusted */
    expect_fail(d, n, "prelude CRC mismatch");
    d[2] ^= 0x10;
    d[n - 1] ^= 0x80;
    expect_fail(d, n, "message CRC mismatch");
    d[n - 1] ^= 0x80;
    d[100] ^= 4; /* a payload byte */
    expect_fail(d, n, "message CRC mismatch");
    d[100] ^= 4;
    d[20] ^= 4; /* a header byte */
    expect_fail(d, n, "message CRC mismatch");
}
END_TEST

/* A prelude with valid CRC claiming total and hlen. */
static void prelude(unsigned char *b, uint32_t total, uint32_t hlen)
{
    be32(b, total);
    be32(b + 4, hlen);
    be32(b + 8, (uint32_t)crc32(0, b, 8));
}

START_TEST(length_limits)
{
    unsigned char b[16];

    prelude(b, 16 + 128 * 1024 + 1, 128 * 1024 + 1);
    expect_fail(b, 12, "headers length 131073 over the 131072-byte limit");
    prelude(b, 12, 0);
    expect_fail(b, 12, "message length 12 is under 16 bytes");
    prelude(b, 0, 0);
    expect_fail(b, 12, "message length 0 is under 16 bytes");
    prelude(b, 100, 85);
    expect_fail(b, 12, "headers length 85 exceeds the message (100 bytes)");
    prelude(b, 0xffffffffu, 10);
    expect_fail(b, 12, "over the 25165824-byte limit");
    prelude(b, 16 + 24 * 1024 * 1024 + 1, 0);
    expect_fail(b, 12, "payload of 25165825 bytes over");
}
END_TEST

START_TEST(malformed_headers)
{
    unsigned char h[64], m[128];
    size_t hl, n;

    hl = 0;
    hdr(h, &hl, "x", 7, "abc", 3);
    h[hl - 5] = 0;
    h[hl - 4] = 9; /* string length 9 past the headers */
    n = build(m, h, hl, "p", 1);
    expect_fail(m, n, "header 1: truncated value");
    hl = 0;
    hdr(h, &hl, "x", 10, NULL, 0);
    n = build(m, h, hl, "", 0);
    expect_fail(m, n, "header 1: unknown value type");
    h[0] = 0;
    n = build(m, h, 1, "", 0);
    expect_fail(m, n, "header 1: bad name length");
    hl = 0;
    hdr(h, &hl, "ok", 0, NULL, 0);
    h[hl++] = 5; /* name running past the headers */
    h[hl++] = 'a';
    n = build(m, h, hl, "", 0);
    expect_fail(m, n, "header 2: bad name length");
    hl = 0;
    hdr(h, &hl, "ok", 0, NULL, 0);
    h[hl++] = 1;
    h[hl++] = 'a'; /* no type byte */
    n = build(m, h, hl, "", 0);
    expect_fail(m, n, "header 2: no value type");
    hl = 0;
    hdr(h, &hl, "i", 5, "\0\0\0\0\0\0\0\1", 8);
    n = build(m, h, hl - 3, "", 0); /* int64 cut short */
    expect_fail(m, n, "header 1: truncated value");
}
END_TEST

START_TEST(big_message_many_feeds)
{
    size_t plen = 200 * 1024, n;
    unsigned char h[64], *m = malloc(plen + 128), *pl = malloc(plen);
    size_t hl = 0;
    struct prov_awsstream p;
    struct rec r = {0};

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(pl);
    memset(pl, 'z', plen);
    hdr(h, &hl, ":message-type", 7, "event", 5);
    hdr(h, &hl, ":event-type", 7, "chunk", 5);
    n = build(m, h, hl, pl, plen);
    r.stop_at = 0;
    prov_awsstream_init(&p, keep_msg, &(struct keep){0});
    ck_assert_int_eq(feed_steps(&p, m, n, 7), 0);
    ck_assert_uint_eq(prov_awsstream_count(&p), 1);
    ck_assert(!prov_awsstream_finish(&p));
    /* All but the last byte: nothing delivered, and finish reports the truncation. */
    ck_assert_int_eq(feed_steps(&p, m, n - 1, 4096), 0);
    ck_assert_uint_eq(prov_awsstream_count(&p), 1);
    ck_assert(prov_awsstream_finish(&p));
    /* After finish the decoder starts clean. */
    ck_assert_int_eq(feed_steps(&p, m, n, 0), 0);
    ck_assert_uint_eq(prov_awsstream_count(&p), 2);
    prov_awsstream_cleanup(&p);
    free(m);
    free(pl);
    (void)r;
}
END_TEST

START_TEST(several_in_one_feed)
{
    unsigned char d[2048], h[128];
    size_t n = 0, hl = 0;
    struct prov_awsstream p;
    struct rec r = {0};
    const char *want;

    hdr(h, &hl, ":message-type", 7, "error", 5);
    hdr(h, &hl, ":error-code", 7, "InternalFailure", 15);
    hdr(h, &hl, ":error-message", 7, "boom", 4);
    n += tx_unhex(delta_hex, d);
    n += build(d + n, h, hl, "", 0);
    n += tx_unhex(delta_hex, d + n);
    n += tx_unhex(throttle_hex, d + n);
    prov_awsstream_init(&p, rec_msg, &r);
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), 0);
    ck_assert_int_eq(r.n, 4);
    want = "error|-|-|-|InternalFailure|boom|3|\n";
    ck_assert_ptr_nonnull(strstr(r.log, want));
    ck_assert(!prov_awsstream_finish(&p));
    prov_awsstream_cleanup(&p);
}
END_TEST

START_TEST(callback_stop)
{
    unsigned char d[512];
    size_t n = tx_unhex(delta_hex, d);
    struct prov_awsstream p;
    struct rec r = {.stop_at = 1, .stop_rc = 5};

    n += tx_unhex(throttle_hex, d + n);
    prov_awsstream_init(&p, rec_msg, &r);
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), 5);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(prov_awsstream_error(&p), "event stream: stopped by the callback");
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), -1);
    ck_assert(prov_awsstream_finish(&p));
    r.stop_at = 0;
    ck_assert_int_eq(prov_awsstream_feed(&p, d, n), 0);
    ck_assert_int_eq(r.n, 3);
    ck_assert(!prov_awsstream_finish(&p));
    prov_awsstream_cleanup(&p);
    prov_awsstream_cleanup(NULL);
}
END_TEST

Suite *awsstream_suite(void)
{
    Suite *s = suite_create("awsstream");
    TCase *tc = tcase_create("fixtures");

    tcase_add_test(tc, fixtures_whole);
    tcase_add_test(tc, fixtures_split_everywhere);
    tcase_add_test(tc, several_in_one_feed);
    tcase_add_test(tc, big_message_many_feeds);
    tcase_add_test(tc, callback_stop);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalid");
    tcase_add_test(tc, every_header_type);
    tcase_add_test(tc, crc_mismatches);
    tcase_add_test(tc, length_limits);
    tcase_add_test(tc, malformed_headers);
    suite_add_tcase(s, tc);
    return s;
}
