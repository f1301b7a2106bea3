/*
 * Unit tests of the SSE parser: results independent of where the input is split, the three line
 * endings (CRLF split across chunks included), fields, comments, limits, callback stop and the
 * end-of-stream rules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_sse.h"

/*
 * Every dispatched event, serialised as "<event>|<id>|<len>|<data>\n" (data may hold NUL). The
 * callbacks flag problems in bad instead of asserting: every passing ck_assert writes a location
 * record, which would make the split loops (tens of thousands of parses) slow.
 */
struct rec {
    char log[8192];
    size_t len;
    int n;
    int stop_at; /* return stop_rc from the stop_at-th event (1-based); 0: never */
    int stop_rc;
    bool bad; /* overflow, NULL field or data not NUL-terminated */
    char comments[256];
    size_t clen;
};

static void rec_add(struct rec *r, const void *p, size_t n)
{
    if (r->len + n > sizeof(r->log)) {
        r->bad = true;
        return;
    }
    memcpy(r->log + r->len, p, n);
    r->len += n;
}

static int rec_event(const struct prov_sse_event *ev, void *arg)
{
    struct rec *r = arg;
    char head[128];
    int hn;

    if (ev->event == NULL || ev->id == NULL || ev->data == NULL || ev->data[ev->data_len] != '\0') {
        r->bad = true;
        return 0;
    }
    hn = snprintf(head, sizeof(head), "%s|%s|%zu|", ev->event, ev->id, ev->data_len);
    if (hn < 0 || hn >= (int)sizeof(head)) {
        r->bad = true;
        return 0;
    }
    rec_add(r, head, (size_t)hn);
    rec_add(r, ev->data, ev->data_len);
    rec_add(r, "\n", 1);
    r->n++;
    return r->n == r->stop_at ? r->stop_rc : 0;
}

static int rec_comment(const char *text, size_t len, void *arg)
{
    struct rec *r = arg;

    if (r->clen + len + 2 > sizeof(r->comments)) {
        r->bad = true;
        return 0;
    }
    memcpy(r->comments + r->clen, text, len);
    r->clen += len;
    r->comments[r->clen++] = ';';
    r->comments[r->clen] = '\0';
    return 0;
}

/* Parses s in chunks ending at the given cut positions (sorted, each <= n); returns feed's rc. */
static int parse_cuts(struct rec *r, const char *s, size_t n, const size_t *cuts, size_t ncuts,
                      size_t max, bool *left)
{
    struct prov_sse p;
    size_t at = 0;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    prov_sse_init(&p, max, rec_event, r);
    prov_sse_set_comment_fn(&p, rec_comment);
    for (size_t k = 0; k <= ncuts && rc == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : n;

        rc = prov_sse_feed(&p, s + at, end - at);
        at = end;
    }
    if (left != NULL)
        *left = prov_sse_finish(&p);
    prov_sse_cleanup(&p);
    return rc;
}

static int parse_whole(struct rec *r, const char *s, size_t n)
{
    return parse_cuts(r, s, n, NULL, 0, 0, NULL);
}

/* Parses a string literal in one chunk with the given max_event. */
#define PARSE_LIT(r, lit, max) parse_cuts(r, lit, sizeof(lit) - 1, NULL, 0, max, NULL)

/* Same events and comments, and neither recording went wrong. */
static bool rec_same(const struct rec *a, const struct rec *b)
{
    return !a->bad && !b->bad && a->len == b->len && memcmp(a->log, b->log, a->len) == 0 &&
           a->clen == b->clen && memcmp(a->comments, b->comments, a->clen) == 0;
}

#define LOG_IS(r, lit)                                                                             \
    do {                                                                                           \
        ck_assert(!(r)->bad);                                                                      \
        ck_assert_uint_eq((r)->len, sizeof(lit) - 1);                                              \
        ck_assert_mem_eq((r)->log, lit, sizeof(lit) - 1);                                          \
    } while (0)

