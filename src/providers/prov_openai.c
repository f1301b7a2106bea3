/*
 * The OpenAI chat-completions dialect: the request is the client's own JSON with the model name
 * replaced, config fields added where the request has none and usage always asked for in streams;
 * replies and chunks are relayed byte for byte, only read for usage and generated text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_dialect.h"

static int openai_chat_build(const struct prov_conf *pc, const char *model, json_t *req,
                             bool stream, bool *client_usage, struct prov_http *out, char *err,
                             size_t errlen)
{
    const char *k;
    json_t *v;
    size_t n;

    *client_usage = false;
    if (pc->base_url == NULL) {
        snprintf(err, errlen, "provider '%s' has no base URL: set providers.%s.api_base%s%s",
                 pc->info->id, pc->info->id, pc->info->base_env != NULL ? " or " : "",
                 pc->info->base_env != NULL ? pc->info->base_env : "");
        return -1;
    }
    /* Config fields are defaults: a field the request sets wins (spec §7.2). */
    json_object_foreach(pc->kwargs, k, v)
    {
        if (json_object_get(req, k) == NULL && json_object_set(req, k, v) < 0)
            goto oom;
    }
    if (json_object_set_new(req, "model", json_string(model)) < 0)
        goto oom;
    if (stream && prov_usage_inject_stream_options(req, client_usage) < 0) {
        snprintf(err, errlen, "stream_options must be an object");
        return -1;
    }
    n = strlen(pc->base_url) + sizeof("/chat/completions");
    if ((out->url = malloc(n)) == NULL)
        goto oom;
    snprintf(out->url, n, "%s/chat/completions", pc->base_url);
    out->body = json_dumps(req, JSON_COMPACT);
    if (out->body == NULL)
        goto oom;
    out->body_len = strlen(out->body);
    if (prov_http_add(out, "Content-Type", "application/json") < 0 ||
        prov_http_add(out, "Accept", stream ? "text/event-stream" : "application/json") < 0)
        goto oom;
    if (prov_http_add_auth(out, pc) < 0)
        goto oom;
    /* The any-llm "gateway" provider is another gateway: it reads AnyLLM-Key too. */
    if (pc->api_key != NULL && strcmp(pc->info->id, "gateway") == 0 &&
        prov_http_add(out, "AnyLLM-Key", out->headers[out->nheaders - 1].value) < 0)
        goto oom;
    for (size_t i = 0; i < pc->nheaders; i++)
        if (prov_http_add(out, pc->headers[i].name, pc->headers[i].value) < 0)
            goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int openai_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                             char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    /* A 2xx without choices (or with an error object instead) is not a completion. */
    if (json_is_object(j) && json_is_array(json_object_get(j, "choices"))) {
        prov_usage_parse(u, j);
        *gen_bytes = prov_usage_text_bytes(j);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/*
 * Copies a printable, single-line version of s (at most len bytes) into out: control characters
 * (newlines, escape sequences) become spaces, and a UTF-8 sequence cut short at the end is
 * dropped.
 */
static void openai_copy_line(char *out, size_t outlen, const char *s, size_t len)
{
    size_t o = 0, k;
    unsigned char lead;

    if (outlen == 0)
        return;
    for (size_t i = 0; i < len && o + 1 < outlen; i++)
        out[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    out[o] = '\0';
    k = o;
    while (k > 0 && o - k < 3 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
        k--;
    lead = k > 0 ? (unsigned char)out[k - 1] : 0;
    if (lead >= 0xC0 && o - (k - 1) < (size_t)(lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2))
        out[k - 1] = '\0';
}

static int openai_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                             prov_emit_fn *emit, void *arg)
{
    json_t *j, *e;
    int rc = 0;

    (void)event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = true;
        return 0;
    }
    j = json_loadb(data, len, 0, NULL);
    if (!json_is_object(j)) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed stream event from the provider");
        json_decref(j);
        return 0;
    }
    e = json_object_get(j, "error");
    if (e != NULL && !json_is_null(e)) {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (m == NULL)
            m = json_is_string(e) ? json_string_value(e) : "error event from the provider";
        s->failed = true;
        openai_copy_line(s->error, sizeof(s->error), m, strlen(m));
        json_decref(j);
        return 0;
    }
    prov_usage_merge_chunk(&s->usage, j);
    s->gen_bytes += prov_usage_text_bytes(j);
    if (s->client_usage || !prov_usage_is_usage_only(j))
        rc = emit(data, len, arg);
    json_decref(j);
    return rc;
}

static void openai_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                                 size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL), *e, *c;
    const char *m = NULL;

    if (code != NULL && codelen > 0)
        code[0] = '\0';
    e = json_object_get(j, "error");
    if (json_is_object(e)) {
        m = json_string_value(json_object_get(e, "message"));
        c = json_object_get(e, "code");
        if (!json_is_string(c))
            c = json_object_get(e, "type");
        if (json_is_string(c) && code != NULL)
            openai_copy_line(code, codelen, json_string_value(c), json_string_length(c));
    } else if (json_is_string(e)) {
        m = json_string_value(e);
    }
    if (m == NULL)
        m = json_string_value(json_object_get(j, "message"));
    if (m == NULL)
        m = json_string_value(json_object_get(j, "detail"));
    if (m != NULL) {
        openai_copy_line(out, outlen, m, strlen(m));
    } else {
        /* Not JSON: the start of the text, without control characters. */
        size_t n = len < 200 ? len : 200;
        openai_copy_line(out, outlen, body, n);
    }
    json_decref(j);
}

const struct prov_dialect_ops prov_dialect_openai = {
    .name = "openai",
    .chat_build = openai_chat_build,
    .chat_reply = openai_chat_reply,
    .chat_event = openai_chat_event,
    .error_message = openai_error_message,
};
