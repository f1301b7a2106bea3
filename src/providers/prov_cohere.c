/*
 * The Cohere v2 dialect (providers.md §9): the pivot request to POST {base}/v2/chat, the reply
 * and the SSE events (keyed on the JSON "type") back to OpenAI shapes, errors ({"message"}) and
 * embeddings (POST {base}/v2/embed). Cohere rejects unknown keys, so the body is built from the
 * fields below only; fields Cohere cannot express are dropped (n = 1, user, logit_bias, logprobs,
 * parallel_tool_calls true) or refused with a 400 (n > 1, a named tool_choice,
 * parallel_tool_calls false, parts other than text and image_url).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"
#include "providers/prov_embed.h"
#include "providers/prov_pivot.h"

/* ---- Request ---- */

/* A user content: a string, or text and image_url parts (kept in Cohere's own shape). */
static int co_user_content(struct prov_pivot_req *r, const json_t *content, size_t i, json_t **out)
{
    const json_t *part, *v;
    size_t k;

    *out = NULL;
    if (json_is_string(content))
        return (*out = json_copy((json_t *)content)) != NULL ? 0 : prov_pivot_oom(r);
    if (!json_is_array(content))
        return prov_pivot_bad(r, "messages[%zu].content must be a string or an array of parts", i);
    if ((*out = json_array()) == NULL)
        return prov_pivot_oom(r);
    json_array_foreach(content, k, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *p = NULL;
        if (type != NULL && strcmp(type, "text") == 0 &&
            json_is_string(v = json_object_get(part, "text"))) {
            p = json_pack("{s:s, s:O}", "type", "text", "text", v);
        } else if (type != NULL && strcmp(type, "image_url") == 0) {
            v = json_object_get(part, "image_url");
            v = json_is_object(v) ? json_object_get(v, "url") : v;
            if (!json_is_string(v)) {
                json_decref(*out);
                return prov_pivot_bad(
                    r, "messages[%zu].content[%zu]: image_url.url must be a string", i, k);
            }
            p = json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url", v);
        } else {
            json_decref(*out);
            return prov_pivot_bad(
                r,
                "messages[%zu].content[%zu]: content part type '%s' is not supported "
                "by Cohere (text, image_url)",
                i, k, type != NULL ? type : "(none)");
        }
        if (p == NULL || json_array_append_new(*out, p) < 0) {
            json_decref(*out);
            return prov_pivot_oom(r);
        }
    }
    return 0;
}

/* An assistant message: content (or, with tool calls, tool_plan) and tool_calls. */
static int co_assistant(struct prov_pivot_req *r, const json_t *m, size_t i, json_t **out)
{
    const json_t *calls = json_object_get(m, "tool_calls"), *call;
    json_t *text = prov_pivot_text(json_object_get(m, "content"), ""), *tc;
    size_t k;

    if (text == NULL || (*out = json_pack("{s:s}", "role", "assistant")) == NULL) {
        json_decref(text);
        return prov_pivot_oom(r);
    }
    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls)) {
        json_decref(text);
        return prov_pivot_bad(r, "messages[%zu].tool_calls must be an array", i);
    }
    if (json_array_size(calls) == 0)
        return prov_pivot_set(*out, "content", text) < 0 ? prov_pivot_oom(r) : 0;
    if (json_string_length(text) == 0)
        json_decref(text);
    else if (prov_pivot_set(*out, "tool_plan", text) < 0)
        return prov_pivot_oom(r);
    if ((tc = json_array()) == NULL || prov_pivot_set(*out, "tool_calls", tc) < 0)
        return prov_pivot_oom(r);
    json_array_foreach(calls, k, call)
    {
        const json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        const json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_string(id) || !json_is_string(name))
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu]: id and function.name are required", i, k);
        if (args != NULL && !json_is_null(args) && !json_is_string(args))
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu].function.arguments must be a string", i, k);
        if (json_array_append_new(
                tc, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function",
                              "name", name, "arguments",
                              json_string_length(args) > 0 ? json_string_value(args) : "{}")) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

