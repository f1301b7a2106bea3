/*
 * The Ollama native dialect (providers.md §10): the pivot request to POST {base}/api/chat
 * ("stream" always explicit: Ollama streams by default), the reply and the NDJSON lines back to
 * OpenAI shapes, errors ({"error": "..."}) and embeddings (POST {base}/api/embed). Sampling
 * fields go inside "options", with num_ctx from the provider's config key (default
 * PROV_OLLAMA_NUM_CTX, as the reference; 0 or null leaves Ollama's own default). Dropped:
 * tool_choice (Ollama has none; "none" sends no tools), n, user, logit_bias, logprobs,
 * parallel_tool_calls. Refused (400): image URLs that are not data URIs, file parts, tool-call
 * arguments that are not a JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"
#include "providers/prov_embed.h"
#include "providers/prov_pivot.h"

#define PROV_OLLAMA_NUM_CTX 32000 /* options.num_ctx unless configured (the reference's) */

/* ---- Request ---- */

/* User content: texts joined with one space into "content", data-URI images into "images". */
static int ol_user(struct prov_pivot_req *r, const json_t *content, size_t i, json_t *msg)
{
    json_t *images = NULL;
    const json_t *part, *u;
    const char *type, *url, *b64;
    size_t k;

    if (prov_pivot_set(msg, "content", prov_pivot_text(content, " ")) < 0)
        return prov_pivot_oom(r);
    if (!json_is_array(content)) {
        if (content != NULL && !json_is_null(content) && !json_is_string(content))
            return prov_pivot_bad(r, "messages[%zu].content must be a string or an array of parts",
                                  i);
        return 0;
    }
    json_array_foreach(content, k, part)
    {
        type = json_string_value(json_object_get(part, "type"));
        if (type != NULL && strcmp(type, "text") == 0)
            continue;
        if (type == NULL || strcmp(type, "image_url") != 0)
            return prov_pivot_bad(
                r,
                "messages[%zu].content[%zu]: content part type '%s' is not supported "
                "by Ollama (text, image_url)",
                i, k, type != NULL ? type : "(none)");
        u = json_object_get(part, "image_url");
        url = json_string_value(json_is_object(u) ? json_object_get(u, "url") : u);
        b64 = url != NULL ? strstr(url, ";base64,") : NULL;
        if (url == NULL || strncmp(url, "data:image/", 11) != 0 || b64 == NULL)
            return prov_pivot_bad(
                r,
                "messages[%zu].content[%zu]: Ollama takes images as data URIs only "
                "(data:image/<type>;base64,...)",
                i, k);
        if (images == NULL && (prov_pivot_set(msg, "images", json_array()) < 0 ||
                               (images = json_object_get(msg, "images")) == NULL))
            return prov_pivot_oom(r);
        if (json_array_append_new(images, json_string(b64 + 8)) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/* An assistant message: content ("" when null), thinking, tool_calls with object arguments. */
static int ol_assistant(struct prov_pivot_req *r, const json_t *m, size_t i, json_t *msg,
                        json_t *names)
{
    const json_t *calls = json_object_get(m, "tool_calls"), *call, *re;
    json_t *tc, *input;
    size_t k;

    re = json_object_get(m, "reasoning");
    re = json_is_object(re) ? json_object_get(re, "content") : re;
    if (prov_pivot_set(msg, "content", prov_pivot_text(json_object_get(m, "content"), "")) < 0 ||
        (json_is_string(re) && json_object_set(msg, "thinking", (json_t *)re) < 0))
        return prov_pivot_oom(r);
    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls))
        return prov_pivot_bad(r, "messages[%zu].tool_calls must be an array", i);
    if (json_array_size(calls) == 0)
        return 0;
    if ((tc = json_array()) == NULL || prov_pivot_set(msg, "tool_calls", tc) < 0)
        return prov_pivot_oom(r);
    json_array_foreach(calls, k, call)
    {
        const json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        const json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_string(name))
            return prov_pivot_bad(r, "messages[%zu].tool_calls[%zu]: function.name is required", i,
                                  k);
        if (args == NULL || json_is_null(args) ||
            (json_is_string(args) && json_string_length(args) == 0))
            input = json_object();
        else if (json_is_string(args))
            input = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        else
            input = NULL;
        if (!json_is_object(input)) {
            json_decref(input);
            return prov_pivot_bad(
                r,
                "messages[%zu].tool_calls[%zu].function.arguments is not a JSON object: "
                "Ollama needs the arguments as an object",
                i, k);
        }
        if (json_array_append_new(tc, json_pack("{s:{s:O, s:o}}", "function", "name", name,
                                                "arguments", input)) < 0 ||
            (json_is_string(id) &&
             json_object_set(names, json_string_value(id), (json_t *)name) < 0))
            return prov_pivot_oom(r);
    }
    return 0;
}

