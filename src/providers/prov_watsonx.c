/*
 * The IBM watsonx.ai dialect (providers.md §11): the pivot request to POST
 * {base}/ml/v1/text/chat?version=V (streams: text/chat_stream), with the IAM bearer of
 * prov_token.c, model_id and project_id or space_id from the config; the reply and SSE chunks
 * (already OpenAI-like) back to the pivot; errors {"errors":[{"code","message"}]}. The body holds
 * only the fields of §11: others are dropped. No embeddings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"
#include "providers/prov_pivot.h"

/* ---- Request ---- */

/* messages, OpenAI-style: developer becomes system, a system's text parts are joined. */
static int wx_messages(struct prov_pivot_req *r, const json_t *msgs, json_t *body)
{
    const json_t *m;
    json_t *out, *o;
    size_t i;

    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return prov_pivot_bad(r, "messages must be a non-empty array");
    if ((out = json_array()) == NULL || prov_pivot_set(body, "messages", out) < 0)
        return prov_pivot_oom(r);
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || role == NULL)
            return prov_pivot_bad(r, "messages[%zu]: role is required", i);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
            o = json_pack("{s:s, s:o}", "role", "system", "content",
                          prov_pivot_text(json_object_get(m, "content"), "\n"));
        else if (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0 ||
                 strcmp(role, "tool") == 0)
            o = json_deep_copy(m);
        else
            return prov_pivot_bad(r, "messages[%zu]: role '%s' is not supported by watsonx", i,
                                  role);
        if (prov_pivot_push(out, o) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/* tools as they are; tool_choice: a string → tool_choice_option, an object → tool_choice. */
static int wx_tools(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    const json_t *tools = json_object_get(req, "tools"), *tc = json_object_get(req, "tool_choice");
    const char *choice = json_string_value(tc);

    if (tools != NULL && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return prov_pivot_bad(r, "tools must be an array");
        if (json_array_size(tools) > 0 && json_object_set(body, "tools", (json_t *)tools) < 0)
            return prov_pivot_oom(r);
    }
    if (tc == NULL || json_is_null(tc))
        return 0;
    if (json_is_object(tc)) {
        if (!json_is_string(json_object_get(json_object_get(tc, "function"), "name")))
            return prov_pivot_bad(r, "tool_choice: function.name is required");
        return json_object_set(body, "tool_choice", (json_t *)tc) < 0 ? prov_pivot_oom(r) : 0;
    }
    if (choice == NULL || (strcmp(choice, "auto") != 0 && strcmp(choice, "none") != 0 &&
                           strcmp(choice, "required") != 0))
        return prov_pivot_bad(r, "tool_choice must be auto, none, required or a function");
    return json_object_set(body, "tool_choice_option", (json_t *)tc) < 0 ? prov_pivot_oom(r) : 0;
}

/* The generation fields of §11, each checked for its type. */
static int wx_params(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    static const struct {
        const char *name;
        json_type type; /* JSON_REAL: any number */
    } fields[] = {{"temperature", JSON_REAL},      {"top_p", JSON_REAL},
                  {"presence_penalty", JSON_REAL}, {"frequency_penalty", JSON_REAL},
                  {"seed", JSON_INTEGER},          {"n", JSON_INTEGER},
                  {"top_logprobs", JSON_INTEGER},  {"time_limit", JSON_INTEGER},
                  {"logprobs", JSON_TRUE},         {"response_format", JSON_OBJECT}};
    const json_t *v;
    json_t *stop;
    int rc;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        bool ok;
        v = json_object_get(req, fields[i].name);
        if (v == NULL || json_is_null(v))
            continue;
        ok = fields[i].type == JSON_REAL      ? json_is_number(v)
             : fields[i].type == JSON_INTEGER ? json_is_integer(v)
             : fields[i].type == JSON_TRUE    ? json_is_boolean(v)
                                              : json_is_object(v);
        if (!ok)
            return prov_pivot_bad(r, "%s must be %s", fields[i].name,
                                  fields[i].type == JSON_REAL      ? "a number"
                                  : fields[i].type == JSON_INTEGER ? "an integer"
                                  : fields[i].type == JSON_TRUE    ? "a boolean"
                                                                   : "an object");
        if (json_object_set(body, fields[i].name, (json_t *)v) < 0)
            return prov_pivot_oom(r);
    }
    v = prov_pivot_max_tokens(req, &rc, r->err, r->errlen);
    if (rc != 0 || (v != NULL && json_object_set(body, "max_tokens", (json_t *)v) < 0))
        return rc != 0 ? rc : prov_pivot_oom(r);
    if ((rc = prov_pivot_stop(req, &stop, r->err, r->errlen)) != 0)
        return rc == -1 ? prov_pivot_oom(r) : rc;
    if (stop != NULL && prov_pivot_set(body, "stop", stop) < 0)
        return prov_pivot_oom(r);
    return 0;
}