static int co_messages(struct prov_pivot_req *r, const json_t *msgs, json_t *out)
{
    const json_t *m, *content;
    json_t *c = NULL, *o = NULL;
    size_t i;
    int rc;

    if (!json_is_array(msgs))
        return prov_pivot_bad(r, "messages must be an array");
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        content = json_object_get(m, "content");
        if (role == NULL)
            return prov_pivot_bad(r, "messages[%zu]: role is required", i);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            o = json_pack("{s:s, s:o}", "role", "system", "content",
                          prov_pivot_text(content, "\n"));
        } else if (strcmp(role, "user") == 0) {
            if ((rc = co_user_content(r, content, i, &c)) != 0)
                return rc;
            o = json_pack("{s:s, s:o}", "role", "user", "content", c);
        } else if (strcmp(role, "assistant") == 0) {
            o = NULL;
            if ((rc = co_assistant(r, m, i, &o)) != 0) {
                json_decref(o);
                return rc;
            }
        } else if (strcmp(role, "tool") == 0) {
            if (!json_is_string(json_object_get(m, "tool_call_id")))
                return prov_pivot_bad(r, "messages[%zu]: a tool message needs tool_call_id", i);
            o = json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id",
                          json_object_get(m, "tool_call_id"), "content",
                          prov_pivot_text(content, ""));
        } else {
            return prov_pivot_bad(r, "messages[%zu]: role '%s' is not supported by Cohere", i,
                                  role);
        }
        if (o == NULL || json_array_append_new(out, o) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

static int co_tools(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    const json_t *tools = json_object_get(req, "tools"), *t;
    const json_t *tc = json_object_get(req, "tool_choice");
    const char *choice = json_string_value(tc);
    json_t *out;
    size_t i;

    if (tools != NULL && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return prov_pivot_bad(r, "tools must be an array");
        if ((out = json_array()) == NULL || prov_pivot_set(body, "tools", out) < 0)
            return prov_pivot_oom(r);
        json_array_foreach(tools, i, t)
        {
            const json_t *fn = json_object_get(t, "function");
            const json_t *name = json_object_get(fn, "name");
            json_t *f;
            if (!json_is_string(name))
                return prov_pivot_bad(r, "tools[%zu]: expected a function tool with a name", i);
            if ((f = json_pack("{s:O}", "name", name)) == NULL ||
                json_array_append_new(
                    out, json_pack("{s:s, s:o}", "type", "function", "function", f)) < 0)
                return prov_pivot_oom(r);
            if ((json_is_string(json_object_get(fn, "description")) &&
                 json_object_set(f, "description", json_object_get(fn, "description")) < 0) ||
                (json_is_object(json_object_get(fn, "parameters")) &&
                 json_object_set(f, "parameters", json_object_get(fn, "parameters")) < 0))
                return prov_pivot_oom(r);
        }
    }
    if (json_is_object(tc))
        return prov_pivot_bad(r, "tool_choice naming a function is not supported by Cohere (use "
                                 "\"required\", \"auto\" or \"none\")");
    if (tc != NULL && !json_is_null(tc) && choice == NULL)
        return prov_pivot_bad(r, "tool_choice must be a string");
    if (choice == NULL || strcmp(choice, "auto") == 0)
        return 0;
    if (strcmp(choice, "required") == 0)
        return prov_pivot_set(body, "tool_choice", json_string("REQUIRED")) < 0 ? prov_pivot_oom(r)
                                                                                : 0;
    if (strcmp(choice, "none") == 0)
        return prov_pivot_set(body, "tool_choice", json_string("NONE")) < 0 ? prov_pivot_oom(r) : 0;
    return prov_pivot_bad(r, "tool_choice '%s' is not supported (auto, required, none)", choice);
}

/* Numbers under the same or a new name, max_tokens, stop_sequences, n, parallel_tool_calls. */
static int co_params(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    static const char *const nums[][2] = {{"temperature", "temperature"},
                                          {"top_p", "p"},
                                          {"top_k", "k"},
                                          {"frequency_penalty", "frequency_penalty"},
                                          {"presence_penalty", "presence_penalty"}};
    const json_t *v;
    json_t *stop;
    int rc;

    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        v = json_object_get(req, nums[i][0]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v))
            return prov_pivot_bad(r, "%s must be a number", nums[i][0]);
        if (json_object_set(body, nums[i][1], (json_t *)v) < 0)
            return prov_pivot_oom(r);
    }
    v = json_object_get(req, "seed");
    if (v != NULL && !json_is_null(v) && !json_is_integer(v))
        return prov_pivot_bad(r, "seed must be an integer");
    if (json_is_integer(v) && json_object_set(body, "seed", (json_t *)v) < 0)
        return prov_pivot_oom(r);
    v = prov_pivot_max_tokens(req, &rc, r->err, r->errlen);
    if (rc != 0 || (v != NULL && json_object_set(body, "max_tokens", (json_t *)v) < 0))
        return rc != 0 ? rc : prov_pivot_oom(r);
    if ((rc = prov_pivot_stop(req, &stop, r->err, r->errlen)) != 0)
        return rc == -1 ? prov_pivot_oom(r) : rc;
    if (stop != NULL && prov_pivot_set(body, "stop_sequences", stop) < 0)
        return prov_pivot_oom(r);
    v = json_object_get(req, "n");
    if (json_is_integer(v) && json_integer_value(v) > 1)
        return prov_pivot_bad(r, "n > 1 is not supported by Cohere");
    if (json_is_false(json_object_get(req, "parallel_tool_calls")))
        return prov_pivot_bad(r, "parallel_tool_calls false is not supported by Cohere");
    return 0;
}

