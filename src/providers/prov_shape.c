/*
 * The pass-through client shapes (contract in prov_shape.h): OpenAI chat, and Anthropic Messages
 * relayed from a native table. The bridged Anthropic shape is prov_shape_anthropic.c.
 */
#include "providers/prov_shape.h"

#include <string.h>

#define PROV_W(w, arg, lit) (w)((lit), sizeof(lit) - 1, (arg))

/* ---- OpenAI chat: "data: <chunk>" events, "data: [DONE]" at the end ---------------------- */

static int shape_openai_chunk(struct prov_shape_stream *st, const char *event, const char *data,
                              size_t len, prov_write_fn *w, void *arg)
{
    (void)st;
    (void)event; /* the OpenAI dialect's chunks are the client's events */
    if (PROV_W(w, arg, "data: ") < 0 || w(data, len, arg) < 0 || PROV_W(w, arg, "\n\n") < 0)
        return -1;
    return 0;
}

static int shape_openai_finish(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    (void)st;
    return PROV_W(w, arg, "data: [DONE]\n\n");
}

/* The reference's mid-stream error event (spec §1.3 step 11), then the end marker. */
static int shape_openai_fail(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    (void)st;
    if (PROV_W(w, arg,
               "data: {\"error\":{\"message\":\"An error occurred during streaming\","
               "\"type\":\"server_error\"}}\n\n") < 0)
        return -1;
    return PROV_W(w, arg, "data: [DONE]\n\n");
}

/* The dialect's reply is already a chat.completion: relayed as it is. */
static int shape_relay_reply(const char *body, size_t len, char **out, size_t *out_len)
{
    (void)body;
    (void)len;
    *out = NULL;
    *out_len = 0;
    return 0;
}

const struct prov_shape_ops prov_shape_openai = {
    .name = "openai",
    .chunk = shape_openai_chunk,
    .finish = shape_openai_finish,
    .fail = shape_openai_fail,
    .reply = shape_relay_reply,
};

/* ---- Anthropic Messages relayed from a native table ---------------------------------------- */

static int shape_native_chunk(struct prov_shape_stream *st, const char *event, const char *data,
                              size_t len, prov_write_fn *w, void *arg)
{
    (void)st;
    if (event == NULL)
        return -1; /* a pivot chunk: this shape only relays native events */
    if (PROV_W(w, arg, "event: ") < 0 || w(event, strlen(event), arg) < 0 ||
        PROV_W(w, arg, "\ndata: ") < 0 || w(data, len, arg) < 0 || PROV_W(w, arg, "\n\n") < 0)
        return -1;
    return 0;
}

/* The provider's own message_stop was relayed: nothing to add. */
static int shape_native_finish(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    (void)st;
    (void)w;
    (void)arg;
    return 0;
}

static int shape_native_fail(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    (void)st;
    return PROV_W(w, arg,
                  "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                  "\"message\":\"An error occurred during streaming\"}}\n\n");
}

const struct prov_shape_ops prov_shape_anthropic_native = {
    .name = "anthropic-native",
    .chunk = shape_native_chunk,
    .finish = shape_native_finish,
    .fail = shape_native_fail,
    .reply = shape_relay_reply,
};

const char *prov_shape_anthropic_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}
