/*
 * The bridged Anthropic Messages shape, request side (contract in prov_shape.h; providers.md
 * §14.2): a client's Anthropic Messages request becomes a pivot (OpenAI chat) request. Fields the
 * pivot has no place for (metadata, top_k, cache_control, unknown keys) are dropped; content it
 * cannot express is refused with a one-line reason naming the place. The reply side is
 * prov_shape_anthropic.c.
 */
#include "jwrite.h"
#include "providers/prov_shape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing NUL-terminated string. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* The accumulated text as a new JSON string ("" when nothing was added); frees the buffer. */
static json_t *sbuf_take(struct sbuf *b)
{
    json_t *s = json_stringn(b->p != NULL ? b->p : "", b->len);

    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return s;
}

__attribute__((format(printf, 3, 4))) static int req_err(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define REQ_OOM(err, errlen) req_err((err), (errlen), "out of memory")

/* Appends b's text to t when b is a text block; -1 (with err) when b is a malformed text block. */
static int req_block_text(const json_t *b, struct sbuf *t, const char *where, char *err,
                          size_t errlen)
{
    const json_t *s = json_object_get(b, "text");

    if (!json_is_string(s))
        return req_err(err, errlen, "%s: a text block needs a string \"text\"", where);
    if (sbuf_add(t, json_string_value(s), json_string_length(s)) < 0)
        return REQ_OOM(err, errlen);
    return 0;
}

static const char *req_type(const json_t *b)
{
    const char *t = json_string_value(json_object_get(b, "type"));

    return t != NULL ? t : "";
}

static bool req_is_thinking(const char *type)
{
    return strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0;
}

/*
 * A string, or an array of text blocks, concatenated into *out (owned). Blocks other than text
 * are refused unless skip_other (tool results: images cannot ride in an OpenAI tool message).
 */
static int req_texts(const json_t *v, bool skip_other, const char *where, json_t **out, char *err,
                     size_t errlen)
{
    struct sbuf t = {0};
    char w[96];
    size_t i;
    const json_t *b;

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        *out = json_string("");
    } else if (json_is_string(v)) {
        *out = json_deep_copy(v);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, b)
        {
            snprintf(w, sizeof(w), "%s[%zu]", where, i);
            if (!json_is_object(b)) {
                free(t.p);
                return req_err(err, errlen, "%s: not an object", w);
            }
            if (strcmp(req_type(b), "text") != 0) {
                if (skip_other)
                    continue;
                free(t.p);
                return req_err(err, errlen, "%s: only text blocks are supported here", w);
            }
            if (req_block_text(b, &t, w, err, errlen) < 0) {
                free(t.p);
                return -1;
            }
        }
        *out = sbuf_take(&t);
    } else {
        return req_err(err, errlen, "%s: must be a string or an array of blocks", where);
    }
    return *out != NULL ? 0 : REQ_OOM(err, errlen);
}

/* Appends {"role":role, key:val} (val stolen) to msgs. */
static int req_push(json_t *msgs, const char *role, const char *key, json_t *val, char *err,
                    size_t errlen)
{
    json_t *m = val != NULL ? json_pack("{s:s, s:o}", "role", role, key, val) : NULL;

    if (m == NULL || json_array_append_new(msgs, m) < 0)
        return REQ_OOM(err, errlen);
    return 0;
}

/* An image block -> an image_url part: base64 as a data URI, url as it is. */
static json_t *req_image(const json_t *b, const char *where, char *err, size_t errlen)
{
    const json_t *src = json_object_get(b, "source");
    const char *st = json_string_value(json_object_get(src, "type"));
    const char *mt = json_string_value(json_object_get(src, "media_type"));
    const char *data = json_string_value(json_object_get(src, "data"));
    const char *url = json_string_value(json_object_get(src, "url"));
    json_t *part = NULL;
    char *uri;
    size_t n;

    if (st != NULL && strcmp(st, "base64") == 0 && mt != NULL && data != NULL) {
        n = strlen(mt) + strlen(data) + sizeof("data:;base64,");
        uri = malloc(n);
        if (uri == NULL) {
            REQ_OOM(err, errlen);
            return NULL;
        }
        snprintf(uri, n, "data:%s;base64,%s", mt, data);
        part = json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", uri);
        free(uri);
    } else if (st != NULL && strcmp(st, "url") == 0 && url != NULL) {
        part = json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url);
    } else {
        req_err(err, errlen,
                "%s: an image needs source {type:base64, media_type, data} or {type:url, url}",
                where);
        return NULL;
    }
    if (part == NULL)
        REQ_OOM(err, errlen);
    return part;
}