/* response_format and reasoning_effort. */
static int co_output(struct prov_pivot_req *r, const json_t *req, json_t *body)
{
    static const struct {
        const char *effort;
        int budget;
    } budgets[] = {{"minimal", 256}, {"low", 1024},    {"medium", 8192},
                   {"high", 24576},  {"xhigh", 32768}, {"max", 32768}};
    const json_t *rf = json_object_get(req, "response_format"), *schema;
    const char *type = json_string_value(json_object_get(rf, "type"));
    const json_t *re = json_object_get(req, "reasoning_effort");
    const char *effort = json_string_value(re);

    if (rf != NULL && !json_is_null(rf) && type == NULL)
        return prov_pivot_bad(r, "response_format needs a type");
    if (type != NULL && strcmp(type, "json_object") == 0) {
        if (prov_pivot_set(body, "response_format", json_pack("{s:s}", "type", "json_object")) < 0)
            return prov_pivot_oom(r);
    } else if (type != NULL && strcmp(type, "json_schema") == 0) {
        schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return prov_pivot_bad(r, "response_format.json_schema.schema must be an object");
        if (prov_pivot_set(body, "response_format",
                           json_pack("{s:s, s:O}", "type", "json_object", "json_schema", schema)) <
            0)
            return prov_pivot_oom(r);
    } else if (type != NULL && strcmp(type, "text") != 0) {
        return prov_pivot_bad(r, "response_format type '%s' is not supported by Cohere", type);
    }
    if (re == NULL || json_is_null(re))
        return 0;
    if (effort != NULL && strcmp(effort, "none") == 0)
        return prov_pivot_set(body, "thinking", json_pack("{s:s}", "type", "disabled")) < 0
                   ? prov_pivot_oom(r)
                   : 0;
    for (size_t i = 0; effort != NULL && i < sizeof(budgets) / sizeof(budgets[0]); i++)
        if (strcmp(effort, budgets[i].effort) == 0)
            return prov_pivot_set(body, "thinking",
                                  json_pack("{s:s, s:i}", "type", "enabled", "token_budget",
                                            budgets[i].budget)) < 0
                       ? prov_pivot_oom(r)
                       : 0;
    return prov_pivot_bad(
        r, "reasoning_effort must be one of none, minimal, low, medium, high, xhigh, max");
}

