/*
 * fake-upstream, OpenAI embeddings (POST .../embeddings): the emb-* scenarios listed in t_fake.h
 * (voy-* models go to fake_voyage.c), plus what the other wires share: the embedding vectors,
 * their base64 encoding (little-endian float32, OpenSSL's EVP_EncodeBlock) and the bearer token.
 */
#include "fake_upstream.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>

#define FAKE_B64_MAX 16 /* floats per base64 vector */

json_t *fake_vector_new(size_t i)
{
    return json_pack("[f,f,f]", 0.5 + (double)i, -1.0, 0.25);
}

json_t *fake_base64_floats(const double *v, size_t n)
{
    unsigned char raw[FAKE_B64_MAX * 4];
    unsigned char out[(FAKE_B64_MAX * 4 + 2) / 3 * 4 + 1];
    int len;

    if (n > FAKE_B64_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        float f = (float)v[i];
        uint32_t u;

        memcpy(&u, &f, sizeof(u));
        for (size_t b = 0; b < 4; b++)
            raw[i * 4 + b] = (unsigned char)(u >> (8 * b)); /* little-endian whatever the host */
    }
    len = EVP_EncodeBlock(out, raw, (int)(n * 4));
    return len < 0 ? NULL : json_stringn((const char *)out, (size_t)len);
}

const char *fake_bearer(struct evhttp_request *req)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0 || v[7] == '\0')
        return NULL;
    return v + 7;
}

/* How many inputs "input" holds: a string or a token array is one, an array of strings or of
 * token arrays one each; 0 when it is none of these (or empty). */
static size_t fake_embed_count(json_t *input)
{
    size_t i, strings = 0, ints = 0, arrays = 0, n = json_array_size(input);
    json_t *v;

    if (json_is_string(input))
        return 1;
    json_array_foreach(input, i, v)
    {
        if (json_is_string(v))
            strings++;
        else if (json_is_integer(v))
            ints++;
        else if (json_is_array(v) && json_array_size(v) > 0)
            arrays++;
    }
    if (n == 0 || (strings != n && ints != n && arrays != n))
        return 0;
    return ints == n ? 1 : n;
}

/*
 * OpenAI embeddings: one vector [0.1+i, 0.2, 0.3] per input, as floats or, with
 * encoding_format "base64", as base64 of little-endian float32; usage 4 tokens per input.
 * emb-status-<code> answers that status; voy-* models are Voyage's (fake_voyage.c).
 */
void fake_embeddings(struct evhttp_request *req, const char *text, size_t len)
{
    json_t *body = json_loadb(text, len, 0, NULL), *data = NULL;
    const char *model = json_string_value(json_object_get(body, "model"));
    const char *format = json_string_value(json_object_get(body, "encoding_format"));
    char base[128];
    const char *p;
    long code;
    size_t n;

    if (!json_is_object(body)) {
        fake_reply_error(req, 400, "request body is not a JSON object", "invalid_request_error");
        goto out;
    }
    if (model == NULL)
        model = "";
    fake_model_base(model, base, sizeof(base));
    if (strncmp(base, "voy-", 4) == 0) {
        fake_voyage(req, body);
        goto out;
    }
    if (strncmp(base, "emb-status-", 11) == 0 &&
        fake_parse_num(base + 11, '\0', 200, 599, &code, &p)) {
        fake_status(req, (int)code, 0);
        goto out;
    }
    n = fake_embed_count(json_object_get(body, "input"));
    if (n == 0 ||
        (format != NULL && strcmp(format, "float") != 0 && strcmp(format, "base64") != 0) ||
        (format == NULL && json_object_get(body, "encoding_format") != NULL)) {
        fake_reply_error(req, 400,
                         n == 0 ? "input must be a string, an array of strings or token arrays"
                                : "encoding_format must be float or base64",
                         "invalid_request_error");
        goto out;
    }
    data = json_array();
    for (size_t i = 0; data != NULL && i < n; i++) {
        double v[3] = {0.1 + (double)i, 0.2, 0.3};
        json_t *vec = format != NULL && strcmp(format, "base64") == 0
                          ? fake_base64_floats(v, 3)
                          : json_pack("[f,f,f]", v[0], v[1], v[2]);

        if (json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                                  (json_int_t)i, "embedding", vec)) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    fake_reply_json(req, 200,
                    data == NULL
                        ? NULL
                        : json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data,
                                    "model", model, "usage", "prompt_tokens", (json_int_t)(4 * n),
                                    "total_tokens", (json_int_t)(4 * n)));
out:
    json_decref(body);
}
