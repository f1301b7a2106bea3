/*
 * Unit tests of usage accounting: full responses, stream merging (spec §6.2), the usage-only
 * chunk, generated-text byte counts, the 4-bytes-per-token estimate, cost (spec §5.1), the forced
 * include_usage (DESIGN §2.4), and a whole OpenAI stream fed through the SSE parser in pieces.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_sse.h"
#include "providers/prov_usage.h"

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    ck_assert_msg(v != NULL, "bad test JSON: %s", e.text);
    return v;
}

#define USAGE_IS(u, p, c, t)                                                                       \
    do {                                                                                           \
        ck_assert_int_eq((u)->prompt_tokens, p);                                                   \
        ck_assert_int_eq((u)->completion_tokens, c);                                               \
        ck_assert_int_eq((u)->total_tokens, t);                                                    \
    } while (0)

START_TEST(full_response)
{
    json_t *r = load("{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                     "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"}}],"
                     "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,"
                     "\"completion_tokens_details\":{\"reasoning_tokens\":2}}}");
    struct prov_usage u;

    ck_assert(prov_usage_parse(&u, r));
    ck_assert(u.seen);
    USAGE_IS(&u, 10, 5, 15);
    json_decref(r);

    /* Without usage, or with usage null: not seen, zeros (a prior value is not kept). */
    r = load("{\"choices\":[]}");
    ck_assert(!prov_usage_parse(&u, r));
    ck_assert(!u.seen);
    USAGE_IS(&u, 0, 0, 0);
    json_decref(r);
    r = load("{\"usage\":null}");
    ck_assert(!prov_usage_parse(&u, r));
    ck_assert(!u.seen);
    json_decref(r);
    r = load("{\"usage\":[1,2]}");
    ck_assert(!prov_usage_parse(&u, r));
    json_decref(r);
    ck_assert(!prov_usage_parse(&u, NULL));
    r = json_integer(3);
    ck_assert(!prov_usage_parse(&u, r));
    json_decref(r);
}
END_TEST

START_TEST(partial_fields)
{
    json_t *r = load("{\"usage\":{\"prompt_tokens\":7}}");
    struct prov_usage u;

    ck_assert(prov_usage_parse(&u, r));
    ck_assert(u.seen);
    USAGE_IS(&u, 7, 0, 0); /* total is as reported, not recomputed */
    json_decref(r);

    r = load("{\"usage\":{}}");
    ck_assert(prov_usage_parse(&u, r));
    ck_assert(u.seen);
    USAGE_IS(&u, 0, 0, 0);
    json_decref(r);

    /* null, strings, negatives read as 0; a real is truncated. */
    r = load("{\"usage\":{\"prompt_tokens\":null,\"completion_tokens\":\"5\","
             "\"total_tokens\":-3}}");
    ck_assert(prov_usage_parse(&u, r));
    USAGE_IS(&u, 0, 0, 0);
    json_decref(r);
    r = load("{\"usage\":{\"prompt_tokens\":12.0,\"completion_tokens\":3.7,"
             "\"total_tokens\":true}}");
    ck_assert(prov_usage_parse(&u, r));
    USAGE_IS(&u, 12, 3, 0);
    json_decref(r);
}
END_TEST

/* Merges each chunk of a JSON array; returns how many carried usage. */
static int merge_all(struct prov_usage *u, const char *chunks)
{
    json_t *a = load(chunks), *c;
    size_t i;
    int n = 0;

    json_array_foreach(a, i, c) n += prov_usage_merge_chunk(u, c);
    json_decref(a);
    return n;
}

START_TEST(stream_final_usage_only)
{
    struct prov_usage u;

    /* OpenAI with include_usage: "usage": null on every chunk, then one usage-only chunk. */
    prov_usage_init(&u);
    ck_assert_int_eq(
        merge_all(
            &u, "[{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],"
                "\"usage\":null},"
                "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null},"
                "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                "\"usage\":null},"
                "{\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":200,"
                "\"total_tokens\":250}}]"),
        1);
    ck_assert(u.seen);
    USAGE_IS(&u, 50, 200, 250);
}
END_TEST