static int co_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    struct prov_pivot_req r = {.err = err, .errlen = errlen};
    json_t *body = NULL, *msgs = json_array();
    int rc;

    *client_usage = prov_pivot_client_usage(in->req);
    if (msgs == NULL || prov_pivot_kwargs(pc, in->req, NULL) < 0 ||
        (body = json_pack("{s:s, s:O}", "model", in->model, "messages", msgs)) == NULL) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((rc = co_messages(&r, json_object_get(in->req, "messages"), msgs)) != 0 ||
        (rc = co_params(&r, in->req, body)) != 0 || (rc = co_tools(&r, in->req, body)) != 0 ||
        (rc = co_output(&r, in->req, body)) != 0)
        goto out;
    if (in->stream && prov_pivot_set(body, "stream", json_true()) < 0) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((rc = prov_pivot_body(out, body, err, errlen)) == 0)
        rc = prov_pivot_http(pc, "/v2/chat", in->stream ? "text/event-stream" : "application/json",
                             out, err, errlen);
out:
    json_decref(msgs);
    json_decref(body);
    return rc;
}

/* ---- Replies ---- */

static const char *co_finish(const char *reason, bool tools)
{
    if (reason != NULL && strcmp(reason, "MAX_TOKENS") == 0)
        return "length";
    if (reason != NULL && strcmp(reason, "TOOL_CALL") == 0 && tools)
        return "tool_calls";
    return "stop"; /* COMPLETE, STOP_SEQUENCE, ERROR, TIMEOUT, TOOL_CALL without calls */
}

/* usage.tokens, else usage.billed_units (§1.6). False when there is neither. */
static bool co_usage(const json_t *usage, struct prov_usage *u)
{
    const json_t *t = json_object_get(usage, "tokens");
    const json_t *in, *outp;

    if (!json_is_object(t))
        t = json_object_get(usage, "billed_units");
    if (!json_is_object(t))
        return false;
    in = json_object_get(t, "input_tokens");
    outp = json_object_get(t, "output_tokens");
    u->prompt_tokens = json_is_number(in) ? (long)json_number_value(in) : 0;
    u->completion_tokens = json_is_number(outp) ? (long)json_number_value(outp) : 0;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->seen = true;
    return true;
}

/* Joins the content items of one type ("text" or "thinking"), new string. */
static json_t *co_join(const json_t *content, const char *type)
{
    json_t *parts = json_array(), *s;
    const json_t *c;
    size_t i;

    if (parts == NULL)
        return NULL;
    json_array_foreach(content, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t != NULL && strcmp(t, type) == 0 &&
            json_array_append_new(parts, json_pack("{s:O?}", "text", json_object_get(c, type))) <
                0) {
            json_decref(parts);
            return NULL;
        }
    }
    s = prov_pivot_text(parts, "");
    json_decref(parts);
    return s;
}

static json_t *co_message(const json_t *m)
{
    const json_t *content = json_object_get(m, "content"), *plan = json_object_get(m, "tool_plan");
    const json_t *calls = json_object_get(m, "tool_calls"), *call;
    json_t *msg, *text = co_join(content, "text"), *thinking = co_join(content, "thinking"), *tc;
    size_t i;

    msg = json_pack("{s:s}", "role", "assistant");
    if (msg == NULL || text == NULL || thinking == NULL)
        goto fail;
    if (json_string_length(text) == 0 && json_is_string(plan))
        json_string_setn(text, json_string_value(plan), json_string_length(plan));
    if (json_object_set(msg, "content", json_string_length(text) > 0 ? text : json_null()) < 0 ||
        (json_string_length(thinking) > 0 &&
         prov_pivot_set(msg, "reasoning", json_pack("{s:O}", "content", thinking)) < 0))
        goto fail;
    if (json_array_size(calls) > 0) {
        if ((tc = json_array()) == NULL || prov_pivot_set(msg, "tool_calls", tc) < 0)
            goto fail;
        json_array_foreach(calls, i, call)
        {
            const json_t *fn = json_object_get(call, "function");
            const json_t *args = json_object_get(fn, "arguments");
            char gen[64], *a = json_is_string(args) ? NULL
                               : args != NULL       ? jw_dumps(args, NULL)
                                                    : NULL;
            const char *id = json_string_value(json_object_get(call, "id"));
            if (id == NULL)
                prov_pivot_id(gen, sizeof(gen), "call_");
            if (json_array_append_new(
                    tc, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id != NULL ? id : gen, "type",
                                  "function", "function", "name",
                                  json_is_string(json_object_get(fn, "name"))
                                      ? json_string_value(json_object_get(fn, "name"))
                                      : "",
                                  "arguments",
                                  a != NULL              ? a
                                  : json_is_string(args) ? json_string_value(args)
                                                         : "{}")) < 0) {
                free(a);
                goto fail;
            }
            free(a);
        }
    }
    json_decref(text);
    json_decref(thinking);
    return msg;
