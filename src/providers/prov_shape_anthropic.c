/*
 * The bridged Anthropic Messages shape, reply side (contract in prov_shape.h; providers.md §14.3,
 * §14.4): the pivot's reply (a chat.completion) becomes the Anthropic message, and its stream
 * chunks become the Anthropic events. Pure functions over JSON text; a stream's state lives in
 * struct prov_shape_stream. The request side is prov_shape_anthropic_req.c.
 */
#include "jwrite.h"
#include "providers/prov_shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    char *s = data != NULL ? jw_dumps(data, NULL) : NULL;
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

/* message.content -> text blocks: a non-empty string, or each non-empty text part of an array. */
static int shape_reply_texts(const json_t *content, json_t *blocks)
{
    const json_t *p, *s;
    size_t i;

    if (json_is_string(content)) {
        s = content;
        return json_string_length(s) == 0
                   ? 0
                   : json_array_append_new(blocks,
                                           json_pack("{s:s, s:O}", "type", "text", "text", s));
    }
    json_array_foreach(content, i, p)
    {
        s = shape_str(p, "text", NULL);
        if (s != NULL && json_string_length(s) > 0 &&
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text", s)) < 0)
            return -1;
    }
    return 0;
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
    size_t i;

    if (r != NULL && json_string_length(r) > 0) {
        sig = shape_str(json_object_get(msg, "extra_content"), "anthropic", "signature");
        if (json_array_append_new(
                content, json_pack("{s:s, s:O, s:s}", "type", "thinking", "thinking", r,
                                   "signature", sig != NULL ? json_string_value(sig) : "")) < 0)
            return -1;
    }
    if (shape_reply_texts(json_object_get(msg, "content"), content) < 0)
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
    if (m == NULL || (*out = jw_dumps(m, out_len)) == NULL)
        goto out;
    rc = 0;
out:
    json_decref(m);
    json_decref(content);
    json_decref(j);
    return rc;
}

const struct prov_shape_ops prov_shape_anthropic = {
    .name = "anthropic",
    .stateful = true,
    .chunk = shape_chunk,
    .finish = shape_finish,
    .fail = shape_fail,
    .reply = shape_reply,
};
