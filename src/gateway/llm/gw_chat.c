/*
 * POST /v1/chat/completions (spec §1.3): validation, authentication, user resolution, model
 * routing and budget admission, then the upstream call (gw_call.c). Unknown request fields are
 * kept in the body and reach the provider (DESIGN.md §2.1).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "gateway/llm/gw_admit.h"
#include "gateway/llm/gw_call.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"

/* The request fields the gateway itself reads (spec §1.3); everything else passes through. */
static const struct gw_field gw_chat_fields[] = {
    {"model", GW_F_STR, GW_F_REQUIRED, 0},
    {"messages", GW_F_OBJLIST, GW_F_REQUIRED, 0},
    {"user", GW_F_STR, GW_F_NULLABLE, 0},
    {"temperature", GW_F_NUM, GW_F_NULLABLE, 0},
    {"max_tokens", GW_F_INT, GW_F_NULLABLE, 0},
    {"max_completion_tokens", GW_F_INT, GW_F_NULLABLE, 0},
    {"top_p", GW_F_NUM, GW_F_NULLABLE, 0},
    {"stream", GW_F_BOOL, 0, 0},
    {"stream_options", GW_F_OBJ, GW_F_NULLABLE, 0},
    {"tools", GW_F_OBJLIST, GW_F_NULLABLE, 0},
    {"tool_choice", GW_F_STROBJ, GW_F_NULLABLE, 0},
    {"response_format", GW_F_OBJ, GW_F_NULLABLE, 0},
};

/* messages: at least one, each with a "role" (the reference's own validator). */
static bool gw_chat_valid_messages(struct gw_req *r, json_t *messages)
{
    json_t *m;
    size_t i;
    char msg[96];

    if (!gw_valid_nonempty(r, messages, "messages"))
        return false;
    json_array_foreach(messages, i, m)
    {
        if (json_object_get(m, "role") == NULL) {
            snprintf(msg, sizeof(msg), "Value error, messages[%zu]: 'role' is required", i);
            gw_valid_reply_one(r, "value_error", "body", "messages", msg, json_incref(messages),
                               json_pack("{s:{}}", "error"));
            return false;
        }
    }
    return true;
}

void gw_chat_completions(struct gw_req *r, const struct gw_params *p)
{
    struct gw_admit a = {0};
    struct gw_call_spec spec = {0};
    struct gw_fail f;
    json_t *body = NULL;

    (void)p;
    if (!gw_admit_caller(r, &a))
        goto out;
    if (!gw_valid_body_json(r, &body))
        goto out;
    if (!gw_valid_fields(r, body, gw_chat_fields,
                         sizeof(gw_chat_fields) / sizeof(gw_chat_fields[0])) ||
        !gw_chat_valid_messages(r, json_object_get(body, "messages")))
        goto out;
    if (!gw_admit_run(r, &a, json_string_value(json_object_get(body, "model")),
                      json_string_value(json_object_get(body, "user")), "'user' field", body, &f)) {
        gw_admit_reply(r, &f);
        goto out;
    }
    /* Every registry row has a dialect (the dialect suite checks it): only its capabilities. */
    spec.dialect = prov_dialect_get(a.info->dialect);
    if (spec.dialect == NULL || !(prov_caps(a.info) & PROV_CAP_CHAT)) {
        gw_admit_abort(r, &a);
        gw_reply_errorf(r, 400, "chat_not_supported",
                        "Provider '%s' does not support chat completions", a.info->id);
        goto out;
    }
    gw_call_spec_admitted(&spec, &a, "/v1/chat/completions");
    spec.body = body;
    spec.raw = gw_valid_body_raw(r, &spec.raw_len);
    spec.stream = json_is_true(json_object_get(body, "stream"));
    gw_call_start(r, &spec);
out:
    gw_admit_release(&a);
    json_decref(body);
}
