/*
 * Fuzz target: the Bedrock dialect (src/providers/prov_bedrock*.c) as the gateway runs it. The
 * input is read as a converse-stream body (as is and with every message's CRCs recomputed, so
 * mutations reach the event payloads) fed through the gateway's framing (prov_frame, AWS event
 * stream) whole and in pieces: every plan must emit the same chunks, each a JSON object with the
 * stream's one id, and end in the same state. It is also read as a Converse reply, a Titan
 * embeddings reply and an error body, and as a pivot chat and embeddings request (built and
 * signed, or refused as the client's fault, never with a top-level key Converse rejects).
 */
/* prov_dialect.c's lookup names the OpenAI table, which the fuzz library leaves to the targets. */
#include "providers/prov_openai.c"

#include <stdbool.h>

#include <jansson.h>

#include "providers/prov_awsstream.h"
#include "providers/prov_dialect.h"
#include "providers/prov_frame.h"
#include "providers/prov_registry.h"

#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As a pivot request: built and signed, or refused with a reason; only Converse's keys. */
static void request(const char *buf, size_t len)
{
    static const char *const known[] = {
        "messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields",
        NULL};
    struct prov_conf pc = {.info = prov_find("bedrock"),
                           .base_url = "https://bedrock-runtime.us-east-1.amazonaws.com",
                           .aws_access_key = "AKIDEXAMPLE",
                           .aws_secret_key = "secret",
                           .region = "us-east-1"};

    json_decref(fz_request(&prov_dialect_bedrock, pc, "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                           buf, len, known));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fz_dup(data, size);
    uint8_t *fixed = (uint8_t *)fz_dup(data, size);

    fz_streams(&prov_dialect_bedrock, data, size);
    fz_aws_fix_crcs(fixed, size);
    fz_streams(&prov_dialect_bedrock, fixed, size);
    fz_replies(&prov_dialect_bedrock, &prov_dialect_bedrock, true, buf, size);
    request(buf, size);
    free(fixed);
    free(buf);
    return 0;
}
