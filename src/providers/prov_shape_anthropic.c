/*
 * The bridged Anthropic Messages shape (contract in prov_shape.h; providers.md §14.2-§14.4): a
 * client's Anthropic request becomes a pivot (OpenAI chat) request, and the pivot's reply or
 * stream chunks become the Anthropic message or events. Pure functions over JSON text; a
 * stream's state lives in struct prov_shape_stream.
 */
#include "providers/prov_shape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Request: Anthropic -> pivot (§14.2) ------------------------------------------------- */

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
            args = input != NULL ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
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

/* ---- Replies and streams: pivot -> Anthropic (§14.3, §14.4) ------------------------------ */

#define SHAPE_W(w, arg, lit) (w)((lit), sizeof(lit) - 1, (arg))
#define SHAPE_NO_ID "msg_bridged" /* when the provider's reply or chunk has no id */

/* The Anthropic stop_reason of an OpenAI finish_reason (NULL: none came). */
static const char *shape_stop_reason(const char *finish)
{
    if (finish == NULL)
        return "end_turn";
    if (strcmp(finish, "length") == 0)
        return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
        return "tool_use";
    return "end_turn"; /* stop; content_filter (a real Anthropic reply would say refusal) */
}

/* Copies s into dst (size n > 0), cut at a UTF-8 character boundary. */
static void shape_copy(char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);

    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Anthropic usage: input = prompt - cached, cache read = cached (omitted when 0), output. */
static json_t *shape_usage(long prompt, long completion, long cached)
{
    json_t *u;

    if (prompt < 0)
        prompt = 0;
    if (cached > prompt)
        cached = prompt;
    if (cached < 0)
        cached = 0;
    u = json_pack("{s:I, s:I}", "input_tokens", (json_int_t)(prompt - cached), "output_tokens",
                  (json_int_t)(completion > 0 ? completion : 0));
    if (u != NULL && cached > 0 &&
        json_object_set_new(u, "cache_read_input_tokens", json_integer(cached)) < 0) {
        json_decref(u);
        return NULL;
    }
    return u;
}

/* The first string of obj.k1.k2 ("k2" NULL: obj.k1) when it is one, else NULL. */
static const json_t *shape_str(const json_t *obj, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(obj, k1);

    if (k2 != NULL)
        v = json_object_get(v, k2);
    return json_is_string(v) ? v : NULL;
}

/* Reasoning text of a message or delta: reasoning.content, reasoning, or reasoning_content. */
static const json_t *shape_reasoning(const json_t *m)
{
    const json_t *r = shape_str(m, "reasoning", "content");

    if (r == NULL)
        r = shape_str(m, "reasoning", NULL);
    if (r == NULL)
        r = shape_str(m, "reasoning_content", NULL);
    return r;
}

/* Writes "event: <type>\ndata: <json>\n\n"; data is stolen (NULL: out of memory). */
static int shape_event(prov_write_fn *w, void *arg, const char *type, json_t *data)
{
    char *s = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
    int rc = -1;

    json_decref(data);
    if (s != NULL && SHAPE_W(w, arg, "event: ") == 0 && w(type, strlen(type), arg) == 0 &&
        SHAPE_W(w, arg, "\ndata: ") == 0 && w(s, strlen(s), arg) == 0 &&
        SHAPE_W(w, arg, "\n\n") == 0)
        rc = 0;
    free(s);
    return rc;
}

static int shape_start(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    json_t *u;

    if (st->started)
        return 0;
    st->started = true;
    u = shape_usage(st->prompt_tokens, 0, st->cached_tokens);
    if (u != NULL)
        (void)json_object_del(u, "cache_read_input_tokens");
    return shape_event(w, arg, "message_start",
                       json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:s, s:n, s:n, s:o}}", "type",
                                 "message_start", "message", "id",
                                 st->id[0] != '\0' ? st->id : SHAPE_NO_ID, "type", "message",
                                 "role", "assistant", "content", "model", st->model, "stop_reason",
                                 "stop_sequence", "usage", u));
}

static int shape_block_stop(int index, prov_write_fn *w, void *arg)
{
    return shape_event(w, arg, "content_block_stop",
                       json_pack("{s:s, s:i}", "type", "content_block_stop", "index", index));
}