START_TEST(stream_cumulative_and_zero_updates)
{
    struct prov_usage u;

    /* Cumulative provider: the last values win (reference test_merge_usage_cumulative). */
    prov_usage_init(&u);
    ck_assert_int_eq(merge_all(&u, "[{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":10,"
                                   "\"total_tokens\":110}},"
                                   "{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,"
                                   "\"total_tokens\":120}},"
                                   "{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":30,"
                                   "\"total_tokens\":130}}]"),
                     3);
    USAGE_IS(&u, 100, 30, 130);

    /* Zeros, nulls and missing fields keep the current value (last non-zero wins). */
    prov_usage_init(&u);
    ck_assert_int_eq(merge_all(&u, "[{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":50,"
                                   "\"total_tokens\":150}},"
                                   "{\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":75,"
                                   "\"total_tokens\":0}},"
                                   "{\"usage\":{\"prompt_tokens\":null}},"
                                   "{\"usage\":{}}]"),
                     4);
    USAGE_IS(&u, 100, 75, 150);

    /* Anthropic-style split: input first, output later. */
    prov_usage_init(&u);
    merge_all(&u, "[{\"usage\":{\"prompt_tokens\":25}},{\"usage\":{\"completion_tokens\":9,"
                  "\"total_tokens\":34}}]");
    USAGE_IS(&u, 25, 9, 34);
}
END_TEST

START_TEST(stream_without_usage)
{
    struct prov_usage u;

    prov_usage_init(&u);
    ck_assert_int_eq(merge_all(&u, "[{\"choices\":[{\"delta\":{\"content\":\"a\"}}]},"
                                   "{\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":null},"
                                   "{\"choices\":[],\"usage\":\"n/a\"},{},[],7,null]"),
                     0);
    ck_assert(!u.seen);
    USAGE_IS(&u, 0, 0, 0);
    ck_assert(!prov_usage_merge_chunk(&u, NULL));

    /* A usage object of all zeros still counts as seen (a row is logged). */
    ck_assert_int_eq(merge_all(&u, "[{\"choices\":[],\"usage\":{\"prompt_tokens\":0}}]"), 1);
    ck_assert(u.seen);
    USAGE_IS(&u, 0, 0, 0);
}
END_TEST

static bool usage_only(const char *text)
{
    json_t *c = load(text);
    bool r = prov_usage_is_usage_only(c);

    json_decref(c);
    return r;
}

START_TEST(usage_only_detection)
{
    ck_assert(usage_only("{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                         "\"completion_tokens\":2,\"total_tokens\":3}}"));
    ck_assert(usage_only("{\"choices\":[],\"usage\":{}}"));
    ck_assert(!usage_only("{\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":"
                          "1}}"));
    ck_assert(!usage_only("{\"choices\":[],\"usage\":null}"));
    ck_assert(!usage_only("{\"choices\":[]}"));
    ck_assert(!usage_only("{\"usage\":{\"prompt_tokens\":1}}"));
    ck_assert(!usage_only("{\"choices\":null,\"usage\":{\"prompt_tokens\":1}}"));
    ck_assert(!usage_only("{\"choices\":{},\"usage\":{\"prompt_tokens\":1}}"));
    ck_assert(!usage_only("[]"));
    ck_assert(!prov_usage_is_usage_only(NULL));
}
END_TEST

static size_t text_bytes(const char *text)
{
    json_t *c = load(text);
    size_t n = prov_usage_text_bytes(c);

    json_decref(c);
    return n;
}