static int wx_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    struct prov_pivot_req r = {.err = err, .errlen = errlen};
    const char *path = in->stream ? "/ml/v1/text/chat_stream" : "/ml/v1/text/chat";
    const char *version = pc->version != NULL ? pc->version : PROV_IBM_VERSION;
    json_t *body = NULL;
    size_t n;
    int rc;

    *client_usage = prov_pivot_client_usage(in->req);
    if (pc->base_url == NULL || pc->base_url[0] == '\0')
        return prov_no_base_url(pc, err, errlen);
    if (pc->project == NULL && pc->space_id == NULL) {
        snprintf(err, errlen,
                 "provider '%s' needs a project: set providers.%s.project_id (or space_id)",
                 pc->info->id, pc->info->id);
        return -1;
    }
    if (prov_pivot_kwargs(pc, in->req, NULL) < 0 ||
        (body = json_pack("{s:s}", "model_id", in->model)) == NULL ||
        prov_pivot_set(body, pc->project != NULL ? "project_id" : "space_id",
                       json_string(pc->project != NULL ? pc->project : pc->space_id)) < 0) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((rc = wx_messages(&r, json_object_get(in->req, "messages"), body)) != 0 ||
        (rc = wx_params(&r, in->req, body)) != 0 || (rc = wx_tools(&r, in->req, body)) != 0)
        goto out;
    if (in->bearer == NULL) { /* never the API key itself as the bearer */
        snprintf(err, errlen, "no IAM access token for provider '%s'", pc->info->id);
        rc = -1;
        goto out;
    }
    if ((rc = prov_pivot_body(out, body, err, errlen)) != 0)
        goto out;
    n = strlen(pc->base_url) + strlen(path) + strlen("?version=") + strlen(version) + 1;
    if ((out->url = malloc(n)) == NULL) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    snprintf(out->url, n, "%s%s?version=%s", pc->base_url, path, version);
    rc = prov_http_std(out, pc, in->stream ? "text/event-stream" : "application/json", in->bearer,
                       err, errlen);
out:
    json_decref(body);
    return rc;
}

/* ---- Replies ---- */

/* watsonx finish reasons into OpenAI's: time_limit → length, error and cancelled → stop. */
static const char *wx_finish(const char *f)
{
    if (f == NULL)
        return NULL;
    if (strcmp(f, "length") == 0 || strcmp(f, "time_limit") == 0)
        return "length";
    if (strcmp(f, "tool_calls") == 0)
        return "tool_calls";
    return "stop";
}

/* A tool call's arguments as a JSON string (an object is serialised). Owned, NULL: OOM. */
static char *wx_args(const json_t *args)
{
    if (json_is_string(args))
        return strdup(json_string_value(args));
    if (args == NULL || json_is_null(args))
        return strdup("{}");
    return jw_dumps(args, NULL);
}

/* The pivot message of a reply's message: role, content, tool_calls. New, NULL: OOM. */
static json_t *wx_message(const json_t *m)
{
    const json_t *content = json_object_get(m, "content"),
                 *calls = json_object_get(m, "tool_calls");
    const json_t *call;
    json_t *msg, *tc;
    size_t i;

    msg = json_pack("{s:s, s:O}", "role", "assistant", "content",
                    json_is_string(content) ? content : json_null());
    if (msg == NULL || json_array_size(calls) == 0)
        return msg;
    if ((tc = json_array()) == NULL || prov_pivot_set(msg, "tool_calls", tc) < 0)
        goto fail;
    json_array_foreach(calls, i, call)
    {
        const json_t *fn = json_object_get(call, "function");
        const char *id = json_string_value(json_object_get(call, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        char gen[64], *a = wx_args(json_object_get(fn, "arguments"));
        if (id == NULL)
            prov_pivot_id(gen, sizeof(gen), "call_");
        if (a == NULL ||
            prov_pivot_push(tc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id != NULL ? id : gen,
                                          "type", "function", "function", "name",
                                          name != NULL ? name : "", "arguments", a)) < 0) {
            free(a);
            goto fail;
        }
        free(a);
    }
    return msg;
fail:
    json_decref(msg);
    return NULL;
}

static int wx_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                         char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *msg = NULL, *wrap;
    const json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    const json_t *m = json_object_get(c0, "message"), *created = json_object_get(j, "created");
    const char *finish = wx_finish(json_string_value(json_object_get(c0, "finish_reason")));
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (!json_is_object(j) || !json_is_object(m) || (msg = wx_message(m)) == NULL)
        goto out;
    if (prov_usage_parse(u, j) && u->total_tokens == 0)
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    wrap = json_pack("{s:[{s:O}]}", "choices", "message", msg);
    *gen_bytes = prov_usage_text_bytes(wrap);
    json_decref(wrap);
    if (finish == NULL)
        finish = json_array_size(json_object_get(msg, "tool_calls")) > 0 ? "tool_calls" : "stop";
    *out = prov_pivot_reply(json_string_value(json_object_get(j, "id")),
                            json_string_value(json_object_get(j, "model_id")),
                            json_is_integer(created) ? (int64_t)json_integer_value(created)
                                                     : (int64_t)time(NULL),
                            msg, finish, u, out_len);
    rc = *out != NULL ? 0 : -1;
out:
    json_decref(j);
    return rc;
}