/* Closes the open text/thinking block, if any. */
static int shape_close_cur(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    if (st->cur == PROV_BLOCK_NONE)
        return 0;
    st->cur = PROV_BLOCK_NONE;
    return shape_block_stop(st->cur_index, w, arg);
}

/* Closes every open block in ascending index order (a text block and tool blocks are never open
 * together: opening one kind closes the other). */
static int shape_close_all(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    int i, t;

    if (shape_close_cur(st, w, arg) < 0)
        return -1;
    for (i = 0; i < st->nopen; i++) {
        t = st->open_tools[i];
        st->tool_open[t] = false;
        if (shape_block_stop(st->tool_block[t] - 1, w, arg) < 0)
            return -1;
    }
    st->nopen = 0;
    return 0;
}

/* Opens the next block with content_block (stolen); returns its index or -1. */
static int shape_open(struct prov_shape_stream *st, json_t *content_block, prov_write_fn *w,
                      void *arg)
{
    int index = st->next_block++;

    st->any_block = true;
    if (shape_event(w, arg, "content_block_start",
                    json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", index,
                              "content_block", content_block)) < 0)
        return -1;
    return index;
}

/* A text or thinking delta: its block is opened first when it is not the current one. */
static int shape_text(struct prov_shape_stream *st, enum prov_shape_block kind, const json_t *s,
                      prov_write_fn *w, void *arg)
{
    const char *key = kind == PROV_BLOCK_TEXT ? "text" : "thinking";
    int index;

    if (st->cur != kind) {
        if (shape_close_all(st, w, arg) < 0 ||
            (index = shape_open(st, json_pack("{s:s, s:s}", "type", key, key, ""), w, arg)) < 0)
            return -1;
        st->cur = kind;
        st->cur_index = index;
    }
    return shape_event(w, arg, "content_block_delta",
                       json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta",
                                 "index", st->cur_index, "delta", "type",
                                 kind == PROV_BLOCK_TEXT ? "text_delta" : "thinking_delta", key,
                                 json_string_value(s), json_string_length(s)));
}

/* One delta.tool_calls[] entry at position pos. */
static int shape_tool(struct prov_shape_stream *st, const json_t *tc, size_t pos, prov_write_fn *w,
                      void *arg)
{
    const json_t *fn = json_object_get(tc, "function"), *ix = json_object_get(tc, "index");
    const json_t *args = shape_str(fn, "arguments", NULL);
    json_int_t t = json_is_integer(ix) ? json_integer_value(ix) : (json_int_t)pos;
    const char *id, *name;
    char synth[32];
    int index;

    if (t < 0 || t >= PROV_SHAPE_MAX_TOOLS)
        return -1; /* more tool calls than tracked: the stream cannot be translated */
    if (st->tool_block[t] == 0) {
        id = json_string_value(json_object_get(tc, "id"));
        name = json_string_value(json_object_get(fn, "name"));
        if (id == NULL) {
            snprintf(synth, sizeof(synth), "call_%d", (int)t);
            id = synth;
        }
        if (shape_close_cur(st, w, arg) < 0 ||
            (index = shape_open(st,
                                json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id", id,
                                          "name", name != NULL ? name : "", "input"),
                                w, arg)) < 0)
            return -1;
        st->tool_block[t] = index + 1;
        st->tool_open[t] = true;
        st->open_tools[st->nopen++] = (int)t;
    }
    /* Fragments for a block closed by later text are dropped (the client saw it end). */
    if (args == NULL || json_string_length(args) == 0 || !st->tool_open[t])
        return 0;
    return shape_event(w, arg, "content_block_delta",
                       json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta",
                                 "index", st->tool_block[t] - 1, "delta", "type",
                                 "input_json_delta", "partial_json", json_string_value(args),
                                 json_string_length(args)));
}