START_TEST(generated_text_bytes)
{
    /* "h\u00e9llo" is 6 bytes of UTF-8. */
    ck_assert_uint_eq(text_bytes("{\"choices\":[{\"delta\":{\"content\":\"h\\u00e9llo\"}}]}"), 6);
    ck_assert_uint_eq(
        text_bytes("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}"
                   "]}"),
        0);
    ck_assert_uint_eq(text_bytes("{\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}"),
                      5);
    ck_assert_uint_eq(
        text_bytes("{\"choices\":[{\"delta\":{\"reasoning\":{\"content\":\"abc\"}}}]}"), 3);
    ck_assert_uint_eq(text_bytes("{\"choices\":[{\"delta\":{\"reasoning\":\"abcd\"}}]}"), 4);
    ck_assert_uint_eq(
        text_bytes(
            "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
            "\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\"\"}}"
            ",{\"index\":1,\"function\":{\"arguments\":\":1}\"}}]}}]}"),
        3 + 4 + 3);
    /* Several choices, and the full-response "message" form with content parts. */
    ck_assert_uint_eq(text_bytes("{\"choices\":[{\"delta\":{\"content\":\"ab\"}},"
                                 "{\"delta\":{\"content\":\"cde\"}}]}"),
                      5);
    ck_assert_uint_eq(text_bytes("{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\","
                                 "\"text\":\"xy\"},{\"type\":\"text\",\"text\":\"z\"}],"
                                 "\"refusal\":\"no\"}}]}"),
                      5);
    ck_assert_uint_eq(text_bytes("{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}"), 0);
    ck_assert_uint_eq(text_bytes("{}"), 0);
    ck_assert_uint_eq(prov_usage_text_bytes(NULL), 0);
}
END_TEST

START_TEST(prompt_text_bytes)
{
    /* Strings, text parts (other parts ignored), tool-call arguments; null content and roles
     * without text count 0; a non-array counts 0. */
    json_t *m = json_loads("[{\"role\":\"system\",\"content\":\"abcd\"},"
                           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"xy\"},"
                           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y\"}}]},"
                           "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"function\":"
                           "{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                           "{\"role\":\"user\",\"content\":\"\u00e9\"}]",
                           0, NULL);

    ck_assert_ptr_nonnull(m);
    /* 4 + 2 + (1 + 2) + 2 (UTF-8 bytes of U+00E9) */
    ck_assert_uint_eq(prov_usage_prompt_bytes(m), 11);
    ck_assert_uint_eq(prov_usage_prompt_bytes(NULL), 0);
    ck_assert_uint_eq(prov_usage_prompt_bytes(json_object_get(json_array_get(m, 0), "role")), 0);
    json_decref(m);
}
END_TEST

START_TEST(estimate_rounding)
{
    struct prov_usage u;

    ck_assert_int_eq(prov_usage_tokens_for_bytes(0), 0);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(1), 1);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(3), 1);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(4), 1);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(5), 2);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(8), 2);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(9), 3);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(4000), 1000);
    ck_assert_int_eq(prov_usage_tokens_for_bytes(4001), 1001);

    u = prov_usage_estimate(10, 0);
    USAGE_IS(&u, 3, 0, 3);
    ck_assert(!u.seen);
    u = prov_usage_estimate(0, 0);
    USAGE_IS(&u, 0, 0, 0);
    u = prov_usage_estimate(401, 7);
    USAGE_IS(&u, 101, 2, 103);
}
END_TEST

START_TEST(cost_formula)
{
    struct prov_usage u = {.prompt_tokens = 1000, .completion_tokens = 500, .total_tokens = 9999};

    /* 1000/1e6*3 + 500/1e6*15 = 0.003 + 0.0075; total_tokens plays no part. */
    ck_assert_double_eq_tol(prov_usage_cost(&u, 3.0, 15.0), 0.0105, 1e-15);
    ck_assert_double_eq(prov_usage_cost(&u, 3.0, 15.0), 1000 / 1e6 * 3.0 + 500 / 1e6 * 15.0);
    ck_assert_double_eq(prov_usage_cost(&u, 0.0, 0.0), 0.0);
    ck_assert_double_eq_tol(prov_usage_cost(&u, 2.5, 0.0), 0.0025, 1e-15);
    ck_assert_double_eq_tol(prov_usage_cost(&u, 0.0, 10.0), 0.005, 1e-15);
    /* One million of each at $1.25 / $10 costs exactly $11.25. */
    u.prompt_tokens = 1000000;
    u.completion_tokens = 1000000;
    ck_assert_double_eq(prov_usage_cost(&u, 1.25, 10.0), 11.25);
    /* Not rounded: a single token at $0.15 per million. */
    u.prompt_tokens = 1;
    u.completion_tokens = 0;
    ck_assert_double_eq(prov_usage_cost(&u, 0.15, 0.6), 1 / 1e6 * 0.15);
    ck_assert(prov_usage_cost(&u, 0.15, 0.6) > 0);
}
END_TEST

