/*
 * Fuzz target: the Anthropic Messages dialects (src/providers/prov_anthropic*.c). The input is
 * read as an upstream SSE stream (fed through prov_sse whole and in pieces: every plan must emit
 * the same chunks, the pivot's chunks are JSON objects and the native table relays each event's
 * data untouched), as a complete reply (a translated reply is a chat.completion whose total is
 * its prompt plus completion), as an error body, and as a pivot request (it builds, or is refused
 * as the client's fault, and never carries a field Anthropic rejects).
 */
/* prov_dialect.c's lookup names the OpenAI table, which the fuzz library leaves to the targets
   (fuzz_openai.c includes it for its static scanner). */
#include "providers/prov_openai.c"

#include <stdbool.h>

#include <jansson.h>

#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "providers/prov_sse.h"

#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct frun {
    const struct prov_dialect_ops *d;
    struct prov_stream s;
    struct fz_log log;
};

static int on_emit(const char *event, const char *d, size_t n, void *arg)
{
    struct frun *r = arg;
    json_t *j;
    char *txt;

    FZ_CHECK(d[n] == '\0');
    fz_log_field(&r->log, event != NULL ? event : "-", event != NULL ? strlen(event) : 1);
    if (event != NULL) {
        fz_log_field(&r->log, d, n);
        return 0;
    }
    /* A pivot chunk: logged without what depends on the clock ("created", a made-up id). */
    j = json_loadb(d, n, 0, NULL);
    FZ_CHECK(json_is_object(j));
    json_object_del(j, "created");
    FZ_CHECK(json_is_string(json_object_get(j, "id")));
    if (strncmp(json_string_value(json_object_get(j, "id")), "chatcmpl-anthropic-", 19) == 0)
        json_object_del(j, "id");
    txt = json_dumps(j, JSON_COMPACT);
    FZ_CHECK(txt != NULL);
    fz_log_field(&r->log, txt, strlen(txt));
    free(txt);
    json_decref(j);
    return 0;
}

static int on_event(const struct prov_sse_event *ev, void *arg)
{
    struct frun *r = arg;
    size_t before = r->log.len;

    if (r->s.done || r->s.failed)
        return 0;
    FZ_CHECK(r->d->chat_event(&r->s, ev->event, ev->data, ev->data_len, on_emit, r) == 0);
    FZ_CHECK(memchr(r->s.error, '\0', sizeof(r->s.error)) != NULL);
    /* The native table relays the event's own bytes, or nothing. */
    if (r->d == &prov_dialect_anthropic_native && r->log.len > before)
        FZ_CHECK(memcmp(r->log.p + r->log.len - ev->data_len, ev->data, ev->data_len) == 0);
    return 0;
}

static void stream_run(struct frun *r, const struct prov_dialect_ops *d, const uint8_t *data,
                       size_t size, int plan, bool client_usage)
{
    memset(&r->s, 0, sizeof(r->s));
    r->d = d;
    r->log.len = 0;
    r->s.client_usage = client_usage;
    fz_sse_run(data, size, plan, on_event, r, &r->s, &r->log);
    if (r->s.usage.seen)
        FZ_CHECK(r->s.usage.total_tokens ==
                 r->s.usage.prompt_tokens + r->s.usage.completion_tokens);
    prov_stream_cleanup(&r->s);
}

static void streams(const uint8_t *data, size_t size)
{
    static struct frun whole, part;
    const struct prov_dialect_ops *tables[] = {&prov_dialect_anthropic,
                                               &prov_dialect_anthropic_native};

    for (size_t t = 0; t < 2; t++) {
        bool cu = (size & 1) != 0;
        stream_run(&whole, tables[t], data, size, 0, cu);
        for (int plan = 1; plan < FZ_PLANS; plan++) {
            stream_run(&part, tables[t], data, size, plan, cu);
            FZ_CHECK(fz_log_eq(&whole.log, &part.log));
        }
    }
}

static void replies(const char *buf, size_t len)
{
    struct prov_usage u;
    size_t gen, out_len;
    char *out;

    if (fz_chat_reply(&prov_dialect_anthropic, buf, len, &u)) {
        FZ_CHECK(!u.seen || u.total_tokens == u.prompt_tokens + u.completion_tokens);
        FZ_CHECK(prov_dialect_anthropic_native.chat_reply(buf, len, &u, &gen, &out, &out_len) == 0);
        FZ_CHECK(out == NULL);
    }
    fz_error_message(&prov_dialect_anthropic, buf, len);
}

/* As a pivot request: built, or refused with a reason; never a field Anthropic rejects. */
static void request(const char *buf, size_t len)
{
    static const char *const never[] = {"stream_options",   "n",        "seed",
                                        "logit_bias",       "logprobs", "frequency_penalty",
                                        "presence_penalty", "user"};
    struct prov_conf pc = {.info = prov_find("anthropic"), .base_url = "http://x"};
    struct prov_chat_in in = {.model = "claude-x"};
    json_t *b;

    in.req = json_loadb(buf, len, 0, NULL);
    if (!json_is_object(in.req))
        goto out;
    pc.kwargs = json_object();
    FZ_CHECK(pc.kwargs != NULL);
    in.stream = json_is_true(json_object_get(in.req, "stream"));
    if ((b = fz_chat_build(&prov_dialect_anthropic, &pc, &in)) != NULL) {
        FZ_CHECK(json_integer_value(json_object_get(b, "max_tokens")) >= 1);
        FZ_CHECK(json_is_array(json_object_get(b, "messages")));
        for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
            FZ_CHECK(json_object_get(b, never[i]) == NULL);
        json_decref(b);
    }
    json_decref(pc.kwargs);
out:
    json_decref(in.req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fz_dup(data, size);

    streams(data, size);
    replies(buf, size);
    request(buf, size);
    free(buf);
    return 0;
}
