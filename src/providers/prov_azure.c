/*
 * Azure OpenAI (azureopenai, providers.md §3) and Azure AI Inference (azure, §4): the OpenAI
 * wire at Azure's URLs with Azure's credentials. Bodies, replies, stream chunks and error bodies
 * are the OpenAI dialect's (prov_openai.h); only the request line and headers differ.
 *
 * azureopenai: a dated api_version goes on the deployment path
 * {base}/openai/deployments/{model}/chat/completions?api-version=V (the model text is the
 * deployment, escaped as one path segment); "preview" and "latest" go to the v1 path
 * {base}/openai/v1/chat/completions (the deployment is the body's model; ?api-version=preview
 * for preview, nothing for latest). Auth: api-key: K, or Authorization: Bearer <azure_ad_token>.
 *
 * azure: {base}/chat/completions?api-version=V (default 2024-05-01-preview), the key as both
 * Authorization: Bearer K and api-key: K, and extra-parameters: pass-through when the body has
 * members outside the service's schema. stream_options is outside it and never sent (as the
 * reference); the service reports usage on its last chunk by itself.
 *
 * Azure's streams open with a chunk {"id":"","choices":[],"prompt_filter_results":[...]}: no
 * choice, no usage, not even the stream's id. It is dropped (an OpenAI client expects choices:[]
 * only on the usage chunk, and one id per stream) and bills nothing; every other chunk goes
 * through the OpenAI handler (a usage-only chunk is one with a usage object), so
 * finish_reason "content_filter" and content_filter_results are relayed untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_embed.h"
#include "providers/prov_google.h"
#include "providers/prov_openai.h"
#include "providers/prov_pivot.h"
#include "util.h"

/* Whether an azureopenai api_version selects the v1 path. */
static bool az_v1(const char *version)
{
    return strcmp(version, "preview") == 0 || strcmp(version, "latest") == 0;
}

/*
 * The request URL for op ("chat/completions" or "embeddings") into out->url. Returns 0, or -1
 * with the reason in err.
 */
static int az_url(const struct prov_conf *pc, const char *model, const char *op,
                  struct prov_http *out, char *err, size_t errlen)
{
    const char *v = pc->api_version != NULL ? pc->api_version : "preview";
    char *seg = NULL;
    size_t n;

    if (pc->base_url == NULL)
        return prov_no_base_url(pc, err, errlen);
    if (pc->problem != NULL) {
        snprintf(err, errlen, "%s", pc->problem);
        return -1;
    }
    n = strlen(pc->base_url) + strlen(op) + strlen(v) + 64;
    if (pc->info->dialect == PROV_D_AZURE) {
        if ((out->url = malloc(n)) != NULL)
            snprintf(out->url, n, "%s/%s?api-version=%s", pc->base_url, op, v);
    } else if (az_v1(v)) {
        if ((out->url = malloc(n)) != NULL)
            snprintf(out->url, n, "%s/openai/v1/%s%s", pc->base_url, op,
                     strcmp(v, "preview") == 0 ? "?api-version=preview" : "");
    } else if ((seg = prov_google_path_escape(model)) != NULL) {
        n += strlen(seg);
        if ((out->url = malloc(n)) != NULL)
            snprintf(out->url, n, "%s/openai/deployments/%s/%s?api-version=%s", pc->base_url, seg,
                     op, v);
        free(seg);
    }
    if (out->url == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Top-level members of an Azure AI Inference chat request (providers.md §4). */
static bool az_known_member(const char *k)
{
    static const char *const known[] = {
        "messages",    "model",       "stream",     "frequency_penalty", "presence_penalty",
        "temperature", "top_p",       "max_tokens", "response_format",   "stop",
        "tools",       "tool_choice", "seed"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(k, known[i]) == 0)
            return true;
    return false;
}

/* The headers: JSON, Accept, the credential(s), custom headers. Returns 0 or -1 (err set). */
static int az_headers(const struct prov_conf *pc, const char *accept, struct prov_http *out,
                      char *err, size_t errlen)
{
    if (pc->info->dialect == PROV_D_AZURE_OPENAI)
        return prov_http_std(out, pc, accept, pc->ad_token, err, errlen);
    /* azure: Bearer and api-key, since endpoint kinds differ in which one they read. */
    if (prov_http_std(out, pc, accept, pc->api_key, err, errlen) < 0)
        return -1;
    if (pc->api_key != NULL && prov_http_add(out, "api-key", pc->api_key) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The azure chat body: OpenAI's, without stream_options, marking members outside §4's list. */
static int az_inference_body(const struct prov_conf *pc, const struct prov_chat_in *in,
                             bool *client_usage, bool *extra, struct prov_http *out, char *err,
                             size_t errlen)
{
    json_t *req = in->req, *v;
    const char *k;

    *client_usage = prov_pivot_client_usage(req);
    *extra = false;
    if (prov_pivot_kwargs(pc, req, NULL) < 0 ||
        json_object_set_new(req, "model", json_string(in->model)) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_object_del(req, "stream_options");
    json_object_foreach(req, k, v)
    {
        if (!az_known_member(k))
            *extra = true;
    }
    return prov_pivot_body(out, req, err, errlen);
}

static int az_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    bool extra = false;

    *client_usage = false;
    if (az_url(pc, in->model, "chat/completions", out, err, errlen) < 0)
        return -1;
    if (pc->info->dialect == PROV_D_AZURE
            ? az_inference_body(pc, in, client_usage, &extra, out, err, errlen) < 0
            : prov_openai_chat_body(pc, in, client_usage, out, err, errlen) < 0)
        return -1;
    if (az_headers(pc, in->stream ? "text/event-stream" : "application/json", out, err, errlen) < 0)
        return -1;
    if (extra && prov_http_add(out, "extra-parameters", "pass-through") < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int az_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    if (az_url(pc, in->model, "embeddings", out, err, errlen) < 0 ||
        prov_openai_embed_body(in, out, err, errlen) < 0)
        return -1;
    return az_headers(pc, NULL, out, err, errlen);
}

/* Azure's prompt-filter chunk: choices an empty array, no usage (the rest is not looked at). */
static bool az_filter_only(const char *data, size_t len)
{
    static const char key[] = "\"prompt_filter_results\"";
    json_t *j, *choices, *usage;
    bool only;

    /* Only the first chunk of a stream names prompt_filter_results: parse just that one. */
    if (util_memfind(data, len, key, sizeof(key) - 1) == NULL)
        return false;
    j = json_loadb(data, len, 0, NULL);
    choices = json_object_get(j, "choices");
    usage = json_object_get(j, "usage");
    only = json_is_array(choices) && json_array_size(choices) == 0 &&
           (usage == NULL || json_is_null(usage)) && json_object_get(j, "error") == NULL;
    json_decref(j);
    return only;
}

static int az_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    if (az_filter_only(data, len))
        return 0;
    return prov_openai_chat_event(s, event, data, len, emit, arg);
}

const struct prov_dialect_ops prov_dialect_azureopenai = {
    .name = "azureopenai",
    .chat_build = az_chat_build,
    .chat_reply = prov_openai_chat_reply,
    .chat_event = az_chat_event,
    .error_message = prov_openai_error_message,
    .embed_build = az_embed_build,
    .embed_reply = prov_openai_embed_reply,
};

const struct prov_dialect_ops prov_dialect_azure = {
    .name = "azure",
    .chat_build = az_chat_build,
    .chat_reply = prov_openai_chat_reply,
    .chat_event = az_chat_event,
    .error_message = prov_openai_error_message,
    .embed_build = az_embed_build,
    .embed_reply = prov_openai_embed_reply,
};
