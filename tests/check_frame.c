/*
 * Unit tests of the incremental request framer: whole requests, every split position and
 * byte-at-a-time feeding, pipelining, chunked bodies with extensions and trailers, each error
 * (400/413/431) and the exact limits (max allowed vs max + 1).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http/gw_frame.h"

#define MAXREQ 8

struct fr_out {
    int n;                             /* complete requests */
    size_t total[MAXREQ];              /* their lengths */
    struct gw_frame_info info[MAXREQ]; /* info at GW_FRAME_DONE */
    int heads;                         /* GW_FRAME_HEAD events */
    int status;                        /* error status, 0 when none */
    size_t consumed;                   /* bytes consumed, until an error */
};

/* Feeds buf[off .. off+n) like one socket read; start is the offset of the current request. */
static void feed_piece(struct gw_frame *f, const char *buf, size_t off, size_t n, size_t *start,
                       struct fr_out *o)
{
    const char *p = buf + off;

    while (n > 0 && o->status == 0) {
        size_t used = 0;
        enum gw_frame_ev ev = gw_frame_feed(f, p, n, &used);
        const struct gw_frame_info *in = gw_frame_info(f);

        ck_assert_uint_le(used, n);
        if (ev == GW_FRAME_MORE)
            ck_assert_uint_eq(used, n);
        p += used;
        n -= used;
        o->consumed += used;
        if (ev == GW_FRAME_HEAD) {
            o->heads++;
            ck_assert(gw_frame_is_busy(f));
            ev = gw_frame_head(f, buf + *start + in->skip);
        }
        if (ev == GW_FRAME_DONE) {
            ck_assert_int_lt(o->n, MAXREQ);
            ck_assert(!gw_frame_is_busy(f));
            o->info[o->n] = *in;
            o->total[o->n++] = in->total_len;
            *start += in->total_len;
        } else if (ev == GW_FRAME_ERROR) {
            ck_assert(!gw_frame_is_busy(f));
            o->status = in->status;
            ck_assert(o->status == 400 || o->status == 413 || o->status == 431 ||
                      o->status == 501 || o->status == 505);
        }
    }
}

/* Feeds buf in pieces of step bytes (split > 0: exactly two pieces, [0, split) and the rest). */
static void drive(const char *buf, size_t len, size_t step, size_t split, size_t max_head,
                  size_t max_body, struct fr_out *o)
{
    struct gw_frame *f = gw_frame_new(max_head, max_body);
    size_t start = 0;

    ck_assert_ptr_nonnull(f);
    memset(o, 0, sizeof(*o));
    if (split > 0) {
        feed_piece(f, buf, 0, split, &start, o);
        feed_piece(f, buf, split, len - split, &start, o);
    } else {
        for (size_t off = 0; off < len; off += step)
            feed_piece(f, buf, off, len - off < step ? len - off : step, &start, o);
    }
    gw_frame_free(f);
}

static void run(const char *buf, size_t len, struct fr_out *o)
{
    drive(buf, len, len, 0, 8192, 1 << 20, o);
}

/* Every way of splitting buf (two pieces at each position; 1, 2, 3 and 7 bytes at a time) gives
 * the same result as feeding it whole. */
static void check_splits(const char *buf, size_t len, size_t max_head, size_t max_body)
{
    struct fr_out whole, o;
    static const size_t steps[] = {1, 2, 3, 7};

    drive(buf, len, len, 0, max_head, max_body, &whole);
    for (size_t k = 1; k < len; k++) {
        drive(buf, len, 0, k, max_head, max_body, &o);
        ck_assert_int_eq(o.n, whole.n);
        ck_assert_int_eq(o.status, whole.status);
        for (int i = 0; i < o.n; i++) {
            ck_assert_uint_eq(o.total[i], whole.total[i]);
            ck_assert_uint_eq(o.info[i].head_len, whole.info[i].head_len);
            ck_assert_int_eq(o.info[i].chunk_ext, whole.info[i].chunk_ext);
        }
    }
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        drive(buf, len, steps[s], 0, max_head, max_body, &o);
        ck_assert_int_eq(o.n, whole.n);
        ck_assert_int_eq(o.status, whole.status);
        for (int i = 0; i < o.n; i++)
            ck_assert_uint_eq(o.total[i], whole.total[i]);
    }
}

#define S(lit) (lit), (sizeof(lit) - 1)