/* Injects into the request text; returns the rc and writes the result's compact dump to out. */
static int inject(const char *text, bool *asked, char *out, size_t outlen)
{
    json_t *r = load(text);
    char *dump;
    int rc = prov_usage_inject_stream_options(r, asked);

    dump = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(dump);
    ck_assert_uint_lt(strlen(dump), outlen);
    memcpy(out, dump, strlen(dump) + 1);
    free(dump);
    json_decref(r);
    return rc;
}

START_TEST(stream_options_injection)
{
    char out[256];
    bool asked = true;

    /* Not streaming: untouched. */
    ck_assert_int_eq(inject("{\"model\":\"openai:gpt\"}", &asked, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "{\"model\":\"openai:gpt\"}");
    ck_assert(!asked);
    asked = true;
    ck_assert_int_eq(inject("{\"stream\":false,\"stream_options\":null}", &asked, out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "{\"stream\":false,\"stream_options\":null}");
    ck_assert(!asked);

    /* Streaming without options (absent or null): injected, the client did not ask. */
    asked = true;
    ck_assert_int_eq(inject("{\"stream\":true}", &asked, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    ck_assert(!asked);
    asked = true;
    ck_assert_int_eq(inject("{\"stream\":true,\"stream_options\":null}", &asked, out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    ck_assert(!asked);

    /* The client asked itself. */
    ck_assert_int_eq(inject("{\"stream\":true,\"stream_options\":{\"include_usage\":true}}", &asked,
                            out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    ck_assert(asked);

    /* Explicit false is overridden (billing cannot be skipped); other fields are kept. */
    asked = true;
    ck_assert_int_eq(inject("{\"stream\":true,\"stream_options\":{\"include_usage\":false,"
                            "\"include_obfuscation\":false}}",
                            &asked, out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_obfuscation\":false,"
                          "\"include_usage\":true}}");
    ck_assert(!asked);
    asked = true;
    ck_assert_int_eq(
        inject("{\"stream\":true,\"stream_options\":{\"x\":1}}", &asked, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":true,\"x\":1}}");
    ck_assert(!asked);

    /* NULL client_asked is allowed. */
    ck_assert_int_eq(inject("{\"stream\":true}", NULL, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");

    /* Invalid shapes. */
    ck_assert_int_eq(
        inject("{\"stream\":true,\"stream_options\":\"yes\"}", &asked, out, sizeof(out)), -1);
    ck_assert_str_eq(out, "{\"stream\":true,\"stream_options\":\"yes\"}");
    ck_assert_int_eq(inject("[1]", &asked, out, sizeof(out)), -1);
    ck_assert_int_eq(prov_usage_inject_stream_options(NULL, NULL), -1);
}
END_TEST

/* An OpenAI stream with include_usage: role chunk, content, finish, usage-only chunk, [DONE]. */
static const char openai_stream[] =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    ": keep-alive\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Caf\\u00e9 "
    "\xE2\x82\xAC\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
    "\"completion_tokens\":10,\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":0}}}"
    "\n\n"
    "data: [DONE]\n\n";

/* What the stream consumer saw; checked once per run (a passing ck_assert costs a write). */
struct stream_acc {
    struct prov_usage usage;
    size_t generated;
    int chunks, usage_only, done, bad;
};

static int acc_event(const struct prov_sse_event *ev, void *arg)
{
    struct stream_acc *a = arg;
    json_t *chunk;

    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        a->done++;
        return 0;
    }
    if (a->done != 0) /* nothing may follow [DONE] */
        a->bad++;
    chunk = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (chunk == NULL) {
        a->bad++;
        return -2;
    }
    a->chunks++;
    prov_usage_merge_chunk(&a->usage, chunk);
    a->generated += prov_usage_text_bytes(chunk);
    a->usage_only += prov_usage_is_usage_only(chunk);
    json_decref(chunk);
    return 0;
}

/* Feeds openai_stream cut at the given positions; true when the consumer saw the right things. */
static bool run_stream(struct stream_acc *a, const size_t *cuts, size_t ncuts)
{
    const size_t n = sizeof(openai_stream) - 1;
    struct prov_sse p;
    size_t at = 0;
    bool ok = true;

    memset(a, 0, sizeof(*a));
    prov_usage_init(&a->usage);
    prov_sse_init(&p, 0, acc_event, a);
    for (size_t k = 0; k <= ncuts && ok; k++) {
        size_t end = k < ncuts ? cuts[k] : n;

        ok = prov_sse_feed(&p, openai_stream + at, end - at) == 0;
        at = end;
    }
    if (prov_sse_finish(&p))
        ok = false;
    prov_sse_cleanup(&p);
    /* "Caf\u00e9 \u20ac" is 9 bytes of UTF-8, the tool arguments "{}" 2. */
    return ok && a->bad == 0 && a->chunks == 5 && a->done == 1 && a->usage_only == 1 &&
           a->usage.seen && a->usage.prompt_tokens == 19 && a->usage.completion_tokens == 10 &&
           a->usage.total_tokens == 29 && a->generated == 11;
}

START_TEST(sse_split_json_merge)
{
    const size_t n = sizeof(openai_stream) - 1;
    struct stream_acc a;
    size_t cuts[3];

    /* Whole: each expectation on its own, for a precise message. */
    run_stream(&a, NULL, 0);
    ck_assert_int_eq(a.bad, 0);
    ck_assert_int_eq(a.chunks, 5);
    ck_assert_int_eq(a.done, 1);
    ck_assert_int_eq(a.usage_only, 1);
    ck_assert(a.usage.seen);
    USAGE_IS(&a.usage, 19, 10, 29);
    ck_assert_uint_eq(a.generated, 11);
    ck_assert(run_stream(&a, NULL, 0));
    /* Every single split point: inside JSON strings, the UTF-8 euro sign and the CRLF. */
    for (size_t i = 0; i <= n; i++) {
        if (!run_stream(&a, &i, 1))
            ck_abort_msg("split at %zu: wrong usage or events", i);
    }
    /* Three-way splits on a coarser grid. */
    for (cuts[0] = 0; cuts[0] <= n; cuts[0] += 11) {
        for (cuts[1] = cuts[0]; cuts[1] <= n; cuts[1] += 23) {
            cuts[2] = cuts[1] + (n - cuts[1]) / 2;
            if (!run_stream(&a, cuts, 3))
                ck_abort_msg("splits at %zu, %zu, %zu: wrong usage or events", cuts[0], cuts[1],
                             cuts[2]);
        }
    }
}
END_TEST

START_TEST(stream_without_usage_estimates)
{
    static const char s[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello, \"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"world!\"}}]}\n\n"
        "data: [DONE]\n\n";
    struct stream_acc a;
    struct prov_sse p;
    struct prov_usage est;

    memset(&a, 0, sizeof(a));
    prov_usage_init(&a.usage);
    prov_sse_init(&p, 0, acc_event, &a);
    ck_assert_int_eq(prov_sse_feed(&p, s, sizeof(s) - 1), 0);
    ck_assert(!prov_sse_finish(&p));
    prov_sse_cleanup(&p);
    ck_assert(!a.usage.seen);
    ck_assert_int_eq(a.usage_only, 0);
    ck_assert_uint_eq(a.generated, 13);
    est = prov_usage_estimate(40, a.generated);
    USAGE_IS(&est, 10, 4, 14);
}
END_TEST

Suite *usage_suite(void)
{
    Suite *s = suite_create("usage");
    TCase *tc;

    tc = tcase_create("parse");
    tcase_add_test(tc, full_response);
    tcase_add_test(tc, partial_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream_merge");
    tcase_add_test(tc, stream_final_usage_only);
    tcase_add_test(tc, stream_cumulative_and_zero_updates);
    tcase_add_test(tc, stream_without_usage);
    tcase_add_test(tc, usage_only_detection);
    suite_add_tcase(s, tc);

    tc = tcase_create("estimate_cost");
    tcase_add_test(tc, generated_text_bytes);
    tcase_add_test(tc, prompt_text_bytes);
    tcase_add_test(tc, estimate_rounding);
    tcase_add_test(tc, cost_formula);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream_options");
    tcase_add_test(tc, stream_options_injection);
    suite_add_tcase(s, tc);

    tc = tcase_create("sse_json");
    tcase_add_test(tc, sse_split_json_merge);
    tcase_add_test(tc, stream_without_usage_estimates);
    suite_add_tcase(s, tc);
    return s;
}
