/*
 * POST /v1/embeddings (spec §1.5 with providers.md §13): validation, the shared admission step
 * (nothing is generated: only the input is reserved), then one upstream call through the
 * provider's embeddings dialect. The reply is in the encoding the client asked for: float
 * arrays, or base64 (what the official OpenAI SDKs ask for by default), converted here when the
 * provider only gives floats. "user" is never forwarded.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "gateway/llm/gw_admit.h"
#include "gateway/llm/gw_call.h"
#include "providers/prov_dialect.h"
#include "providers/prov_embed.h"
#include "providers/prov_registry.h"

#define GW_EMB_MAX_INPUTS 2048 /* items of "input" (OpenAI's own limit) */

static const struct gw_field gw_emb_fields[] = {
    {"model", GW_F_STR, GW_F_REQUIRED, 0},
    {"user", GW_F_STR, GW_F_NULLABLE, 0},
    {"encoding_format", GW_F_STR, GW_F_NULLABLE, 0},
    {"dimensions", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0},
};

/* A token array: integers >= 0. */
static bool gw_emb_tokens(const json_t *a)
{
    const json_t *t;
    size_t i;

    if (!json_is_array(a) || json_array_size(a) == 0)
        return false;
    json_array_foreach(a, i, t)
    {
        if (!json_is_integer(t) || json_integer_value(t) < 0)
            return false;
    }
    return true;
}

/*
 * "input": a string, an array of strings, a token array, or an array of token arrays (at most
 * GW_EMB_MAX_INPUTS items, none empty). Adds the bytes of text (4 per token) to *bytes. Returns
 * NULL, or what is wrong.
 */
static const char *gw_emb_input(const json_t *in, size_t *bytes)
{
    const json_t *v;
    size_t i;

    *bytes = 0;
    if (json_is_string(in)) {
        *bytes = json_string_length(in);
        return *bytes > 0 ? NULL : "'input' must not be empty";
    }
    if (!json_is_array(in) || json_array_size(in) == 0)
        return "'input' must be a string, an array of strings or an array of token arrays";
    if (json_array_size(in) > GW_EMB_MAX_INPUTS)
        return "'input' has more than 2048 items";
    if (gw_emb_tokens(in)) {
        *bytes = 4 * json_array_size(in);
        return NULL;
    }
    json_array_foreach(in, i, v)
    {
        if (json_is_string(v) && json_string_length(v) > 0)
            *bytes += json_string_length(v);
        else if (gw_emb_tokens(v))
            *bytes += 4 * json_array_size(v);
        else
            return "'input' items must be non-empty strings or token arrays";
    }
    return NULL;
}

void gw_embeddings(struct gw_req *r, const struct gw_params *p)
{
    struct gw_admit a = {0};
    struct gw_call_spec spec = {0};
    struct gw_fail f;
    json_t *body = NULL, *in;
    const char *bad, *enc;
    size_t bytes;

    (void)p;
    if (!gw_admit_caller(r, &a))
        goto out;
    if (!gw_valid_body_json(r, &body))
        goto out;
    if (!gw_valid_fields(r, body, gw_emb_fields, sizeof(gw_emb_fields) / sizeof(gw_emb_fields[0])))
        goto out;
    in = json_object_get(body, "input");
    if (in == NULL) {
        gw_valid_reply_one(r, "missing", "body", "input", "Field required", NULL, NULL);
        goto out;
    }
    if ((bad = gw_emb_input(in, &bytes)) != NULL) {
        gw_reply_error(r, 400, "invalid_input", bad);
        goto out;
    }
    enc = json_string_value(json_object_get(body, "encoding_format"));
    if (enc != NULL && strcmp(enc, "float") != 0 && strcmp(enc, "base64") != 0) {
        gw_reply_errorf(r, 400, "invalid_encoding_format",
                        "'encoding_format' must be \"float\" or \"base64\", got \"%.32s\"", enc);
        goto out;
    }
    a.est.prompt_bytes = bytes;
    a.est.message_bytes = bytes;
    a.est.no_output = true;
    if (!gw_admit_run(r, &a, json_string_value(json_object_get(body, "model")),
                      json_string_value(json_object_get(body, "user")), "'user' field", NULL, &f)) {
        gw_admit_reply(r, &f);
        goto out;
    }
    spec.dialect = prov_dialect_get(a.info->dialect);
    if (!(prov_caps(a.info) & PROV_CAP_EMBED) || spec.dialect == NULL ||
        spec.dialect->embed_build == NULL) {
        gw_admit_abort(r, &a);
        gw_reply_errorf(r, 400, "embeddings_not_supported",
                        "Provider '%s' does not support embeddings", a.info->id);
        goto out;
    }
    gw_call_spec_admitted(&spec, &a, "/v1/embeddings");
    spec.embed = true;
    spec.shape = enc != NULL && strcmp(enc, "base64") == 0 ? &prov_shape_embed_base64
                                                           : &prov_shape_embed_float;
    spec.body = body;
    gw_call_start(r, &spec);
out:
    gw_admit_release(&a);
    json_decref(body);
}