static int ol_messages(struct prov_pivot_req *r, const json_t *msgs, json_t *out)
{
    json_t *names = json_object(), *msg; /* tool_call_id -> function name */
    const json_t *m, *name;
    size_t i;
    int rc = 0;

    if (names == NULL)
        return prov_pivot_oom(r);
    if (!json_is_array(msgs))
        rc = prov_pivot_bad(r, "messages must be an array");
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        if (rc != 0)
            break;
        if (role == NULL) {
            rc = prov_pivot_bad(r, "messages[%zu]: role is required", i);
            break;
        }
        if (strcmp(role, "developer") == 0)
            role = "system";
        if ((msg = json_pack("{s:s}", "role", role)) == NULL ||
            json_array_append_new(out, msg) < 0) {
            rc = prov_pivot_oom(r);
            break;
        }
        if (strcmp(role, "user") == 0) {
            rc = ol_user(r, json_object_get(m, "content"), i, msg);
        } else if (strcmp(role, "assistant") == 0) {
            rc = ol_assistant(r, m, i, msg, names);
        } else if (strcmp(role, "system") == 0 || strcmp(role, "tool") == 0) {
            if (prov_pivot_set(msg, "content",
                               prov_pivot_text(json_object_get(m, "content"), "\n")) < 0)
                rc = prov_pivot_oom(r);
            name = id != NULL ? json_object_get(names, id) : NULL;
            if (rc == 0 && strcmp(role, "tool") == 0 && name != NULL &&
                json_object_set(msg, "tool_name", (json_t *)name) < 0)
                rc = prov_pivot_oom(r);
        } else {
            rc = prov_pivot_bad(r, "messages[%zu]: role '%s' is not supported by Ollama", i, role);
        }
    }
    json_decref(names);
    return rc;
}

static int ol_tools(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    const json_t *tools = json_object_get(req, "tools"), *t;
    const char *choice = json_string_value(json_object_get(req, "tool_choice"));
    json_t *out, *f;
    size_t i;

    if (tools == NULL || json_is_null(tools) || (choice != NULL && strcmp(choice, "none") == 0))
        return 0;
    if (!json_is_array(tools))
        return prov_pivot_bad(r, "tools must be an array");
    if ((out = json_array()) == NULL || prov_pivot_set(body, "tools", out) < 0)
        return prov_pivot_oom(r);
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        if (!json_is_string(json_object_get(fn, "name")))
            return prov_pivot_bad(r, "tools[%zu]: expected a function tool with a name", i);
        if ((f = json_pack("{s:O}", "name", json_object_get(fn, "name"))) == NULL ||
            json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", f)) <
                0 ||
            (json_is_string(json_object_get(fn, "description")) &&
             json_object_set(f, "description", json_object_get(fn, "description")) < 0) ||
            (json_is_object(json_object_get(fn, "parameters")) &&
             json_object_set(f, "parameters", json_object_get(fn, "parameters")) < 0))
            return prov_pivot_oom(r);
    }
    return 0;
}