fail:
    json_decref(text);
    json_decref(thinking);
    json_decref(msg);
    return NULL;
}

static int co_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                         char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *msg, *wrap;
    const json_t *m = json_object_get(j, "message");
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (!json_is_object(j) || !json_is_object(m) || (msg = co_message(m)) == NULL)
        goto out;
    co_usage(json_object_get(j, "usage"), u);
    /* Cohere's reply names no model; the id is Cohere's. */
    wrap = json_pack("{s:[{s:O}]}", "choices", "message", msg);
    *gen_bytes = prov_usage_text_bytes(wrap);
    json_decref(wrap);
    *out =
        prov_pivot_reply(json_string_value(json_object_get(j, "id")), "", (int64_t)time(NULL), msg,
                         co_finish(json_string_value(json_object_get(j, "finish_reason")),
                                   json_array_size(json_object_get(m, "tool_calls")) > 0),
                         u, out_len);
    rc = *out != NULL ? 0 : -1;
out:
    json_decref(j);
    return rc;
}

/* ---- Stream events ---- */

/* delta.message of an event. */
static const json_t *co_dmsg(const json_t *j)
{
    return json_object_get(json_object_get(j, "delta"), "message");
}

static int co_text(struct prov_stream *s, const json_t *v, bool reasoning, prov_emit_fn *emit,
                   void *arg)
{
    if (!json_is_string(v))
        return 0;
    return prov_pivot_content(s, json_string_value(v), json_string_length(v), reasoning, emit, arg);
}

static int co_message_end(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    const json_t *d = json_object_get(j, "delta"), *e = json_object_get(d, "error");

    if (co_usage(json_object_get(d, "usage"), &s->usage) && s->usage.total_tokens == 0)
        s->usage.total_tokens = s->usage.prompt_tokens + s->usage.completion_tokens;
    if (json_is_string(e) && json_string_length(e) > 0) {
        prov_pivot_fail(s, e, "error from the provider");
        return 0;
    }
    return prov_pivot_end(
        s, co_finish(json_string_value(json_object_get(d, "finish_reason")), s->x.ntools > 0), emit,
        arg);
}

