/*
 * fake-upstream, IBM watsonx.ai (providers.md §11, §15): the IAM token endpoint (POST to a path
 * ending in /identity/token) and POST .../ml/v1/text/chat and .../ml/v1/text/chat_stream, the
 * wx-* scenarios listed in t_fake.h. Like the real services, IAM wants the form body of the
 * API-key grant (errors {"errorCode","errorMessage"}), and chat wants an IAM bearer, a version
 * query, model_id, project_id or space_id and only known members (errors
 * {"errors":[{"code","message"}],"status_code"}).
 */
#include "fake_upstream.h"
#include "t_fake.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define WX_GRANT "urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"

static long wx_issued;

/* The API key IAM accepts: $FAKE_WATSONX_APIKEY, else T_FAKE_WATSONX_KEY (t_fake.h). */
static const char *wx_good_key(void)
{
    const char *k = getenv("FAKE_WATSONX_APIKEY");

    return k != NULL && k[0] != '\0' ? k : T_FAKE_WATSONX_KEY;
}

/* {"errors":[{"code","message"}],"trace","status_code"} (message taken). */
static void wx_error(struct evhttp_request *req, int status, const char *code, json_t *message)
{
    json_t *doc = message != NULL
                      ? json_pack("{s:[{s:s,s:O}],s:s,s:i}", "errors", "code", code, "message",
                                  message, "trace", "fake-trace", "status_code", status)
                      : NULL;

    json_decref(message);
    fake_reply_json(req, status, doc);
}

void fake_watsonx_iam(struct fake_srv *srv, struct evhttp_request *req, const char *text,
                      size_t len)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const char *pre = "grant_type=" WX_GRANT "&apikey=";
    char *key;

    srv->iam_requests++;
    if (ct == NULL || strncmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
        len < strlen(pre) || memcmp(text, pre, strlen(pre)) != 0 ||
        memchr(text + strlen(pre), '&', len - strlen(pre)) != NULL) {
        fake_reply_json(req, 400,
                        json_pack("{s:s,s:s}", "errorCode", "BXNIM0109E", "errorMessage",
                                  "Property missing or empty. Operation not allowed."));
        return;
    }
    key = fake_pct_decode(text + strlen(pre), len - strlen(pre), true);
    if (key == NULL || strcmp(key, wx_good_key()) != 0) {
        free(key);
        fake_reply_json(req, 400,
                        json_pack("{s:s,s:s,s:{s:s}}", "errorCode", "BXNIM0415E", "errorMessage",
                                  "Provided API key could not be found.", "context", "requestId",
                                  "fake"));
        return;
    }
    free(key);
    wx_issued++;
    fake_reply_json(req, 200,
                    json_pack("{s:o,s:s,s:s,s:i,s:I,s:s}", "access_token",
                              json_sprintf("iam-%ld", wx_issued), "refresh_token", "not_supported",
                              "token_type", "Bearer", "expires_in", 3600, "expiration",
                              (json_int_t)time(NULL) + 3600, "scope", "ibm openid"));
}

/* The usage object of the replies. */
static json_t *wx_usage_new(long p, long c)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p, "completion_tokens",
                     (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

/* "id: N\nevent: <event>\ndata: <doc>\n\n" (doc taken). Returns 0 or -1. */
static int wx_send(struct fake_srv *srv, struct evhttp_request *req, int id, const char *event,
                   json_t *doc)
{
    char *data = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    char *text;
    size_t n;
    int rc = -1;

    json_decref(doc);
    if (data == NULL)
        return -1;
    n = strlen(data) + strlen(event) + 64;
    if ((text = malloc(n)) != NULL) {
        snprintf(text, n, "id: %d\nevent: %s\ndata: %s\n\n", id, event, data);
        rc = fake_send_raw(req, text, strlen(text), NULL, NULL);
        srv->chunks_sent++;
    }
    free(text);
    free(data);
    return rc;
}

/* A stream chunk with this delta (taken), finish reason (NULL: null) and usage (taken, may be
 * NULL). */
static json_t *wx_chunk_new(const char *model, json_t *delta, const char *finish, json_t *usage)
{
    json_t *c = json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:o,s:s?}]}", "id", "wx-fake", "model_id",
                          model, "created", 1767225600, "created_at", "2026-01-01T00:00:00.000Z",
                          "choices", "index", 0, "delta", delta, "finish_reason", finish);

    if (c != NULL && usage != NULL)
        json_object_set(c, "usage", usage);
    json_decref(usage);
    return c;
}