static int shape_delta(struct prov_shape_stream *st, const json_t *d, prov_write_fn *w, void *arg)
{
    const json_t *r = shape_reasoning(d), *c = shape_str(d, "content", NULL), *tc;
    const json_t *calls = json_object_get(d, "tool_calls");
    size_t i;

    if (r != NULL && json_string_length(r) > 0 &&
        shape_text(st, PROV_BLOCK_THINKING, r, w, arg) < 0)
        return -1;
    /* An empty content opens nothing: a message that ends without any block gets one empty
     * text block at the end, so a role chunk never opens an empty block ahead of reasoning. */
    if (c != NULL && json_string_length(c) > 0 && shape_text(st, PROV_BLOCK_TEXT, c, w, arg) < 0)
        return -1;
    json_array_foreach(calls, i, tc)
    {
        if (json_is_object(tc) && shape_tool(st, tc, i, w, arg) < 0)
            return -1;
    }
    return 0;
}

/* Keeps the non-zero usage values of a chunk. */
static void shape_take_usage(struct prov_shape_stream *st, const json_t *u)
{
    json_int_t v;

    if (!json_is_object(u))
        return;
    if ((v = json_integer_value(json_object_get(u, "prompt_tokens"))) != 0)
        st->prompt_tokens = (long)v;
    if ((v = json_integer_value(json_object_get(u, "completion_tokens"))) != 0)
        st->completion_tokens = (long)v;
    v = json_integer_value(
        json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    if (v != 0)
        st->cached_tokens = (long)v;
}

static int shape_chunk(struct prov_shape_stream *st, const char *event, const char *data,
                       size_t len, prov_write_fn *w, void *arg)
{
    json_t *j;
    const json_t *c, *d;
    const char *s;
    int rc = -1;

    if (event != NULL)
        return -1; /* a native event: this shape reads pivot chunks only */
    j = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j))
        goto out;
    shape_take_usage(st, json_object_get(j, "usage"));
    if (!st->started) {
        if ((s = json_string_value(json_object_get(j, "id"))) != NULL)
            shape_copy(st->id, sizeof(st->id), s);
        if ((s = json_string_value(json_object_get(j, "model"))) != NULL)
            shape_copy(st->model, sizeof(st->model), s);
        if (shape_start(st, w, arg) < 0)
            goto out;
    }
    c = json_array_get(json_object_get(j, "choices"), 0); /* a usage-only chunk has none */
    if (json_is_object(c)) {
        d = json_object_get(c, "delta");
        if (json_is_object(d) && shape_delta(st, d, w, arg) < 0)
            goto out;
        s = json_string_value(json_object_get(c, "finish_reason"));
        if (s != NULL) {
            if (shape_close_all(st, w, arg) < 0)
                goto out;
            shape_copy(st->stop_reason, sizeof(st->stop_reason), shape_stop_reason(s));
        }
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* message_delta with the stop reason (NULL: a failed stream) and the usage so far. */
static int shape_message_delta(struct prov_shape_stream *st, const char *reason, prov_write_fn *w,
                               void *arg)
{
    json_t *u = shape_usage(st->prompt_tokens, st->completion_tokens, st->cached_tokens);

    return shape_event(w, arg, "message_delta",
                       json_pack("{s:s, s:{s:o, s:n}, s:o}", "type", "message_delta", "delta",
                                 "stop_reason", reason != NULL ? json_string(reason) : json_null(),
                                 "stop_sequence", "usage", u));
}

static int shape_finish(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    int index;

    if (shape_start(st, w, arg) < 0 || shape_close_all(st, w, arg) < 0)
        return -1;
    if (!st->any_block) {
        index = shape_open(st, json_pack("{s:s, s:s}", "type", "text", "text", ""), w, arg);
        if (index < 0 || shape_block_stop(index, w, arg) < 0)
            return -1;
    }
    if (shape_message_delta(st, st->stop_reason[0] != '\0' ? st->stop_reason : "end_turn", w, arg) <
        0)
        return -1;
    return shape_event(w, arg, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* §14.4 item 8: the usage so far with no stop reason, then the error event; no message_stop. */
static int shape_fail(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    if (shape_start(st, w, arg) < 0 || shape_close_all(st, w, arg) < 0 ||
        shape_message_delta(st, NULL, w, arg) < 0)
        return -1;
    return SHAPE_W(w, arg,
                   "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                   "\"message\":\"An error occurred during streaming\"}}\n\n");
}

/* message.content as text: a string, or the text parts of an array, concatenated. */
static json_t *shape_reply_text(const json_t *content)
{
    struct sbuf t = {0};
    const json_t *p, *s;
    size_t i;

    if (json_is_string(content))
        return json_deep_copy(content);
    json_array_foreach(content, i, p)
    {
        s = shape_str(p, "text", NULL);
        if (s != NULL && sbuf_add(&t, json_string_value(s), json_string_length(s)) < 0) {
            free(t.p);
            return NULL;
        }
    }
    return sbuf_take(&t);
}

/* One tool call -> a tool_use block (arguments parsed; unparsable or not an object -> {}). */
static json_t *shape_reply_tool(const json_t *tc, size_t i)
{
    const json_t *fn = json_object_get(tc, "function"), *a = json_object_get(fn, "arguments");
    const char *id = json_string_value(json_object_get(tc, "id"));
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_t *input = NULL;
    char synth[32];

    if (json_is_string(a))
        input = json_loadb(json_string_value(a), json_string_length(a), 0, NULL);
    else if (json_is_object(a))
        input = json_deep_copy(a);
    if (!json_is_object(input)) {
        json_decref(input);
        input = json_object();
    }
    if (id == NULL) {
        snprintf(synth, sizeof(synth), "call_%zu", i);
        id = synth;
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id, "name",
                     name != NULL ? name : "", "input", input);
}

static int shape_reply_blocks(const json_t *msg, json_t *content)
{
    const json_t *r = shape_reasoning(msg), *sig, *tc;
    json_t *text;
    size_t i;
    int rc = 0;

    if (r != NULL && json_string_length(r) > 0) {
        sig = shape_str(json_object_get(msg, "extra_content"), "anthropic", "signature");
        if (json_array_append_new(
                content, json_pack("{s:s, s:O, s:s}", "type", "thinking", "thinking", r,
                                   "signature", sig != NULL ? json_string_value(sig) : "")) < 0)
            return -1;
    }
    text = shape_reply_text(json_object_get(msg, "content"));
    if (text == NULL)
        return -1;
    if (json_string_length(text) > 0)
        rc = json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", text));
    json_decref(text);
    if (rc < 0)
        return -1;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, tc)
    {
        if (json_is_object(tc) && json_array_append_new(content, shape_reply_tool(tc, i)) < 0)
            return -1;
    }
    if (json_array_size(content) == 0 &&
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", "")) < 0)
        return -1;
    return 0;
}

static int shape_reply(const char *body, size_t len, char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, NULL), *content = NULL, *m = NULL;
    const json_t *c, *msg, *u, *d;
    const char *id, *model;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    c = json_array_get(json_object_get(j, "choices"), 0);
    msg = json_object_get(c, "message");
    if (!json_is_object(j) || !json_is_object(msg))
        goto out;
    if ((content = json_array()) == NULL || shape_reply_blocks(msg, content) < 0)
        goto out;
    u = json_object_get(j, "usage");
    d = json_object_get(u, "prompt_tokens_details");
    id = json_string_value(json_object_get(j, "id"));
    model = json_string_value(json_object_get(j, "model"));
    m = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:n, s:o}", "id", id != NULL ? id : SHAPE_NO_ID,
                  "type", "message", "role", "assistant", "model", model != NULL ? model : "",
                  "content", content, "stop_reason",
                  shape_stop_reason(json_string_value(json_object_get(c, "finish_reason"))),
                  "stop_sequence", "usage",
                  shape_usage((long)json_integer_value(json_object_get(u, "prompt_tokens")),
                              (long)json_integer_value(json_object_get(u, "completion_tokens")),
                              (long)json_integer_value(json_object_get(d, "cached_tokens"))));
    if (m == NULL || (*out = json_dumps(m, JSON_COMPACT)) == NULL)
        goto out;
    *out_len = strlen(*out);
    rc = 0;
out:
    json_decref(m);
    json_decref(content);
    json_decref(j);
    return rc;
}

const struct prov_shape_ops prov_shape_anthropic = {
    .name = "anthropic",
    .chunk = shape_chunk,
    .finish = shape_finish,
    .fail = shape_fail,
    .reply = shape_reply,
};