/* options: sampling numbers, seed, stop, num_predict, num_ctx. */
static int ol_options(struct prov_pivot_req *r, const struct prov_conf *pc, const json_t *req,
                      json_t *body)
{
    static const char *const nums[] = {"temperature",       "top_p", "top_k", "presence_penalty",
                                       "frequency_penalty", "seed"};
    const json_t *v, *ctx = json_object_get(pc->kwargs, "num_ctx");
    json_t *o = json_object(), *stop;
    int rc;

    if (o == NULL || prov_pivot_set(body, "options", o) < 0)
        return prov_pivot_oom(r);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        v = json_object_get(req, nums[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v))
            return prov_pivot_bad(r, "%s must be a number", nums[i]);
        if (json_object_set(o, nums[i], (json_t *)v) < 0)
            return prov_pivot_oom(r);
    }
    v = prov_pivot_max_tokens(req, &rc, r->err, r->errlen);
    if (rc != 0 || (v != NULL && json_object_set(o, "num_predict", (json_t *)v) < 0))
        return rc != 0 ? rc : prov_pivot_oom(r);
    if ((rc = prov_pivot_stop(req, &stop, r->err, r->errlen)) != 0)
        return rc == -1 ? prov_pivot_oom(r) : rc;
    if (stop != NULL && prov_pivot_set(o, "stop", stop) < 0)
        return prov_pivot_oom(r);
    if (ctx == NULL) {
        if (prov_pivot_set(o, "num_ctx", json_integer(PROV_OLLAMA_NUM_CTX)) < 0)
            return prov_pivot_oom(r);
    } else if (json_is_integer(ctx) && json_integer_value(ctx) > 0) {
        if (json_object_set(o, "num_ctx", (json_t *)ctx) < 0)
            return prov_pivot_oom(r);
    } else if (!json_is_null(ctx) && !(json_is_integer(ctx) && json_integer_value(ctx) == 0)) {
        snprintf(r->err, r->errlen,
                 "providers.%s.num_ctx must be a positive integer (0 or null: Ollama's default)",
                 pc->info->id);
        return -1;
    }
    return 0;
}

/* format (response_format), think (reasoning_effort), keep_alive (config). */
static int ol_output(struct prov_pivot_req *r, const struct prov_conf *pc, const json_t *req,
                     json_t *body)
{
    static const char *const efforts[][2] = {{"minimal", "low"},   {"low", "low"},
                                             {"medium", "medium"}, {"high", "high"},
                                             {"xhigh", "high"},    {"max", "high"}};
    const json_t *rf = json_object_get(req, "response_format"), *schema;
    const char *type = json_string_value(json_object_get(rf, "type"));
    const json_t *re = json_object_get(req, "reasoning_effort");
    const char *effort = json_string_value(re);
    const json_t *ka = json_object_get(pc->kwargs, "keep_alive");

    if (rf != NULL && !json_is_null(rf) && type == NULL)
        return prov_pivot_bad(r, "response_format needs a type");
    if (type != NULL && strcmp(type, "json_object") == 0) {
        if (prov_pivot_set(body, "format", json_string("json")) < 0)
            return prov_pivot_oom(r);
    } else if (type != NULL && strcmp(type, "json_schema") == 0) {
        schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return prov_pivot_bad(r, "response_format.json_schema.schema must be an object");
        if (json_object_set(body, "format", (json_t *)schema) < 0)
            return prov_pivot_oom(r);
    } else if (type != NULL && strcmp(type, "text") != 0) {
        return prov_pivot_bad(r, "response_format type '%s' is not supported by Ollama", type);
    }
    if ((json_is_string(ka) || json_is_integer(ka)) &&
        json_object_set(body, "keep_alive", (json_t *)ka) < 0)
        return prov_pivot_oom(r);
    if (re == NULL || json_is_null(re))
        return 0;
    if (effort != NULL && strcmp(effort, "none") == 0)
        return prov_pivot_set(body, "think", json_false()) < 0 ? prov_pivot_oom(r) : 0;
    for (size_t i = 0; effort != NULL && i < sizeof(efforts) / sizeof(efforts[0]); i++)
        if (strcmp(effort, efforts[i][0]) == 0)
            return prov_pivot_set(body, "think", json_string(efforts[i][1])) < 0 ? prov_pivot_oom(r)
                                                                                 : 0;
    return prov_pivot_bad(
        r, "reasoning_effort must be one of none, minimal, low, medium, high, xhigh, max");
}

static int ol_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    static const char *const skip[] = {"num_ctx", "keep_alive", NULL};
    struct prov_pivot_req r = {.err = err, .errlen = errlen};
    json_t *body, *msgs;
    int rc;

    *client_usage = prov_pivot_client_usage(in->req);
    body = json_pack("{s:s, s:[], s:b}", "model", in->model, "messages", "stream", in->stream);
    if (body == NULL || prov_pivot_kwargs(pc, in->req, skip) < 0) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    msgs = json_object_get(body, "messages");
    if ((rc = ol_messages(&r, json_object_get(in->req, "messages"), msgs)) != 0 ||
        (rc = ol_tools(&r, in->req, body)) != 0 || (rc = ol_options(&r, pc, in->req, body)) != 0 ||
        (rc = ol_output(&r, pc, in->req, body)) != 0)
        goto out;
    if ((rc = prov_pivot_body(out, body, err, errlen)) == 0)
        rc = prov_pivot_http(pc, "/api/chat",
                             in->stream ? "application/x-ndjson" : "application/json", out, err,
                             errlen);
