/*
 * Fuzz target: the Gemini dialects (src/providers/prov_gemini*.c). The input is read as an
 * upstream alt=sse stream (fed through the gateway's framing, prov_frame, whole and in pieces:
 * every plan must emit the same chunks, each a JSON object with the stream's one id), as a complete
 * reply and an embeddings reply (translated or refused as malformed), as an error body, and as a
 * pivot chat and embeddings request (built, or refused as the client's fault, never with a
 * top-level key Gemini rejects).
 */
/* prov_dialect.c's lookup names the OpenAI table, which the fuzz library leaves to the targets. */
#include "providers/prov_openai.c"

#include <stdbool.h>

#include <jansson.h>

#include "providers/prov_dialect.h"
#include "providers/prov_frame.h"
#include "providers/prov_registry.h"
#include "providers/prov_sse.h"

#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As a pivot request: built, or refused with a reason; only keys Gemini knows at the top. */
static void request(const char *buf, size_t len)
{
    static const char *const known[] = {"contents",   "systemInstruction", "tools",
                                        "toolConfig", "generationConfig",  NULL};
    struct prov_conf pc = {.info = prov_find("gemini"), .base_url = "http://x", .api_key = "k"};
    json_t *b = fz_request(&prov_dialect_gemini, pc, "gemini-2.5-flash", buf, len, known);

    FZ_CHECK(b == NULL || json_array_size(json_object_get(b, "contents")) > 0);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fz_dup(data, size);

    fz_streams(&prov_dialect_gemini, data, size);
    fz_replies(&prov_dialect_gemini, &prov_dialect_vertex, false, buf, size);
    request(buf, size);
    free(buf);
    return 0;
}