static void wx_stream(struct fake_srv *srv, struct evhttp_request *req, const char *model,
                      bool miderror)
{
    int rc;

    fake_stream_start(req);
    rc = wx_send(srv, req, 1, "message",
                 wx_chunk_new(model, json_pack("{s:s,s:s}", "role", "assistant", "content", "Hel"),
                              NULL, NULL));
    if (rc == 0 && miderror)
        rc = wx_send(srv, req, 2, "error",
                     json_pack("{s:[{s:s,s:s}],s:i}", "errors", "code", "generation_error",
                               "message", "fake watsonx failure mid-stream", "status_code", 500));
    if (rc == 0 && !miderror)
        rc = wx_send(srv, req, 2, "message",
                     wx_chunk_new(model, json_pack("{s:s}", "content", "lo"), NULL, NULL));
    if (rc == 0 && !miderror)
        rc = wx_send(srv, req, 3, "message",
                     wx_chunk_new(model, json_object(), "stop", wx_usage_new(10, 5)));
    if (rc < 0)
        fprintf(stderr, "fake-upstream: cannot send a watsonx event\n");
    evhttp_send_reply_end(req);
}

/* The members §11 lists; any other is refused like the real service's schema check. */
static bool wx_known(struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {
        "model_id",
        "project_id",
        "space_id",
        "messages",
        "tools",
        "tool_choice_option",
        "tool_choice",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
        "time_limit",
        NULL,
    };
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (known[i] != NULL && strcmp(key, known[i]) != 0)
            i++;
        if (known[i] == NULL) {
            wx_error(req, 400, "json_validation_error",
                     json_sprintf("Json document validation error: '%.100s' is not allowed", key));
            return false;
        }
    }
    return true;
}

void fake_watsonx(struct fake_srv *srv, struct evhttp_request *req, bool stream, const char *text,
                  size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    const char *bearer = fake_bearer(req), *model;
    json_t *body = json_loadb(text, len, 0, NULL);
    char base[128];
    long code;
    const char *end;

    if (bearer == NULL || strncmp(bearer, "iam-", 4) != 0) {
        wx_error(req, 401, "authentication_token_not_valid",
                 json_string("Failed to authenticate the request due to invalid token"));
        goto out;
    }
    if (query == NULL || strncmp(query, "version=", 8) != 0 || query[8] == '\0') {
        wx_error(req, 400, "missing_version", json_string("Missing version query parameter"));
        goto out;
    }
    if (!json_is_object(body) || !wx_known(req, body))
        goto out_bad;
    model = json_string_value(json_object_get(body, "model_id"));
    if (model == NULL || json_array_size(json_object_get(body, "messages")) == 0 ||
        (json_object_get(body, "project_id") == NULL &&
         json_object_get(body, "space_id") == NULL)) {
        wx_error(req, 400, "json_validation_error",
                 json_string("Json document validation error: model_id, messages and project_id "
                             "or space_id are required"));
        goto out;
    }
    fake_model_base(model, base, sizeof(base));
    if (strncmp(base, "wx-status-", 10) == 0 &&
        fake_parse_num(base + 10, '\0', 200, 599, &code, &end))
        wx_error(req, (int)code, code == 400 ? "json_validation_error" : "fake_error",
                 json_sprintf("fake watsonx error %ld", code));
    else if (stream)
        wx_stream(srv, req, model, strcmp(base, "wx-miderror") == 0);
    else
        fake_reply_json(req, 200,
                        json_pack("{s:s,s:s,s:s,s:i,s:s,s:[{s:i,s:{s:s,s:s},s:s}],s:o}", "id",
                                  "wx-fake", "model_id", model, "model_version", "1.0.0", "created",
                                  1767225600, "created_at", "2026-01-01T00:00:00.000Z", "choices",
                                  "index", 0, "message", "role", "assistant", "content",
                                  "Hello from watsonx", "finish_reason", "stop", "usage",
                                  wx_usage_new(10, 5)));
    goto out;
out_bad:
    if (!json_is_object(body))
        wx_error(req, 400, "json_type_error", json_string("Json document is not an object"));
out:
    json_decref(body);
}
