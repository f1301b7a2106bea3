/*
 * The Bedrock dialect table (providers.md §7.1): the Converse, ConverseStream and Titan
 * InvokeModel calls at {base}/model/{model id}/..., authenticated by a Bedrock API key or an AWS
 * Signature Version 4 (prov_aws.h). The bodies and replies are prov_bedrock.c and
 * prov_bedrock_req.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_aws.h"
#include "providers/prov_bedrock.h"
#include "providers/prov_pivot.h"

/*
 * out gets the URL base + path, the JSON headers (Accept: accept), the custom headers, then the
 * credential over the finished request. body (owned) becomes out's body. Returns 0 or -1.
 */
static int br_send(const struct prov_conf *pc, const char *path, const char *accept, char *body,
                   size_t len, struct prov_http *out, char *err, size_t errlen)
{
    out->body = body;
    out->body_len = len;
    if (prov_pivot_http(pc, path, accept, out, err, errlen) < 0)
        return -1;
    return prov_aws_auth(pc, "bedrock", true, out, err, errlen);
}

static int br_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    char path[1024], *body;
    size_t len;
    int rc;

    *client_usage = prov_pivot_client_usage(in->req);
    if (prov_bedrock_path(in->model, in->stream, path, sizeof(path)) < 0) {
        snprintf(err, errlen, "the model id is too long for Bedrock");
        return PROV_E_REQUEST;
    }
    if ((rc = prov_bedrock_build_body(pc, in, &body, &len, err, errlen)) != 0)
        return rc;
    return br_send(pc, path, in->stream ? "application/vnd.amazon.eventstream" : "application/json",
                   body, len, out, err, errlen);
}

static int br_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    char path[1024], *body;
    size_t len;
    int rc;

    if (prov_bedrock_invoke_path(in->model, path, sizeof(path)) < 0) {
        snprintf(err, errlen, "the model id is too long for Bedrock");
        return PROV_E_REQUEST;
    }
    if ((rc = prov_bedrock_embed_body(in, &body, &len, err, errlen)) != 0)
        return rc;
    return br_send(pc, path, "application/json", body, len, out, err, errlen);
}

static void br_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    prov_bedrock_error_message(body, len, NULL, out, outlen, code, codelen);
}

const struct prov_dialect_ops prov_dialect_bedrock = {
    .name = "bedrock",
    .framing = PROV_FRAME_AWS,
    .chat_build = br_chat_build,
    .chat_reply = prov_bedrock_reply,
    .chat_event = prov_bedrock_event,
    .error_message = br_error_message,
    .error_status = prov_bedrock_status,
    .embed_build = br_embed_build,
    .embed_reply = prov_bedrock_embed_reply,
};