/* Mixed endings, comments, fields, multi-line data, UTF-8 and the OpenAI terminator. */
static const char mixed[] = "\xEF\xBB\xBF: hello\n"
                            "data: {\"a\":1}\n\n"
                            "event: delta\r\nid: 42\r\ndata: line1\r\ndata: line2\r\n\r\n"
                            "data:no-space\rdata:  two spaces\r\r"
                            ": ping\r\n\r\n"
                            "data: caf\xC3\xA9 \xE2\x82\xAC\n"
                            "retry: 100\nunknown: x\n\n"
                            "event: only-name\n\n"
                            "data\n\n"
                            "data: [DONE]\n\n";

static const char mixed_log[] = "message||7|{\"a\":1}\n"
                                "delta|42|11|line1\nline2\n"
                                "message|42|20|no-space\n two spaces\n"
                                "message|42|9|caf\xC3\xA9 \xE2\x82\xAC\n"
                                "message|42|0|\n"
                                "message|42|6|[DONE]\n";

START_TEST(whole_buffer)
{
    struct rec r;

    ck_assert_int_eq(parse_whole(&r, mixed, sizeof(mixed) - 1), 0);
    LOG_IS(&r, mixed_log);
    ck_assert_int_eq(r.n, 6);
    ck_assert_str_eq(r.comments, " hello; ping;");
}
END_TEST

START_TEST(split_every_position)
{
    const size_t n = sizeof(mixed) - 1;
    struct rec whole, r;
    bool left;

    ck_assert_int_eq(parse_whole(&whole, mixed, n), 0);
    LOG_IS(&whole, mixed_log);
    for (size_t i = 0; i <= n; i++) {
        if (parse_cuts(&r, mixed, n, &i, 1, 0, &left) != 0 || !rec_same(&r, &whole) || left)
            ck_abort_msg("split at %zu: different result", i);
    }
}
END_TEST

START_TEST(split_every_pair)
{
    const size_t n = sizeof(mixed) - 1;
    struct rec whole, r;
    size_t cuts[2];

    ck_assert_int_eq(parse_whole(&whole, mixed, n), 0);
    LOG_IS(&whole, mixed_log);
    for (cuts[0] = 0; cuts[0] <= n; cuts[0]++) {
        for (cuts[1] = cuts[0]; cuts[1] <= n; cuts[1]++) {
            if (parse_cuts(&r, mixed, n, cuts, 2, 0, NULL) != 0 || !rec_same(&r, &whole))
                ck_abort_msg("splits at %zu, %zu: different result", cuts[0], cuts[1]);
        }
    }
}
END_TEST

START_TEST(byte_at_a_time)
{
    const size_t n = sizeof(mixed) - 1;
    size_t cuts[sizeof(mixed)];
    struct rec r;

    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    ck_assert_int_eq(parse_cuts(&r, mixed, n, cuts, n, 0, NULL), 0);
    LOG_IS(&r, mixed_log);
}
END_TEST

/* Feeds the NULL-terminated list of chunks; returns the last rc. */
static int feed_list(struct prov_sse *p, const char *const *chunks)
{
    int rc = 0;

    for (; *chunks != NULL && rc == 0; chunks++)
        rc = prov_sse_feed(p, *chunks, strlen(*chunks));
    return rc;
}

