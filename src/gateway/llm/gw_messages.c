/*
 * POST /v1/messages (Anthropic Messages in, spec §1.4 with providers.md §14) for every provider
 * with chat: validation, the shared admission step, then one upstream call. A provider whose own
 * wire is the Messages API gets the client's request natively (model and credentials replaced,
 * reply and events relayed); any other is bridged through the pivot (Anthropic request -> OpenAI
 * chat -> the provider's dialect -> Anthropic reply or events). Errors are in Anthropic's shape
 * (gw_req.err_anthropic).
 */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "gateway/llm/gw_admit.h"
#include "gateway/llm/gw_call.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "providers/prov_shape.h"

#define GW_MSG_MAX_HEADER 512 /* bytes of an anthropic-version / anthropic-beta value relayed */

/* The request fields the gateway itself reads (spec §1.4); others reach a native provider. */
static const struct gw_field gw_msg_fields[] = {
    {"model", GW_F_STR, GW_F_REQUIRED, 0},
    {"messages", GW_F_OBJLIST, GW_F_REQUIRED, 0},
    {"max_tokens", GW_F_INT, GW_F_REQUIRED, 0},
    {"temperature", GW_F_NUM, GW_F_NULLABLE, 0},
    {"top_p", GW_F_NUM, GW_F_NULLABLE, 0},
    {"top_k", GW_F_INT, GW_F_NULLABLE, 0},
    {"stream", GW_F_BOOL, 0, 0},
    {"tools", GW_F_OBJLIST, GW_F_NULLABLE, 0},
    {"tool_choice", GW_F_OBJ, GW_F_NULLABLE, 0},
    {"metadata", GW_F_OBJ, GW_F_NULLABLE, 0},
    {"thinking", GW_F_OBJ, GW_F_NULLABLE, 0},
};

/*
 * metadata.user_id as text (the reference converts it with str()): a string as is, an integer in
 * decimal; anything else counts as absent.
 */
static const char *gw_msg_user(json_t *body, char *buf, size_t len)
{
    json_t *u = json_object_get(json_object_get(body, "metadata"), "user_id");

    if (json_is_string(u))
        return json_string_value(u);
    if (json_is_integer(u)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(u));
        return buf;
    }
    return NULL;
}

/* A client header a native provider gets: printable, bounded, else not relayed. */
static const char *gw_msg_header(struct gw_req *r, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
    size_t n;

    if (v == NULL)
        return NULL;
    for (n = 0; v[n] != '\0'; n++)
        if ((unsigned char)v[n] < 0x20 || v[n] == 0x7f || n >= GW_MSG_MAX_HEADER)
            return NULL;
    return n > 0 ? v : NULL;
}

void gw_messages(struct gw_req *r, const struct gw_params *p)
{
    struct gw_admit a = {0};
    struct gw_call_spec spec = {0};
    struct gw_fail f;
    const struct prov_dialect_ops *native;
    json_t *body = NULL, *pivot = NULL;
    char err[256], ubuf[32];

    (void)p;
    if (!gw_admit_caller(r, &a))
        goto out;
    if (!gw_valid_body_json(r, &body))
        goto out;
    if (!gw_valid_fields(r, body, gw_msg_fields,
                         sizeof(gw_msg_fields) / sizeof(gw_msg_fields[0])) ||
        !gw_valid_nonempty(r, json_object_get(body, "messages"), "messages"))
        goto out;
    /* The pivot form: what a bridged provider gets, and what the reservation is estimated on. */
    if ((pivot = prov_shape_anthropic_request(body, err, sizeof(err))) == NULL) {
        gw_reply_error(r, 400, "invalid_request", err);
        goto out;
    }
    if (!gw_admit_run(r, &a, json_string_value(json_object_get(body, "model")),
                      gw_msg_user(body, ubuf, sizeof(ubuf)), "'metadata.user_id'", pivot, &f)) {
        gw_admit_reply(r, &f);
        goto out;
    }
    spec.stream = json_is_true(json_object_get(body, "stream"));
    native = prov_caps(a.info) & PROV_CAP_MESSAGES_NATIVE
                 ? prov_dialect_native_messages(a.info->dialect)
                 : NULL;
    if (native != NULL) {
        spec.dialect = native;
        spec.shape = &prov_shape_anthropic_native;
        spec.body = body;
        spec.raw = gw_valid_body_raw(r, &spec.raw_len);
        spec.anthropic_version = gw_msg_header(r, "anthropic-version");
        spec.anthropic_beta = gw_msg_header(r, "anthropic-beta");
    } else if ((spec.dialect = prov_dialect_get(a.info->dialect)) != NULL &&
               (prov_caps(a.info) & PROV_CAP_CHAT)) {
        spec.shape = &prov_shape_anthropic;
        spec.body = pivot;
    } else {
        gw_admit_abort(r, &a);
        gw_reply_errorf(r, 400, "chat_not_supported", "Provider '%s' does not support messages",
                        a.info->id);
        goto out;
    }
    gw_call_spec_admitted(&spec, &a, "/v1/messages");
    gw_call_start(r, &spec);
out:
    gw_admit_release(&a);
    json_decref(pivot);
    json_decref(body);
}