START_TEST(get_whole)
{
    static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    struct fr_out o;

    run(S(req), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert_int_eq(o.heads, 1);
    ck_assert_uint_eq(o.total[0], sizeof(req) - 1);
    ck_assert_uint_eq(o.info[0].head_len, sizeof(req) - 1);
    ck_assert_uint_eq(o.info[0].skip, 0);
    ck_assert(o.info[0].http11);
    ck_assert(!o.info[0].chunked);
    ck_assert(!o.info[0].has_content_length);
    ck_assert(!o.info[0].expect_continue);
    check_splits(S(req), 8192, 1 << 20);
}
END_TEST

START_TEST(post_content_length)
{
    static const char req[] = "POST /p HTTP/1.0\r\nhost: x\r\ncontent-LENGTH:\t 5 \r\n\r\nhello";
    struct fr_out o;

    run(S(req), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert_uint_eq(o.total[0], sizeof(req) - 1);
    ck_assert_uint_eq(o.info[0].head_len, sizeof(req) - 1 - 5);
    ck_assert(o.info[0].has_content_length);
    ck_assert_uint_eq(o.info[0].content_length, 5);
    ck_assert(!o.info[0].http11);
    check_splits(S(req), 8192, 1 << 20);
}
END_TEST

START_TEST(content_length_zero_and_duplicates)
{
    struct fr_out o;

    run(S("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert_uint_eq(o.info[0].content_length, 0);
    /* The same value twice is one length; HEAD and TRACE are fine without a body. */
    run(S("PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\nabc"), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert_uint_eq(o.total[0], 61);
    run(S("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\nTRACE /x HTTP/1.1\r\n\r\n"), &o);
    ck_assert_int_eq(o.n, 2);
    ck_assert_int_eq(o.status, 0);
}
END_TEST

START_TEST(pipelined)
{
#define R1 "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
#define R2 "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
#define R3 "POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
#define R4 "\r\nGET /4 HTTP/1.1\r\n\r\n"
    static const char req[] = R1 R2 R3 R4;
    struct fr_out o;

    run(S(req), &o);
    ck_assert_int_eq(o.n, 4);
    ck_assert_int_eq(o.heads, 4);
    ck_assert_uint_eq(o.total[0], strlen(R1));
    ck_assert_uint_eq(o.total[1], strlen(R2));
    ck_assert_uint_eq(o.total[2], strlen(R3));
    ck_assert_uint_eq(o.total[3], strlen(R4));
    ck_assert_uint_eq(o.info[1].content_length, 3);
    ck_assert(o.info[2].chunked);
    ck_assert_uint_eq(o.info[3].skip, 2);
    ck_assert_uint_eq(o.info[3].head_len, strlen(R4) - 2);
    check_splits(S(req), 8192, 1 << 20);
}
END_TEST

START_TEST(chunked_extensions_trailers)
{
    static const char req[] = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                              "5;name=\"v a\";x\r\nhello\r\n"
                              "00A \t\r\n0123456789\r\n"
                              "1F\r\n0123456789012345678901234567890\r\n"
                              "0;last\r\nX-Trailer: 1\r\nY:2\r\n\r\n";
    static const char plain[] = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "a\r\n0123456789\r\n0\r\n\r\n";
    struct fr_out o;

    run(S(req), &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    ck_assert_uint_eq(o.total[0], sizeof(req) - 1);
    ck_assert(o.info[0].chunked);
    ck_assert(o.info[0].chunk_ext);
    check_splits(S(req), 8192, 1 << 20);
    run(S(plain), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert_uint_eq(o.total[0], sizeof(plain) - 1);
    ck_assert(!o.info[0].chunk_ext);
}
END_TEST

START_TEST(bare_lf_and_leading_empty_lines)
{
    static const char req[] = "\r\n\nGET / HTTP/1.1\nHost: x\n\n"
                              "POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\nT: 1\n\n"
                              "POST / HTTP/1.1\r\nContent-Length: 1\n\r\nZ";
    struct fr_out o;

    run(S(req), &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 3);
    ck_assert_uint_eq(o.info[0].skip, 3);
    ck_assert_uint_eq(o.info[0].head_len, strlen("GET / HTTP/1.1\nHost: x\n\n"));
    ck_assert_uint_eq(o.total[0], 3 + strlen("GET / HTTP/1.1\nHost: x\n\n"));
    ck_assert_uint_eq(o.total[0] + o.total[1] + o.total[2], sizeof(req) - 1);
    check_splits(S(req), 8192, 1 << 20);
}
END_TEST

START_TEST(expect_continue)
{
    static const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nExpect:  100-Continue \r\n"
                              "Content-Length: 2\r\n\r\nhi";
    struct fr_out o;
    const char *line = strstr(req, "Expect");

    run(S(req), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert(o.info[0].expect_continue);
    ck_assert_uint_eq(o.info[0].expect_off, (size_t)(line - req));
    ck_assert_uint_eq(o.info[0].expect_len, strlen("Expect:  100-Continue \r\n"));
    ck_assert(o.info[0].http11);
    run(S("POST / HTTP/1.0\r\nExpect: 100-continue\nContent-Length: 1\r\n\r\nx"), &o);
    ck_assert(o.info[0].expect_continue);
    ck_assert_uint_eq(o.info[0].expect_off, 17);
    ck_assert_uint_eq(o.info[0].expect_len, 21);
    ck_assert(!o.info[0].http11);
    run(S("POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx"), &o);
    ck_assert_int_eq(o.n, 1);
    ck_assert(!o.info[0].expect_continue);
}
END_TEST

static int status_of(const char *req)
{
    struct fr_out o;

    drive(req, strlen(req), strlen(req), 0, 8192, 1000, &o);
    return o.status;
}

START_TEST(bad_content_length)
{
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-length: 6\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"),
                     400);
    ck_assert_int_eq(
        status_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
    /* INT64_MAX itself is a valid number, just too large. */
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n"),
                     413);
}
END_TEST

START_TEST(bad_transfer_encoding)
{
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Length: 3\r\n\r\n"),
                     400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), 400);
    ck_assert_int_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"),
                     400);
}
END_TEST

START_TEST(bad_chunks)
{
    static const char *const bodies[] = {
        "zz\r\n",         "0x5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n",  ";x\r\n",
        "5\rX",           "5\r\nhelloX\r\n",           "5\r\nhello\r\r\n", "5;a\x01\r\n",
        "0\r\nX\r\n\r\n", "0\r\n: v\r\n\r\n",          "0\r\n v\r\n\r\n",  "0\r\nA: 1\rX",
        "0\r\r\n",
    };
    char req[8192];

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bodies[i]);
        ck_assert_msg(status_of(req) == 400, "body %zu", i);
    }
    /* A chunk-size line longer than GW_FRAME_CHUNK_LINE_MAX. */
    memset(req, 0, sizeof(req));
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    memset(req + strlen(req), 'e', GW_FRAME_CHUNK_LINE_MAX);
    ck_assert_int_eq(status_of(req), 400);
}
END_TEST

START_TEST(bad_head)
{
    static const char *const reqs[] = {
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.x\r\n\r\n",
        "GET / FTP/1.1x\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n\tfolded: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nX: \x7f\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\r\n\r\n",
        /* evhttp 2.1 would read these bodies as the next request */
        "HEAD / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        "TRACE / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        ck_assert_msg(status_of(reqs[i]) == 400, "request %zu", i);
    /* A NUL byte hidden in a header name or value. */
    {
        static const char nul[] = "GET / HTTP/1.1\r\nTransfer-Encoding\0x: chunked\r\n\r\n";
        static const char nulv[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
        struct fr_out o;

        run(S(nul), &o);
        ck_assert_int_eq(o.status, 400);
        run(S(nulv), &o);
        ck_assert_int_eq(o.status, 400);
    }
}
END_TEST

/* Only HTTP/1.0 and HTTP/1.1 are served (505), only evhttp's methods (501), whole heads. */
START_TEST(version_and_method)
{
    static const char *const v505[] = {
        "GET / HTTP/1.2\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/0.9\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.9\r\nContent-Length: 2\r\n\r\n{}",
    };
    static const char *const v501[] = {
        "BREW / HTTP/1.1\r\n\r\n",
        "get / HTTP/1.1\r\n\r\n",
        "get / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        "PROPFIND / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
        "SSH-2.0-OpenSSH_9.6 x HTTP/1.1\r\n\r\n",
    };
    static const char ok10[] = "GET / HTTP/1.0\r\n\r\n";
    struct fr_out o;

    for (size_t i = 0; i < sizeof(v505) / sizeof(v505[0]); i++) {
        ck_assert_msg(status_of(v505[i]) == 505, "request %zu", i);
        check_splits(v505[i], strlen(v505[i]), 8192, 1000);
    }
    for (size_t i = 0; i < sizeof(v501) / sizeof(v501[0]); i++) {
        ck_assert_msg(status_of(v501[i]) == 501, "request %zu", i);
        check_splits(v501[i], strlen(v501[i]), 8192, 1000);
    }
    run(S(ok10), &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    ck_assert(!o.info[0].http11);
}
END_TEST

/* Bytes that cannot start an HTTP/1.x request: 400 at the first impossible byte, without waiting
 * for a line end or the end of the head. */
START_TEST(not_http_at_once)
{
    static const struct {
        const char *bytes;
        size_t len;
        size_t bad; /* offset of the first impossible byte */
    } cases[] = {
        {S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 0}, /* TLS ClientHello */
        {S("SSH-2.0-OpenSSH_9.6\r\n"), 19},
        {S("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"), 39},
        {S("\x00\x01\x02"), 0},
        {S("GET / HTTP/1.1 \r\n"), 14},
        {S("GET /\r\n"), 5},
        {S("GET  / HTTP/1.1\r\n"), 4},
        {S("GET / http/1.1\r\n"), 6},
        {S("GET / HTTP/1.1\rX"), 15},
        {S("GET / HTTP/11.1\r\n"), 12},
        {S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 32},
    };
    static const char partial[] = "GET /v1/models HTTP/1.";
    struct fr_out o;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* Everything up to the bad byte is still a possible request... */
        drive(cases[i].bytes, cases[i].bad, 1, 0, 8192, 1000, &o);
        ck_assert_msg(o.status == 0, "case %zu: %d before the bad byte", i, o.status);
        /* ...and the bad byte itself is refused, fed whole or byte by byte. */
        drive(cases[i].bytes, cases[i].bad + 1, cases[i].bad + 1, 0, 8192, 1000, &o);
        ck_assert_msg(o.status == 400, "case %zu: %d", i, o.status);
        drive(cases[i].bytes, cases[i].len, 1, 0, 8192, 1000, &o);
        ck_assert_msg(o.status == 400, "case %zu: %d", i, o.status);
    }
    drive(S(partial), 1, 0, 8192, 1000, &o);
    ck_assert_int_eq(o.status, 0);
}
END_TEST

/* "GET / HTTP/1.1\r\nX-Pad: <pad>\r\n\r\n" with a head of exactly len bytes. */
static size_t padded_head(char *buf, size_t cap, size_t len)
{
    static const char pre[] = "GET / HTTP/1.1\r\nX-Pad: ";
    size_t base = sizeof(pre) - 1 + 4;

    ck_assert_uint_ge(len, base);
    ck_assert_uint_lt(len, cap);
    memcpy(buf, pre, sizeof(pre) - 1);
    memset(buf + sizeof(pre) - 1, 'a', len - base);
    memcpy(buf + len - 4, "\r\n\r\n", 4);
    return len;
}

START_TEST(head_limit)
{
    char buf[1024];
    struct fr_out o;
    size_t n;

    n = padded_head(buf, sizeof(buf), 200);
    drive(buf, n, n, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    check_splits(buf, n, 200, 1000);
    n = padded_head(buf, sizeof(buf), 201);
    drive(buf, n, n, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 431);
    check_splits(buf, n, 200, 1000);
    /* Detected as soon as byte 201 arrives, without waiting for the end of the head. */
    drive(buf, 201, 201, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 431);
    drive(buf, 200, 1, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 0);
    /* Leading empty lines count toward the head. */
    memcpy(buf, "\r\n", 2);
    n = padded_head(buf + 2, sizeof(buf) - 2, 198) + 2;
    drive(buf, n, n, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    n = padded_head(buf + 2, sizeof(buf) - 2, 199) + 2;
    drive(buf, n, n, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 431);
    memset(buf, '\n', 201);
    drive(buf, 201, 201, 0, 200, 1000, &o);
    ck_assert_int_eq(o.status, 431);
}
END_TEST

START_TEST(trailer_limit)
{
    static const char head[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    char buf[512];
    struct fr_out o;
    size_t hl = strlen("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t n;

    /* head + trailers (here "T: aaa...\r\n\r\n") may total max_header_size */
    for (int extra = 0; extra <= 1; extra++) {
        size_t tl = 100 - hl + (size_t)extra; /* trailer bytes: "T: " pad "\r\n\r\n" */
        n = sizeof(head) - 1;
        memcpy(buf, head, n);
        memcpy(buf + n, "T: ", 3);
        memset(buf + n + 3, 'a', tl - 7);
        memcpy(buf + n + tl - 4, "\r\n\r\n", 4);
        n += tl;
        drive(buf, n, n, 0, 100, 1000, &o);
        ck_assert_int_eq(o.status, extra ? 431 : 0);
        ck_assert_int_eq(o.n, extra ? 0 : 1);
    }
}
END_TEST

START_TEST(body_limit)
{
    char buf[4096];
    struct fr_out o;
    int n;

    n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
    memset(buf + n, 'b', 100);
    drive(buf, (size_t)n + 100, 4096, 0, 8192, 100, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    /* max + 1: refused from the head alone, before any body byte */
    n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    drive(buf, (size_t)n, (size_t)n, 0, 8192, 100, &o);
    ck_assert_int_eq(o.status, 413);
    ck_assert_int_eq(o.heads, 1);
    /* chunked: the sum of the sizes, refused at the size line that passes the limit */
    n = snprintf(buf, sizeof(buf),
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n%050d\r\n"
                 "32\r\n%050d\r\n0\r\n\r\n",
                 0, 0);
    drive(buf, (size_t)n, (size_t)n, 0, 8192, 100, &o);
    ck_assert_int_eq(o.status, 0);
    ck_assert_int_eq(o.n, 1);
    check_splits(buf, (size_t)n, 8192, 100);
    n = snprintf(buf, sizeof(buf),
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n%050d\r\n33\r\n", 0);
    drive(buf, (size_t)n, (size_t)n, 0, 8192, 100, &o);
    ck_assert_int_eq(o.status, 413);
    n = snprintf(buf, sizeof(buf),
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000000065\r\n");
    drive(buf, (size_t)n, (size_t)n, 0, 8192, 100, &o);
    ck_assert_int_eq(o.status, 413);
    n = snprintf(buf, sizeof(buf),
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n");
    drive(buf, (size_t)n, (size_t)n, 0, 8192, SIZE_MAX, &o);
    ck_assert_int_eq(o.status, 413);
}
END_TEST

START_TEST(state_after_error_and_done)
{
    struct gw_frame *f = gw_frame_new(8192, 100);
    size_t used = 99;
    static const char req[] = "GET / HTTP/1.1\r\n\r\nGET";

    ck_assert_ptr_nonnull(f);
    ck_assert(!gw_frame_is_busy(f));
    ck_assert_int_eq(gw_frame_feed(f, "\r\n", 2, &used), GW_FRAME_MORE);
    ck_assert_uint_eq(used, 2);
    ck_assert(!gw_frame_is_busy(f)); /* empty lines alone do not begin a request */
    ck_assert_int_eq(gw_frame_feed(f, req, sizeof(req) - 1, &used), GW_FRAME_HEAD);
    ck_assert_uint_eq(used, 18);
    ck_assert_int_eq(gw_frame_head(f, req), GW_FRAME_DONE);
    ck_assert_uint_eq(gw_frame_info(f)->total_len, 20);
    ck_assert_uint_eq(gw_frame_info(f)->skip, 2);
    ck_assert_int_eq(gw_frame_feed(f, req + 18, 3, &used), GW_FRAME_MORE);
    ck_assert(gw_frame_is_busy(f));
    ck_assert_uint_eq(gw_frame_info(f)->skip, 0);
    ck_assert_int_eq(gw_frame_feed(f, NULL, 0, &used), GW_FRAME_MORE);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(gw_frame_feed(f, S(" / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), &used),
                     GW_FRAME_HEAD);
    ck_assert_int_eq(gw_frame_head(f, "GET / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"),
                     GW_FRAME_ERROR);
    ck_assert_int_eq(gw_frame_info(f)->status, 413);
    ck_assert(!gw_frame_is_busy(f));
    ck_assert_int_eq(gw_frame_feed(f, "GET", 3, &used), GW_FRAME_ERROR);
    ck_assert_uint_eq(used, 0);
    gw_frame_free(f);
    gw_frame_free(NULL);
}
END_TEST

Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *ok = tcase_create("framing");
    TCase *bad = tcase_create("errors");
    TCase *lim = tcase_create("limits");

    tcase_add_test(ok, get_whole);
    tcase_add_test(ok, post_content_length);
    tcase_add_test(ok, content_length_zero_and_duplicates);
    tcase_add_test(ok, pipelined);
    tcase_add_test(ok, chunked_extensions_trailers);
    tcase_add_test(ok, bare_lf_and_leading_empty_lines);
    tcase_add_test(ok, expect_continue);
    tcase_add_test(ok, state_after_error_and_done);
    tcase_add_test(bad, bad_content_length);
    tcase_add_test(bad, bad_transfer_encoding);
    tcase_add_test(bad, bad_chunks);
    tcase_add_test(bad, bad_head);
    tcase_add_test(bad, version_and_method);
    tcase_add_test(bad, not_http_at_once);
    tcase_add_test(lim, head_limit);
    tcase_add_test(lim, trailer_limit);
    tcase_add_test(lim, body_limit);
    suite_add_tcase(s, ok);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, lim);
    return s;
}