START_TEST(line_endings)
{
    static const char *const lf[] = {"data: a\ndata: b\n\n", NULL};
    static const char *const crlf[] = {"data: a\r\ndata: b\r\n\r\n", NULL};
    static const char *const cr[] = {"data: a\rdata: b\r\r", NULL};
    /* A CRLF split across chunks is one line end, not a CR and then a blank LF line. */
    static const char *const crlf_split[] = {"data: a\r", "\ndata: b\r", "\n\r", "\n", NULL};
    /* A CR ending a chunk, then a chunk not starting with LF. */
    static const char *const cr_then_text[] = {"data: a\r", "data: b\r", "\r", NULL};
    static const char *const cr_then_empty[] = {"data: a\r", "", "\ndata: b\n", "\n", NULL};
    static const char *const *cases[] = {lf, crlf, cr, crlf_split, cr_then_text, cr_then_empty};
    struct prov_sse p;
    struct rec r;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memset(&r, 0, sizeof(r));
        prov_sse_init(&p, 0, rec_event, &r);
        ck_assert_int_eq(feed_list(&p, cases[c]), 0);
        ck_assert_msg(r.n == 1, "case %zu: %d events", c, r.n);
        LOG_IS(&r, "message||3|a\nb\n");
        ck_assert(!prov_sse_finish(&p));
        prov_sse_cleanup(&p);
    }
}
END_TEST

START_TEST(lf_cr_is_two_line_ends)
{
    struct rec r;

    /* "\n\r" ends one line, then an empty line: the event dispatches at the CR. */
    ck_assert_int_eq(PARSE_LIT(&r, "data: a\n\rdata: b\n\n", 0), 0);
    LOG_IS(&r, "message||1|a\nmessage||1|b\n");
}
END_TEST

START_TEST(multiline_and_empty_data)
{
    static const char s[] = "data: one\ndata:\ndata: three\n\n"
                            "data:\n\n"
                            "data:\ndata:\n\n";
    struct rec r;

    ck_assert_int_eq(parse_whole(&r, s, sizeof(s) - 1), 0);
    LOG_IS(&r, "message||10|one\n\nthree\nmessage||0|\nmessage||1|\n\n");
}
END_TEST

START_TEST(comments_heartbeats)
{
    static const char s[] = ": ping\n\n:\n:keepalive\r\ndata: x\n: inside\n\n: ping\n\n";
    struct prov_sse p;
    struct rec r;

    memset(&r, 0, sizeof(r));
    prov_sse_init(&p, 0, rec_event, &r);
    ck_assert_int_eq(prov_sse_feed(&p, s, sizeof(s) - 1), 0);
    LOG_IS(&r, "message||1|x\n");
    ck_assert_uint_eq(prov_sse_comment_count(&p), 5);
    ck_assert_uint_eq(prov_sse_event_count(&p), 1);
    ck_assert(!prov_sse_finish(&p));
    prov_sse_cleanup(&p);

    /* With a comment callback, each comment's text after the colon is reported. */
    ck_assert_int_eq(parse_whole(&r, s, sizeof(s) - 1), 0);
    ck_assert_str_eq(r.comments, " ping;;keepalive; inside; ping;");

    /* A heartbeat-only stream dispatches nothing and ends clean. */
    prov_sse_init(&p, 0, rec_event, &r);
    ck_assert_int_eq(prov_sse_feed(&p, ": ping\n\n: ping\n\n", 16), 0);
    ck_assert_uint_eq(prov_sse_event_count(&p), 0);
    ck_assert_uint_eq(prov_sse_comment_count(&p), 2);
    ck_assert(!prov_sse_finish(&p));
    prov_sse_cleanup(&p);
}
END_TEST

START_TEST(event_and_id_fields)
{
    static const char s[] = "event: foo\nid: 7\ndata: x\n\n"
                            "data: y\n\n"                /* type resets, id persists */
                            "event: bar\n\n"             /* no data: not dispatched, type reset */
                            "data: z\n\n"                /* so this one is "message" */
                            "id\ndata: w\n\n"            /* field without colon: id becomes "" */
                            "id: 9\nevent:\ndata: v\n\n" /* empty event name: "message" */
                            "event:ping\ndata:\n\n";
    struct rec r;

    ck_assert_int_eq(parse_whole(&r, s, sizeof(s) - 1), 0);
    LOG_IS(&r, "foo|7|1|x\n"
               "message|7|1|y\n"
               "message|7|1|z\n"
               "message||1|w\n"
               "message|9|1|v\n"
               "ping|9|0|\n");
}
END_TEST