/* Pending user parts become one user message (nothing when there are none). */
static int req_flush_user(json_t *msgs, json_t **parts, char *err, size_t errlen)
{
    json_t *p = *parts;

    if (json_array_size(p) == 0)
        return 0;
    *parts = json_array();
    if (*parts == NULL) {
        json_decref(p);
        return REQ_OOM(err, errlen);
    }
    return req_push(msgs, "user", "content", p, err, errlen);
}

static int req_user(const json_t *content, const char *where, json_t *msgs, char *err,
                    size_t errlen)
{
    json_t *parts = json_array(), *part, *text;
    const json_t *b;
    const char *type;
    char w[96];
    size_t i;
    int rc = -1;

    if (parts == NULL)
        return REQ_OOM(err, errlen);
    json_array_foreach(content, i, b)
    {
        snprintf(w, sizeof(w), "%s[%zu]", where, i);
        if (!json_is_object(b)) {
            req_err(err, errlen, "%s: not an object", w);
            goto out;
        }
        type = req_type(b);
        part = NULL;
        if (strcmp(type, "text") == 0) {
            const json_t *s = json_object_get(b, "text");
            if (!json_is_string(s)) {
                req_err(err, errlen, "%s: a text block needs a string \"text\"", w);
                goto out;
            }
            part = json_pack("{s:s, s:O}", "type", "text", "text", s);
        } else if (strcmp(type, "image") == 0) {
            if ((part = req_image(b, w, err, errlen)) == NULL)
                goto out;
        } else if (strcmp(type, "tool_result") == 0) {
            const char *id = json_string_value(json_object_get(b, "tool_use_id"));
            json_t *m;
            if (id == NULL) {
                req_err(err, errlen, "%s: a tool_result needs a string \"tool_use_id\"", w);
                goto out;
            }
            if (req_flush_user(msgs, &parts, err, errlen) < 0 ||
                req_texts(json_object_get(b, "content"), true, w, &text, err, errlen) < 0)
                goto out;
            m = json_pack("{s:s, s:s, s:o}", "role", "tool", "tool_call_id", id, "content", text);
            if (m == NULL || json_array_append_new(msgs, m) < 0) {
                REQ_OOM(err, errlen);
                goto out;
            }
            continue;
        } else if (req_is_thinking(type)) {
            continue;
        } else {
            req_err(err, errlen, "%s: unsupported block type \"%s\"", w, type);
            goto out;
        }
        if (part == NULL || json_array_append_new(parts, part) < 0) {
            REQ_OOM(err, errlen);
            goto out;
        }
    }
    rc = req_flush_user(msgs, &parts, err, errlen);
out:
    json_decref(parts);
    return rc;
}

static int req_assistant(const json_t *content, const char *where, json_t *msgs, char *err,
                         size_t errlen)
{
    struct sbuf t = {0};
    bool any_text = false;
    json_t *calls = json_array(), *call, *m = NULL;
    const json_t *b, *input;
    const char *type, *id, *name;
    char w[96], *args;
    size_t i;

    if (calls == NULL)
        return REQ_OOM(err, errlen);
    json_array_foreach(content, i, b)
    {
        snprintf(w, sizeof(w), "%s[%zu]", where, i);
        if (!json_is_object(b)) {
            req_err(err, errlen, "%s: not an object", w);
            goto fail;
        }
        type = req_type(b);
        if (strcmp(type, "text") == 0) {
            if (req_block_text(b, &t, w, err, errlen) < 0)
                goto fail;
            any_text = true;
        } else if (strcmp(type, "tool_use") == 0) {
            id = json_string_value(json_object_get(b, "id"));
            name = json_string_value(json_object_get(b, "name"));
            if (id == NULL || name == NULL) {
                req_err(err, errlen, "%s: a tool_use needs string \"id\" and \"name\"", w);
                goto fail;
            }
            input = json_object_get(b, "input");
            args = input != NULL ? jw_dumps(input, NULL) : strdup("{}");
            call = args != NULL ? json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type",
                                            "function", "function", "name", name, "arguments", args)
                                : NULL;
            free(args);
            if (call == NULL || json_array_append_new(calls, call) < 0) {
                REQ_OOM(err, errlen);
                goto fail;
            }
        } else if (!req_is_thinking(type)) {
            req_err(err, errlen, "%s: unsupported block type \"%s\"", w, type);
            goto fail;
        }
    }
    m = json_pack("{s:s, s:o}", "role", "assistant", "content",
                  any_text ? sbuf_take(&t) : json_null());
    if (m == NULL || (json_array_size(calls) > 0 && json_object_set(m, "tool_calls", calls) < 0) ||
        json_array_append(msgs, m) < 0) {
        REQ_OOM(err, errlen);
        goto fail;
    }
    json_decref(m);
    json_decref(calls);
    return 0;