out:
    json_decref(body);
    return rc;
}

/* ---- Replies and stream lines ---- */

/* created_at ("2026-01-05T10:00:00.123Z") as unix seconds; 0 when unreadable. */
static int64_t ol_created(const json_t *v)
{
    const char *s = json_string_value(v);
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm);
}

static const char *ol_finish(const char *done_reason, bool tools)
{
    if (tools)
        return "tool_calls";
    if (done_reason != NULL && strcmp(done_reason, "length") == 0)
        return "length";
    return "stop"; /* stop, load, unload */
}

/* prompt_eval_count / eval_count into u; false when neither is there. */
static bool ol_usage(const json_t *j, struct prov_usage *u)
{
    const json_t *p = json_object_get(j, "prompt_eval_count"),
                 *c = json_object_get(j, "eval_count");

    if (!json_is_integer(p) && !json_is_integer(c))
        return false;
    u->prompt_tokens = json_is_integer(p) ? (long)json_integer_value(p) : 0;
    u->completion_tokens = json_is_integer(c) ? (long)json_integer_value(c) : 0;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->seen = true;
    return true;
}

/* A tool call's name and its arguments as JSON text (owned); NULL when out of memory. */
static char *ol_call_args(const json_t *call, const char **name)
{
    const json_t *fn = json_object_get(call, "function"), *a = json_object_get(fn, "arguments");

    *name = json_is_string(json_object_get(fn, "name"))
                ? json_string_value(json_object_get(fn, "name"))
                : "";
    if (json_is_string(a))
        return strdup(json_string_value(a));
    return a != NULL && !json_is_null(a) ? jw_dumps(a, NULL) : strdup("{}");
}

/* The OpenAI message of a reply's message; NULL when out of memory. */
static json_t *ol_message(const json_t *m)
{
    const json_t *content = json_object_get(m, "content"), *th = json_object_get(m, "thinking");
    const json_t *calls = json_object_get(m, "tool_calls"), *call;
    const char *c = json_is_string(content) ? json_string_value(content) : "", *end, *name;
    json_t *msg = json_pack("{s:s}", "role", "assistant"), *tc, *reasoning = NULL;
    char gen[64], *args;
    size_t i;

    if (msg == NULL)
        return NULL;
    /* No thinking field: a leading <think>...</think> of the content is the reasoning. */
    if (!json_is_string(th) && strncmp(c, "<think>", 7) == 0 &&
        (end = strstr(c, "</think>")) != NULL) {
        reasoning = json_stringn(c + 7, (size_t)(end - c - 7));
        for (c = end + 8; *c == '\n' || *c == ' '; c++)
            ;
    } else if (json_is_string(th) && json_string_length(th) > 0) {
        reasoning = json_copy((json_t *)th);
    }
    if (json_object_set_new(msg, "content", c[0] != '\0' ? json_string(c) : json_null()) < 0 ||
        (reasoning != NULL &&
         prov_pivot_set(msg, "reasoning", json_pack("{s:o}", "content", reasoning)) < 0))
        goto fail;
    if (json_array_size(calls) == 0)
        return msg;
    if ((tc = json_array()) == NULL || prov_pivot_set(msg, "tool_calls", tc) < 0)
        goto fail;
    json_array_foreach(calls, i, call)
    {
        const char *id = json_string_value(json_object_get(call, "id"));
        if ((args = ol_call_args(call, &name)) == NULL)
            goto fail;
        if (id == NULL)
            prov_pivot_id(gen, sizeof(gen), "call_");
        if (json_array_append_new(tc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                                id != NULL ? id : gen, "type", "function",
                                                "function", "name", name, "arguments", args)) < 0) {
            free(args);
            goto fail;
        }
        free(args);
    }
    return msg;
fail:
    json_decref(msg);
    return NULL;
}

static int ol_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                         char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *msg, *wrap;
    const json_t *m = json_object_get(j, "message");
    int64_t created;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (!json_is_object(j) || !json_is_object(m) || (msg = ol_message(m)) == NULL)
        goto out;
    ol_usage(j, u);
    wrap = json_pack("{s:[{s:O}]}", "choices", "message", msg);
    *gen_bytes = prov_usage_text_bytes(wrap);
    json_decref(wrap);
    if ((created = ol_created(json_object_get(j, "created_at"))) == 0)
        created = (int64_t)time(NULL);
    *out = prov_pivot_reply(NULL, json_string_value(json_object_get(j, "model")), created, msg,
                            ol_finish(json_string_value(json_object_get(j, "done_reason")),
                                      json_array_size(json_object_get(m, "tool_calls")) > 0),
                            u, out_len);
    rc = *out != NULL ? 0 : -1;
