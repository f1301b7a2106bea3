/*
 * fake-upstream, Voyage embeddings (POST .../v1/embeddings with a voy-* model; providers.md §12):
 * the voy-* scenarios listed in t_fake.h. Voyage shares the OpenAI path, so fake_embeddings
 * (fake_openai.c) hands these models over by name. Like the real API it wants
 * Authorization: Bearer and answers errors as {"detail": M}.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

static void voy_error(struct evhttp_request *req, int status, json_t *detail)
{
    json_t *doc = detail != NULL ? json_pack("{s:O}", "detail", detail) : NULL;

    json_decref(detail);
    fake_reply_json(req, status, doc);
}

/* The inputs: a string is one, an array of strings one each; 0 otherwise. */
static size_t voy_count(json_t *input)
{
    size_t i;
    json_t *v;

    if (json_is_string(input))
        return 1;
    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v))
            return 0;
    }
    return json_array_size(input);
}

/*
 * voy-status-<code>: that status with {"detail": "fake voyage error <code>"}. Any other voy-*
 * name: one vector [0.5+i, -1.0, 0.25] per input (base64 of float32 when encoding_format is
 * "base64", as Voyage does), usage {"total_tokens": 4 per input}.
 */
void fake_voyage(struct evhttp_request *req, json_t *body)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    const char *format = json_string_value(json_object_get(body, "encoding_format"));
    bool b64 = format != NULL && strcmp(format, "base64") == 0;
    size_t n = voy_count(json_object_get(body, "input"));
    json_t *data;
    char base[128];
    const char *p;
    long code;

    fake_model_base(model, base, sizeof(base));
    if (fake_bearer(req) == NULL) {
        voy_error(req, 401, json_string("Provided API key is invalid."));
        return;
    }
    if (strncmp(base, "voy-status-", 11) == 0 &&
        fake_parse_num(base + 11, '\0', 200, 599, &code, &p)) {
        voy_error(req, (int)code, json_sprintf("fake voyage error %ld", code));
        return;
    }
    if (n == 0) {
        voy_error(req, 400, json_string("input must be a string or a non-empty list of strings"));
        return;
    }
    data = json_array();
    for (size_t i = 0; data != NULL && i < n; i++) {
        double v[3] = {0.5 + (double)i, -1.0, 0.25};
        json_t *vec = b64 ? fake_base64_floats(v, 3) : fake_vector_new(i);

        if (json_array_append_new(data, json_pack("{s:s,s:o,s:I}", "object", "embedding",
                                                  "embedding", vec, "index", (json_int_t)i)) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    fake_reply_json(req, 200,
                    data == NULL
                        ? NULL
                        : json_pack("{s:s,s:o,s:s,s:{s:I}}", "object", "list", "data", data,
                                    "model", model, "usage", "total_tokens", (json_int_t)(4 * n)));
}