fail:
    free(t.p);
    json_decref(m);
    json_decref(calls);
    return -1;
}

static int req_messages(const json_t *req, json_t *msgs, char *err, size_t errlen)
{
    const json_t *list = json_object_get(req, "messages"), *m, *content;
    const char *role;
    char w[64];
    size_t i;

    if (!json_is_array(list))
        return req_err(err, errlen, "messages: must be an array");
    json_array_foreach(list, i, m)
    {
        snprintf(w, sizeof(w), "messages[%zu]", i);
        if (!json_is_object(m))
            return req_err(err, errlen, "%s: not an object", w);
        role = json_string_value(json_object_get(m, "role"));
        content = json_object_get(m, "content");
        if (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
            return req_err(err, errlen, "%s.role: must be \"user\" or \"assistant\"", w);
        snprintf(w, sizeof(w), "messages[%zu].content", i);
        if (json_is_string(content)) {
            if (req_push(msgs, role, "content", json_deep_copy(content), err, errlen) < 0)
                return -1;
        } else if (!json_is_array(content)) {
            return req_err(err, errlen, "%s: must be a string or an array of blocks", w);
        } else if (role[0] == 'u' ? req_user(content, w, msgs, err, errlen) < 0
                                  : req_assistant(content, w, msgs, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

static int req_tools(const json_t *req, json_t *out, char *err, size_t errlen)
{
    const json_t *tools = json_object_get(req, "tools"), *t, *desc, *schema;
    json_t *list, *fn, *e;
    const char *name, *type;
    size_t i;

    if (tools == NULL || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return req_err(err, errlen, "tools: must be an array");
    if ((list = json_array()) == NULL || json_object_set_new(out, "tools", list) < 0)
        return REQ_OOM(err, errlen);
    json_array_foreach(tools, i, t)
    {
        name = json_string_value(json_object_get(t, "name"));
        type = json_string_value(json_object_get(t, "type"));
        if (name == NULL)
            return req_err(err, errlen, "tools[%zu]: needs a string \"name\"", i);
        if (type != NULL && strcmp(type, "custom") != 0)
            return req_err(err, errlen, "tools[%zu]: tool type \"%s\" is not supported", i, type);
        fn = json_pack("{s:s}", "name", name);
        e = json_pack("{s:s, s:o}", "type", "function", "function", fn);
        if (e == NULL || json_array_append_new(list, e) < 0)
            return REQ_OOM(err, errlen);
        desc = json_object_get(t, "description");
        schema = json_object_get(t, "input_schema");
        if ((json_is_string(desc) &&
             json_object_set_new(fn, "description", json_deep_copy(desc)) < 0) ||
            (schema != NULL && !json_is_null(schema) &&
             json_object_set_new(fn, "parameters", json_deep_copy(schema)) < 0))
            return REQ_OOM(err, errlen);
    }
    return 0;
}

static int req_tool_choice(const json_t *req, json_t *out, char *err, size_t errlen)
{
    const json_t *tc = json_object_get(req, "tool_choice");
    const char *type, *name;
    json_t *v;

    if (tc == NULL || json_is_null(tc))
        return 0;
    type = json_string_value(json_object_get(tc, "type"));
    if (type == NULL)
        return req_err(err, errlen, "tool_choice: needs a string \"type\"");
    if (strcmp(type, "auto") == 0) {
        v = json_string("auto");
    } else if (strcmp(type, "any") == 0) {
        v = json_string("required");
    } else if (strcmp(type, "none") == 0) {
        v = json_string("none");
    } else if (strcmp(type, "tool") == 0) {
        name = json_string_value(json_object_get(tc, "name"));
        if (name == NULL)
            return req_err(err, errlen, "tool_choice: type \"tool\" needs a string \"name\"");
        v = json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", name);
    } else {
        return req_err(err, errlen, "tool_choice.type: \"%s\" is not supported", type);
    }
    if (json_object_set_new(out, "tool_choice", v) < 0)
        return REQ_OOM(err, errlen);
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")) &&
        json_object_set_new(out, "parallel_tool_calls", json_false()) < 0)
        return REQ_OOM(err, errlen);
    return 0;
}

/* thinking -> reasoning_effort by budget (absent budget: 8192). */
static int req_thinking(const json_t *req, json_t *out, char *err, size_t errlen)
{
    const json_t *th = json_object_get(req, "thinking"), *b;
    const char *type, *effort;
    double budget = 8192;

    if (th == NULL || json_is_null(th))
        return 0;
    type = json_string_value(json_object_get(th, "type"));
    if (type == NULL)
        return req_err(err, errlen, "thinking: needs a string \"type\"");
    if (strcmp(type, "disabled") == 0) {
        effort = "none";
    } else if (strcmp(type, "enabled") == 0) {
        b = json_object_get(th, "budget_tokens");
        if (b != NULL && !json_is_null(b)) {
            if (!json_is_number(b))
                return req_err(err, errlen, "thinking.budget_tokens: must be a number");
            budget = json_number_value(b);
        }
        effort = budget <= 1024    ? "minimal"
                 : budget <= 2048  ? "low"
                 : budget <= 8192  ? "medium"
                 : budget <= 24576 ? "high"
                                   : "xhigh";
    } else {
        return req_err(err, errlen, "thinking.type: \"%s\" is not supported", type);
    }
    if (json_object_set_new(out, "reasoning_effort", json_string(effort)) < 0)
        return REQ_OOM(err, errlen);
    return 0;
}

/* Copies req[from] (when set and not null) as out[to]. */
static int req_copy(const json_t *req, const char *from, json_t *out, const char *to, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(req, from);

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_object_set_new(out, to, json_deep_copy(v)) < 0)
        return REQ_OOM(err, errlen);
    return 0;
}

json_t *prov_shape_anthropic_request(const json_t *req, char *err, size_t errlen)
{
    json_t *out = json_object(), *msgs = json_array(), *sys = NULL;
    const json_t *s;

    if (out == NULL || msgs == NULL || json_object_set_new(out, "messages", msgs) < 0) {
        json_decref(msgs);
        REQ_OOM(err, errlen);
        goto fail;
    }
    if (!json_is_object(req)) {
        req_err(err, errlen, "the request must be a JSON object");
        goto fail;
    }
    if (req_copy(req, "model", out, "model", err, errlen) < 0)
        goto fail;
    s = json_object_get(req, "system");
    if (s != NULL && !json_is_null(s)) {
        if (req_texts(s, false, "system", &sys, err, errlen) < 0 ||
            req_push(msgs, "system", "content", sys, err, errlen) < 0)
            goto fail;
    }
    if (req_messages(req, msgs, err, errlen) < 0 ||
        req_copy(req, "max_tokens", out, "max_tokens", err, errlen) < 0 ||
        req_copy(req, "temperature", out, "temperature", err, errlen) < 0 ||
        req_copy(req, "top_p", out, "top_p", err, errlen) < 0 ||
        req_copy(req, "stop_sequences", out, "stop", err, errlen) < 0)
        goto fail;
    if (json_is_true(json_object_get(req, "stream")) &&
        (json_object_set_new(out, "stream", json_true()) < 0 ||
         json_object_set_new(out, "stream_options", json_pack("{s:b}", "include_usage", 1)) < 0)) {
        REQ_OOM(err, errlen);
        goto fail;
    }
    if (req_tools(req, out, err, errlen) < 0 || req_tool_choice(req, out, err, errlen) < 0 ||
        req_thinking(req, out, err, errlen) < 0)
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}