/* ---- Stream events ---- */

/* errors[0].message of a body, else NULL (borrowed). */
static const json_t *wx_errors_message(const json_t *j)
{
    return json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message");
}

/* One delta's tool calls: a call with an id or a name starts, the others carry arguments. */
static int wx_tool_deltas(struct prov_stream *s, const json_t *calls, prov_emit_fn *emit, void *arg)
{
    const json_t *call;
    size_t i;
    int rc = 0;

    json_array_foreach(calls, i, call)
    {
        const json_t *fn = json_object_get(call, "function");
        const char *id = json_string_value(json_object_get(call, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        const json_t *a = json_object_get(fn, "arguments");
        char *args = json_is_string(a) || a == NULL || json_is_null(a) ? NULL : wx_args(a);
        const char *text = args != NULL ? args : json_string_value(a);
        if ((id != NULL && id[0] != '\0') || (name != NULL && name[0] != '\0'))
            rc = prov_pivot_tool_start(s, id, name != NULL ? name : "", text, emit, arg);
        else if (text != NULL)
            rc = prov_pivot_tool_args(s, text, strlen(text), emit, arg);
        free(args);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int wx_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    json_t *j;
    const json_t *c0, *d, *content;
    const char *finish;
    int rc = 0;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return s->x.started ? prov_pivot_end(s, NULL, emit, arg) : (s->done = true, 0);
    j = json_loadb(data, len, 0, NULL);
    if (event != NULL && strcmp(event, "error") == 0) {
        prov_pivot_fail(s, wx_errors_message(j), "error event from the provider");
        goto out;
    }
    if (!json_is_object(j)) {
        prov_pivot_fail(s, NULL, "malformed stream event from the provider");
        goto out;
    }
    if (json_object_get(j, "errors") != NULL) {
        prov_pivot_fail(s, wx_errors_message(j), "error from the provider");
        goto out;
    }
    if (json_is_object(json_object_get(j, "usage")) && prov_usage_parse(&s->usage, j) &&
        s->usage.total_tokens == 0)
        s->usage.total_tokens = s->usage.prompt_tokens + s->usage.completion_tokens;
    if ((rc = prov_pivot_begin(s, json_string_value(json_object_get(j, "id")),
                               json_string_value(json_object_get(j, "model_id")),
                               json_is_integer(json_object_get(j, "created"))
                                   ? (int64_t)json_integer_value(json_object_get(j, "created"))
                                   : 0,
                               emit, arg)) != 0)
        goto out;
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    d = json_object_get(c0, "delta");
    content = json_object_get(d, "content");
    if (json_is_string(content) &&
        (rc = prov_pivot_content(s, json_string_value(content), json_string_length(content), false,
                                 emit, arg)) != 0)
        goto out;
    if ((rc = wx_tool_deltas(s, json_object_get(d, "tool_calls"), emit, arg)) != 0)
        goto out;
    finish = wx_finish(json_string_value(json_object_get(c0, "finish_reason")));
    if (finish != NULL && !s->x.finished) {
        if (strcmp(finish, "stop") == 0 && s->x.ntools > 0)
            finish = "tool_calls";
        snprintf(s->x.finish, sizeof(s->x.finish), "%s", finish);
        if (!s->usage.seen) { /* the finish now, the usage when its chunk comes */
            s->x.finished = true;
            rc = prov_pivot_chunk(s, json_object(), finish, emit, arg);
            goto out;
        }
    }
    /* Usage on the last chunk (§11): the finish chunk (unless out already) and the usage one. */
    if (s->x.finish[0] != '\0' && s->usage.seen)
        rc = prov_pivot_end(s, NULL, emit, arg);
out:
    json_decref(j);
    return rc;
}

/* ---- Errors ---- */

static void wx_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    const json_t *m = json_object_get(e0, "message"), *c = json_object_get(e0, "code");

    if (!json_is_string(m)) { /* an OpenAI-shaped error from a proxy in front */
        m = json_object_get(json_object_get(j, "error"), "message");
        c = json_object_get(json_object_get(j, "error"), "code");
    }
    prov_pivot_error_text(body, len, m, c, out, outlen, code, codelen);
    json_decref(j);
}

const struct prov_dialect_ops prov_dialect_watsonx = {
    .name = "watsonx",
    .framing = PROV_FRAME_SSE,
    .chat_build = wx_chat_build,
    .chat_reply = wx_chat_reply,
    .chat_event = wx_chat_event,
    .error_message = wx_error_message,
};