out:
    json_decref(j);
    return rc;
}

static int ol_line_calls(struct prov_stream *s, const json_t *calls, prov_emit_fn *emit, void *arg)
{
    const json_t *call;
    const char *name;
    char *args;
    size_t i;
    int rc;

    json_array_foreach(calls, i, call)
    {
        if ((args = ol_call_args(call, &name)) == NULL)
            return -1;
        rc = prov_pivot_tool_start(s, json_string_value(json_object_get(call, "id")), name, args,
                                   emit, arg);
        free(args);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One NDJSON line: deltas, each tool call whole, and on done:true the finish and usage. */
static int ol_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const json_t *m = json_object_get(j, "message"), *v;
    int rc;

    (void)event;
    if (!json_is_object(j) || json_object_get(j, "error") != NULL) {
        v = json_object_get(j, "error");
        prov_pivot_fail(s, json_is_object(v) ? json_object_get(v, "message") : v,
                        json_is_object(j) ? "error from the provider"
                                          : "malformed stream line from the provider");
        json_decref(j);
        return 0;
    }
    rc = prov_pivot_begin(s, NULL, json_string_value(json_object_get(j, "model")),
                          ol_created(json_object_get(j, "created_at")), emit, arg);
    if (rc == 0 && json_is_string(v = json_object_get(m, "thinking")))
        rc = prov_pivot_content(s, json_string_value(v), json_string_length(v), true, emit, arg);
    if (rc == 0 && json_is_string(v = json_object_get(m, "content")))
        rc = prov_pivot_content(s, json_string_value(v), json_string_length(v), false, emit, arg);
    if (rc == 0)
        rc = ol_line_calls(s, json_object_get(m, "tool_calls"), emit, arg);
    if (rc == 0 && json_is_true(json_object_get(j, "done"))) {
        ol_usage(j, &s->usage);
        rc = prov_pivot_end(
            s, ol_finish(json_string_value(json_object_get(j, "done_reason")), s->x.ntools > 0),
            emit, arg);
    }
    json_decref(j);
    return rc;
}

/* ---- Errors ---- */

static void ol_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *e = json_object_get(j, "error");

    if (json_is_object(e)) /* an OpenAI-shaped error (a proxy, or the /v1 endpoints) */
        e = json_object_get(e, "message");
    prov_pivot_error_text(body, len, e, NULL, out, outlen, code, codelen);
    json_decref(j);
}

/* ---- Embeddings ---- */

static int ol_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    const json_t *dim = json_object_get(in->req, "dimensions");
    json_t *texts, *body;
    bool built;
    int rc;

    if ((texts = prov_pivot_embed_texts(in->req, &rc, err, errlen)) == NULL)
        return rc;
    body = json_pack("{s:s, s:o}", "model", in->model, "input", texts);
    built = body != NULL &&
            (!json_is_integer(dim) || json_object_set(body, "dimensions", (json_t *)dim) == 0);
    return prov_pivot_embed_send(pc, "/api/embed", body, built, out, err, errlen);
}

static int ol_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                          size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *vec = json_object_get(j, "embeddings");
    const json_t *n = json_object_get(j, "prompt_eval_count");
    const char *model = json_string_value(json_object_get(j, "model"));
    long prompt = -1;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    if (!json_is_array(vec)) {
        json_decref(j);
        return -1;
    }
    if (json_is_integer(n))
        prompt = (long)json_integer_value(n);
    *out = prov_embed_reply_new(json_incref(vec), model != NULL ? model : "", prompt, u, out_len);
    json_decref(j);
    return *out != NULL ? 0 : -1;
}

const struct prov_dialect_ops prov_dialect_ollama = {
    .name = "ollama",
    .framing = PROV_FRAME_NDJSON,
    .chat_build = ol_chat_build,
    .chat_reply = ol_chat_reply,
    .chat_event = ol_chat_event,
    .error_message = ol_error_message,
    .embed_build = ol_embed_build,
    .embed_reply = ol_embed_reply,
};