START_TEST(id_with_nul_ignored_and_nul_data)
{
    static const char s[] = "id: 1\n\nid: a\0b\ndata: p\0q\n\n";
    struct rec r;

    ck_assert_int_eq(parse_whole(&r, s, sizeof(s) - 1), 0);
    LOG_IS(&r, "message|1|3|p\0q\n");
}
END_TEST

START_TEST(bom_only_once)
{
    static const char twice[] = "\xEF\xBB\xBF\xEF\xBB\xBF"
                                "data: a\n\ndata: b\n\n";
    static const char partial[] = "\xEF\xBB"
                                  "data: a\n\ndata: b\n\n";
    struct rec r;

    /* Only the first BOM is stripped; the second makes the field name unknown. */
    ck_assert_int_eq(parse_whole(&r, twice, sizeof(twice) - 1), 0);
    LOG_IS(&r, "message||1|b\n");
    /* A BOM prefix that stops matching belongs to the first line. */
    for (size_t i = 0; i <= sizeof(partial) - 1; i++) {
        ck_assert_int_eq(parse_cuts(&r, partial, sizeof(partial) - 1, &i, 1, 0, NULL), 0);
        LOG_IS(&r, "message||1|b\n");
    }
}
END_TEST

START_TEST(openai_done)
{
    static const char s[] =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
        "data: [DONE]\n\n";
    const size_t n = sizeof(s) - 1;
    struct rec r;
    bool left;

    for (size_t i = 0; i <= n; i++) {
        if (parse_cuts(&r, s, n, &i, 1, 0, &left) != 0 || r.bad || left || r.n != 2 ||
            r.len <= 18 || memcmp(r.log + r.len - 18, "message||6|[DONE]\n", 18) != 0)
            ck_abort_msg("split at %zu: no [DONE] event", i);
    }
}
END_TEST

START_TEST(oversize_event)
{
    static const char comment[] = ": 0123456789012345678901234567890\n\n";
    struct prov_sse p;
    struct rec r;
    char big[64];
    int len;

    /* A line of exactly max_event (16) bytes is fine; one more fails. */
    len = snprintf(big, sizeof(big), "data:%s\n\n", "0123456789a");
    ck_assert_int_eq(parse_cuts(&r, big, (size_t)len, NULL, 0, 16, NULL), 0);
    LOG_IS(&r, "message||11|0123456789a\n");
    len = snprintf(big, sizeof(big), "data:%s\n\n", "0123456789ab");
    ck_assert_int_eq(parse_cuts(&r, big, (size_t)len, NULL, 0, 16, NULL), -1);
    ck_assert_int_eq(r.n, 0);

    /* Joined data of exactly 16 bytes is fine; 17 fails, though every line fits. */
    ck_assert_int_eq(PARSE_LIT(&r, "data:12345678\ndata:1234567\n\n", 16), 0);
    LOG_IS(&r, "message||16|12345678\n1234567\n");
    ck_assert_int_eq(PARSE_LIT(&r, "data:12345678\ndata:12345678\n\n", 16), -1);
    ck_assert_int_eq(r.n, 0);

    /* A line that never ends: memory stays bounded and the feed fails. */
    memset(&r, 0, sizeof(r));
    prov_sse_init(&p, 1024, rec_event, &r);
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(prov_sse_feed(&p, "data: ", 6), 0);
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(prov_sse_feed(&p, big, sizeof(big)), 0);
    ck_assert_int_eq(prov_sse_feed(&p, big, sizeof(big)), -1);
    ck_assert_uint_le(p.line.cap, 2048);
    /* The parser stays failed. */
    ck_assert_int_eq(prov_sse_feed(&p, "\n\ndata: ok\n\n", 12), -1);
    ck_assert_int_eq(r.n, 0);
    ck_assert(prov_sse_finish(&p));
    /* finish() resets it for a new stream. */
    ck_assert_int_eq(prov_sse_feed(&p, "data: ok\n\n", 10), 0);
    ck_assert_int_eq(r.n, 1);
    prov_sse_cleanup(&p);

    /* Same outcome whatever the split: a long comment or unknown field also counts. */
    for (size_t i = 0; i <= sizeof(comment) - 1; i++) {
        ck_assert_int_eq(parse_cuts(&r, comment, sizeof(comment) - 1, &i, 1, 32, NULL), -1);
        ck_assert_int_eq(parse_cuts(&r, comment, sizeof(comment) - 1, &i, 1, 33, NULL), 0);
    }
}
END_TEST