static int co_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    json_t *j;
    const char *type;
    const json_t *m, *tc;
    int rc = 0;

    (void)event; /* the JSON "type" decides (providers.md §1.5) */
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return s->x.started ? prov_pivot_end(s, NULL, emit, arg) : (s->done = true, 0);
    j = json_loadb(data, len, 0, NULL);
    type = json_string_value(json_object_get(j, "type"));
    if (!json_is_object(j) || type == NULL) {
        prov_pivot_fail(s, json_object_get(j, "message"),
                        "malformed stream event from the provider");
        json_decref(j);
        return 0;
    }
    m = co_dmsg(j);
    /* The role chunk first (message-start names the id), whatever comes first. */
    rc = prov_pivot_begin(
        s, strcmp(type, "message-start") == 0 ? json_string_value(json_object_get(j, "id")) : NULL,
        "", 0, emit, arg);
    if (rc != 0 || strcmp(type, "message-start") == 0) {
        /* emit failed, or nothing more to say */
    } else if (strcmp(type, "content-delta") == 0) {
        const json_t *c = json_object_get(m, "content");
        if ((rc = co_text(s, json_object_get(c, "thinking"), true, emit, arg)) == 0)
            rc = co_text(s, json_object_get(c, "text"), false, emit, arg);
    } else if (strcmp(type, "tool-plan-delta") == 0) {
        rc = co_text(s, json_object_get(m, "tool_plan"), false, emit, arg);
    } else if (strcmp(type, "tool-call-start") == 0) {
        const json_t *fn;
        tc = json_object_get(m, "tool_calls");
        fn = json_object_get(tc, "function");
        rc = prov_pivot_tool_start(s, json_string_value(json_object_get(tc, "id")),
                                   json_is_string(json_object_get(fn, "name"))
                                       ? json_string_value(json_object_get(fn, "name"))
                                       : "",
                                   json_string_value(json_object_get(fn, "arguments")), emit, arg);
    } else if (strcmp(type, "tool-call-delta") == 0) {
        const json_t *a = json_object_get(
            json_object_get(json_object_get(m, "tool_calls"), "function"), "arguments");
        if (json_is_string(a))
            rc = prov_pivot_tool_args(s, json_string_value(a), json_string_length(a), emit, arg);
    } else if (strcmp(type, "message-end") == 0) {
        rc = co_message_end(s, j, emit, arg);
    }
    /* content-start/-end, tool-call-end, citation-*, debug: nothing to say. */
    json_decref(j);
    return rc;
}

/* ---- Errors ---- */

static void co_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *m = json_object_get(j, "message");

    if (!json_is_string(m)) /* an OpenAI-shaped error from a proxy in front */
        m = json_object_get(json_object_get(j, "error"), "message");
    prov_pivot_error_text(body, len, m, NULL, out, outlen, code, codelen);
    json_decref(j);
}

/* ---- Embeddings ---- */

static int co_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    static const char *const types[] = {"search_document", "search_query", "classification",
                                        "clustering", "image"};
    const json_t *it = json_object_get(in->req, "input_type"),
                 *dim = json_object_get(in->req, "dimensions");
    const char *type = json_string_value(it);
    json_t *texts, *body;
    bool built;
    bool known = false;
    int rc;

    if (it != NULL && !json_is_null(it)) {
        for (size_t i = 0; type != NULL && i < sizeof(types) / sizeof(types[0]); i++)
            known = known || strcmp(type, types[i]) == 0;
        if (!known) {
            snprintf(err, errlen,
                     "input_type must be one of search_document, search_query, classification, "
                     "clustering, image");
            return PROV_E_REQUEST;
        }
    }
    if ((texts = prov_pivot_embed_texts(in->req, &rc, err, errlen)) == NULL)
        return rc;
    body = json_pack("{s:s, s:o, s:s, s:[s]}", "model", in->model, "texts", texts, "input_type",
                     type != NULL ? type : "search_document", "embedding_types", "float");
    built = body != NULL && (!json_is_integer(dim) ||
                             json_object_set(body, "output_dimension", (json_t *)dim) == 0);
    return prov_pivot_embed_send(pc, "/v2/embed", body, built, out, err, errlen);
}

static int co_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                          size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *vec = json_object_get(json_object_get(j, "embeddings"), "float");
    const json_t *meta = json_object_get(j, "meta"), *n;
    long prompt = -1;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    if (!json_is_array(vec)) {
        json_decref(j);
        return -1;
    }
    n = json_object_get(json_object_get(meta, "tokens"), "input_tokens");
    if (!json_is_number(n))
        n = json_object_get(json_object_get(meta, "billed_units"), "input_tokens");
    if (json_is_number(n))
        prompt = (long)json_number_value(n);
    *out = prov_embed_reply_new(json_incref(vec), "", prompt, u, out_len);
    json_decref(j);
    return *out != NULL ? 0 : -1;
}

const struct prov_dialect_ops prov_dialect_cohere = {
    .name = "cohere",
    .framing = PROV_FRAME_SSE,
    .chat_build = co_chat_build,
    .chat_reply = co_chat_reply,
    .chat_event = co_chat_event,
    .error_message = co_error_message,
    .embed_build = co_embed_build,
    .embed_reply = co_embed_reply,
};
