/*
 * Fuzz target: the OpenAI dialect's one-pass JSON scanner (src/providers/prov_openai.c), checked
 * against jansson, which is the reference it stands in for. The scanner's functions are static,
 * so the file is included here (as h2o's unit tests include lib/ sources).
 *
 * The input is read as a reply or stream chunk: when the scanner is sure (OA_OK), jansson must
 * parse the same bytes to an object and agree on every fact (choices array and its length, usage
 * object and its three token counts, error member, generated text bytes, usage-only chunk); when
 * it is unsure the caller takes the jansson path, which decides, so nothing is asserted. The
 * dialect's reply, event and error-message entry points also run on it (no crash, no leak).
 *
 * The input is also read as a client request: when the splice (the client's bytes with only the
 * model replaced) is taken, its output must be valid JSON equal to the serialised tree.
 */
#include "providers/prov_openai.c"

#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The facts as the jansson path reads them (prov_usage.c on the parsed tree). */
static void facts_differential(const char *buf, size_t len)
{
    struct oa_facts f;
    struct prov_usage u, ref = {0};
    json_t *j, *choices, *e;

    if (oa_facts_read(buf, len, &f) != OA_OK)
        return;
    j = json_loadb(buf, len, 0, NULL);
    FZ_CHECK(json_is_object(j));
    choices = json_object_get(j, "choices");
    FZ_CHECK(f.choices_array == json_is_array(choices));
    FZ_CHECK(f.nchoices == (f.choices_array ? json_array_size(choices) : 0));
    FZ_CHECK(f.usage_object == json_is_object(json_object_get(j, "usage")));
    FZ_CHECK(f.usage_object == prov_usage_parse(&ref, j));
    if (f.usage_object) {
        oa_facts_usage(&f, &u);
        FZ_CHECK(u.prompt_tokens == ref.prompt_tokens);
        FZ_CHECK(u.completion_tokens == ref.completion_tokens);
        FZ_CHECK(u.total_tokens == ref.total_tokens);
    }
    e = json_object_get(j, "error");
    FZ_CHECK(f.error == (e != NULL && !json_is_null(e)));
    FZ_CHECK(f.text == prov_usage_text_bytes(j));
    FZ_CHECK((f.usage_object && f.choices_array && f.nchoices == 0) == prov_usage_is_usage_only(j));
    json_decref(j);
}

static int emit_count(const char *ev, const char *d, size_t n, void *arg)
{
    (void)ev;
    (void)d;
    *(size_t *)arg += n;
    return 0;
}

/* The entry points the gateway calls; they must hold whatever the bytes. */
static void entry_points(const char *buf, size_t len)
{
    struct prov_usage u;
    struct prov_stream st = {.client_usage = len % 2 == 0};
    size_t gen, out_len, emitted = 0;
    char *out, msg[200], code[64];

    FZ_CHECK(prov_openai_chat_reply(buf, len, &u, &gen, &out, &out_len) >= -1);
    FZ_CHECK(out == NULL);
    FZ_CHECK(prov_openai_chat_event(&st, "message", buf, len, emit_count, &emitted) == 0);
    FZ_CHECK(emitted == 0 || emitted == len);
    FZ_CHECK(memchr(st.error, '\0', sizeof(st.error)) != NULL);
    prov_openai_error_message(buf, len, msg, sizeof(msg), code, sizeof(code));
    FZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
    FZ_CHECK(memchr(code, '\0', sizeof(code)) != NULL);
}

/* The request splice against the tree serialisation. */
static void splice_differential(const char *buf, size_t len, uint64_t h)
{
    static const char *const models[] = {"gpt-4o-mini", "", "a\"b\\c\x01\x1f/\xc3\xa9"};
    struct prov_conf pc = {0};
    struct prov_chat_in in = {0};
    struct prov_http tree = {0};
    json_t *req, *a, *b;
    char *spliced, err[128];
    size_t slen;
    bool client_usage = false;

    if ((req = json_loadb(buf, len, 0, NULL)) == NULL)
        return;
    if (!json_is_object(req))
        goto out;
    pc.kwargs = h & 4 ? json_pack("{s:f}", "temperature", 0.5) : json_object();
    FZ_CHECK(pc.kwargs != NULL);
    in.model = models[h % 3];
    in.req = req;
    in.raw = buf;
    in.raw_len = len;
    in.stream = json_is_true(json_object_get(req, "stream")); /* as gw_chat.c sets it */
    spliced = oa_body_splice(&pc, &in, &slen);
    if (spliced != NULL) {
        FZ_CHECK(strlen(spliced) == slen);
        FZ_CHECK(oa_body_tree(&pc, &in, &client_usage, &tree, err, sizeof(err)) == 0);
        a = json_loadb(spliced, slen, 0, NULL);
        b = json_loadb(tree.body, tree.body_len, 0, NULL);
        FZ_CHECK(a != NULL && b != NULL);
        FZ_CHECK(json_equal(a, b));
        FZ_CHECK(!client_usage);
        json_decref(a);
        json_decref(b);
        prov_http_cleanup(&tree);
        free(spliced);
    }
    json_decref(pc.kwargs);
out:
    json_decref(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The scanner gets an exact-size copy (ASan sees a read past len); chat_event gets
     * NUL-terminated data, as the SSE parser hands it. */
    char *buf = fz_dup(data, size), *z = malloc(size + 1);

    FZ_CHECK(z != NULL);
    memcpy(z, data, size);
    z[size] = '\0';
    facts_differential(buf, size);
    splice_differential(buf, size, fz_hash(data, size));
    entry_points(z, size);
    free(z);
    free(buf);
    return 0;
}