START_TEST(callback_stop)
{
    static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    struct prov_sse p;
    struct rec r;

    memset(&r, 0, sizeof(r));
    r.stop_at = 2;
    r.stop_rc = 7;
    prov_sse_init(&p, 0, rec_event, &r);
    ck_assert_int_eq(prov_sse_feed(&p, s, sizeof(s) - 1), 7);
    ck_assert_int_eq(r.n, 2);
    LOG_IS(&r, "message||1|1\nmessage||1|2\n");
    ck_assert_int_eq(prov_sse_feed(&p, "data: 4\n\n", 9), -1);
    ck_assert_int_eq(r.n, 2);
    ck_assert(prov_sse_finish(&p));
    prov_sse_cleanup(&p);
}
END_TEST

START_TEST(finish_leftovers)
{
    struct prov_sse p;
    struct rec r;

    memset(&r, 0, sizeof(r));
    prov_sse_init(&p, 0, rec_event, &r);
    /* No newline at all: not dispatched. */
    ck_assert_int_eq(prov_sse_feed(&p, "data: x", 7), 0);
    ck_assert(prov_sse_finish(&p));
    ck_assert_int_eq(r.n, 0);
    /* Complete line but no blank line: not dispatched either. */
    ck_assert_int_eq(prov_sse_feed(&p, "data: x\n", 8), 0);
    ck_assert(prov_sse_finish(&p));
    ck_assert_int_eq(r.n, 0);
    /* Leftovers do not leak into the next stream. */
    ck_assert_int_eq(prov_sse_feed(&p, "data: y\n\n", 9), 0);
    LOG_IS(&r, "message||1|y\n");
    ck_assert(!prov_sse_finish(&p));
    /* A trailing CR ends the line; comments alone leave nothing. */
    ck_assert_int_eq(prov_sse_feed(&p, "data: z\r\r", 9), 0);
    ck_assert(!prov_sse_finish(&p));
    ck_assert_int_eq(prov_sse_feed(&p, ": bye\n", 6), 0);
    ck_assert(!prov_sse_finish(&p));
    ck_assert_int_eq(r.n, 2);
    /* Empty feeds are no-ops. */
    ck_assert_int_eq(prov_sse_feed(&p, NULL, 0), 0);
    ck_assert(!prov_sse_finish(&p));
    prov_sse_cleanup(&p);
    prov_sse_cleanup(NULL);
}
END_TEST

Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc;

    tc = tcase_create("splits");
    tcase_add_test(tc, whole_buffer);
    tcase_add_test(tc, split_every_position);
    tcase_add_test(tc, split_every_pair);
    tcase_add_test(tc, byte_at_a_time);
    suite_add_tcase(s, tc);

    tc = tcase_create("line_endings");
    tcase_add_test(tc, line_endings);
    tcase_add_test(tc, lf_cr_is_two_line_ends);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_test(tc, multiline_and_empty_data);
    tcase_add_test(tc, comments_heartbeats);
    tcase_add_test(tc, event_and_id_fields);
    tcase_add_test(tc, id_with_nul_ignored_and_nul_data);
    tcase_add_test(tc, bom_only_once);
    tcase_add_test(tc, openai_done);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, oversize_event);
    tcase_add_test(tc, callback_stop);
    tcase_add_test(tc, finish_leftovers);
    suite_add_tcase(s, tc);
    return s;
}
