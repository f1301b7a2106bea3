/*
 * fake-upstream, AWS (providers.md §7, §8): routing of the Bedrock runtime paths
 * (/model/{modelId}/converse, /converse-stream, /invoke) and the SageMaker runtime paths
 * (/endpoints/{name}/invocations, /invocations-response-stream), and the authentication those
 * services do: a Bedrock API key as a bearer, else AWS Signature Version 4 verified here with
 * this file's own implementation (OpenSSL HMAC and SHA-256), so a signing bug in the gateway
 * cannot cancel out. The scenarios are in fake_aws_reply.c and listed in t_fake.h.
 */
#include "fake_upstream.h"
#include "t_fake.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define AWS_BAD_SIG                                                                                \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
#define AWS_BAD_TOKEN "The security token included in the request is invalid."
#define AWS_SKEW_S 300

static const char *const aws_bedrock_ops[] = {"converse", "converse-stream", "invoke", NULL};
static const char *const aws_sm_ops[] = {"invocations", "invocations-response-stream", NULL};

void fake_aws_error(struct evhttp_request *req, int status, const char *type, const char *key,
                    const char *message)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(h, "x-amzn-ErrorType", type) < 0 ||
        evhttp_add_header(h, "x-amzn-RequestId", "fake-aws-request-id") < 0)
        fprintf(stderr, "fake-upstream: cannot add AWS error headers\n");
    fake_reply_json(req, status, json_pack("{s:s}", key, message));
}

/*
 * Splits path as <prefix>/<kind>/<segment>/<op> with kind "model" (Bedrock) or "endpoints"
 * (SageMaker) and op one of that kind's operations. Returns the op's index and sets *bedrock,
 * *seg and *seglen, or -1.
 */
static int aws_split(const char *path, bool *bedrock, const char **seg, size_t *seglen)
{
    const char *last = strrchr(path, '/'), *s, *p;
    const char *const *ops;

    if (last == NULL || last == path)
        return -1;
    for (s = last - 1; s > path && *s != '/'; s--)
        ;
    if (*s != '/' || s == last - 1)
        return -1;
    /* s: the '/' before the segment; p: the start of the kind before it. */
    for (p = s - 1; p > path && *p != '/'; p--)
        ;
    if ((size_t)(s - p) == 6 && strncmp(p, "/model", 6) == 0)
        *bedrock = true;
    else if ((size_t)(s - p) == 10 && strncmp(p, "/endpoints", 10) == 0)
        *bedrock = false;
    else
        return -1;
    ops = *bedrock ? aws_bedrock_ops : aws_sm_ops;
    for (int i = 0; ops[i] != NULL; i++) {
        if (strcmp(last + 1, ops[i]) == 0) {
            *seg = s + 1;
            *seglen = (size_t)(last - s - 1);
            return i;
        }
    }
    return -1;
}

bool fake_aws_path(const char *path)
{
    bool bedrock;
    const char *seg;
    size_t n;

    return aws_split(path, &bedrock, &seg, &n) >= 0;
}

static void aws_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int aws_hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;

    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) ==
                   NULL
               ? -1
               : 0;
}

/* The value of every header named name (any case), joined with ',', trimmed, inner runs of
 * spaces collapsed, appended to b; -1 when there is none. */
static int aws_header_value(struct evhttp_request *req, const char *name, struct evbuffer *b)
{
    struct evkeyval *kv;
    int found = 0;

    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    {
        const char *v = kv->value;
        bool space = false;

        if (strcasecmp(kv->key, name) != 0)
            continue;
        if (found++ > 0)
            evbuffer_add(b, ",", 1);
        while (*v == ' ' || *v == '\t')
            v++;
        for (; *v != '\0'; v++) {
            if (*v == ' ' || *v == '\t') {
                space = true;
                continue;
            }
            if (space)
                evbuffer_add(b, " ", 1);
            space = false;
            evbuffer_add(b, v, 1);
        }
    }
    return found > 0 ? 0 : -1;
}

static int aws_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical query: the '&'-separated pairs as received, sorted. */
static void aws_query(const char *query, struct evbuffer *b)
{
    char *copy = query != NULL ? strdup(query) : NULL, *save = NULL, *pairs[64];
    size_t n = 0;

    if (copy == NULL)
        return;
    for (char *t = strtok_r(copy, "&", &save); t != NULL && n < 64; t = strtok_r(NULL, "&", &save))
        pairs[n++] = t;
    qsort(pairs, n, sizeof(pairs[0]), aws_cmp);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(b, "%s%s", i > 0 ? "&" : "", pairs[i]);
    free(copy);
}

/*
 * The canonical request of §7.1 for this request with these signed headers: the received
 * (already encoded) path encoded again, sorted query, the signed headers' values, the body's
 * SHA-256. Returns its SHA-256 in hex (65 bytes), or -1 when a signed header is missing.
 */
static int aws_canonical_hash(struct evhttp_request *req, const char *path, const char *query,
                              const char *signed_headers, const char *text, size_t len,
                              char hex[65])
{
    struct evbuffer *b = evbuffer_new();
    unsigned char d[32];
    char body_hex[65], *names = strdup(signed_headers), *save = NULL;
    int rc = -1;

    if (b == NULL || names == NULL)
        goto out;
    evbuffer_add_printf(b, "POST\n");
    for (const char *p = path; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
            evbuffer_add(b, p, 1);
        else
            evbuffer_add_printf(b, "%%%02X", c);
    }
    evbuffer_add(b, "\n", 1);
    aws_query(query, b);
    evbuffer_add(b, "\n", 1);
    for (char *t = strtok_r(names, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        evbuffer_add_printf(b, "%s:", t);
        if (aws_header_value(req, t, b) < 0)
            goto out;
        evbuffer_add(b, "\n", 1);
    }
    SHA256((const unsigned char *)text, len, d);
    aws_hex(d, 32, body_hex);
    evbuffer_add_printf(b, "\n%s\n%s", signed_headers, body_hex);
    SHA256(evbuffer_pullup(b, -1), evbuffer_get_length(b), d);
    aws_hex(d, 32, hex);
    rc = 0;
out:
    if (b != NULL)
        evbuffer_free(b);
    free(names);
    return rc;
}

/* The expected signature (hex) of string to sign sts with scope date/region/service. */
static int aws_signature(const char *date, const char *region, const char *service, const char *sts,
                         char hex[65])
{
    char k0[128];
    unsigned char k[32];

    snprintf(k0, sizeof(k0), "AWS4%s", T_FAKE_AWS_SECRET);
    if (aws_hmac(k0, strlen(k0), date, k) < 0 || aws_hmac(k, 32, region, k) < 0 ||
        aws_hmac(k, 32, service, k) < 0 || aws_hmac(k, 32, "aws4_request", k) < 0 ||
        aws_hmac(k, 32, sts, k) < 0)
        return -1;
    aws_hex(k, 32, hex);
    return 0;
}

/* Parses "YYYYMMDDTHHMMSSZ" into seconds since the epoch; -1 when malformed. */
static long long aws_time(const char *s)
{
    struct tm tm = {0};

    if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' ||
        sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm);
}

/* Finds "<name>=" in the comma-separated fields of an Authorization value; copies the value. */
static bool aws_field(const char *auth, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);

    for (const char *p = auth; p != NULL && *p != '\0'; p = strchr(p, ',')) {
        size_t vlen;
        while (*p == ',' || *p == ' ')
            p++;
        if (strncmp(p, name, n) != 0 || p[n] != '=')
            continue;
        p += n + 1;
        vlen = strcspn(p, ", ");
        if (vlen >= outlen)
            return false;
        memcpy(out, p, vlen);
        out[vlen] = '\0';
        return true;
    }
    return false;
}

/*
 * Checks a SigV4 Authorization for service; on success records what was used in info and
 * returns 0, else answers 403 like AWS and returns -1.
 */
static int aws_sigv4(struct evhttp_request *req, const char *auth, const char *service,
                     const char *path, const char *query, const char *text, size_t len,
                     json_t *info)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *amz_date = evhttp_find_header(in, "x-amz-date");
    const char *token = evhttp_find_header(in, "x-amz-security-token");
    char cred[256], signed_h[512], sig[128], canon[65], want[65], sts[512];
    char key[64], date[16], region[32], svc[32], term[32], tail;
    long long t = aws_time(amz_date);
    bool temp;

    if (!aws_field(auth + 17, "Credential", cred, sizeof(cred)) ||
        !aws_field(auth + 17, "SignedHeaders", signed_h, sizeof(signed_h)) ||
        !aws_field(auth + 17, "Signature", sig, sizeof(sig)) ||
        sscanf(cred, "%63[^/]/%15[^/]/%31[^/]/%31[^/]/%31[^/]%c", key, date, region, svc, term,
               &tail) != 5) {
        fake_aws_error(req, 403, "IncompleteSignatureException", "message",
                       "Authorization header requires Credential, SignedHeaders and Signature.");
        return -1;
    }
    temp = strcmp(key, T_FAKE_AWS_TEMP_KEY_ID) == 0;
    if (!temp && strcmp(key, T_FAKE_AWS_KEY_ID) != 0) {
        fake_aws_error(req, 403, "UnrecognizedClientException", "message", AWS_BAD_TOKEN);
        return -1;
    }
    if ((temp && token == NULL) || (token != NULL && strcmp(token, T_FAKE_AWS_TOKEN) != 0) ||
        (token != NULL && !temp)) {
        fake_aws_error(req, 403, "UnrecognizedClientException", "message", AWS_BAD_TOKEN);
        return -1;
    }
    if (t < 0 || llabs(t - (long long)time(NULL)) > AWS_SKEW_S) {
        fake_aws_error(req, 403, "InvalidSignatureException", "message",
                       "Signature expired or x-amz-date missing or malformed.");
        return -1;
    }
    if (strncmp(date, amz_date, 8) != 0 || strlen(date) != 8 ||
        strcmp(region, T_FAKE_AWS_REGION) != 0 || strcmp(svc, service) != 0 ||
        strcmp(term, "aws4_request") != 0) {
        fake_aws_error(req, 403, "InvalidSignatureException", "message",
                       "Credential should be scoped to a valid region and service.");
        return -1;
    }
    if (strstr(signed_h, "host") == NULL || strstr(signed_h, "x-amz-date") == NULL ||
        (token != NULL && strstr(signed_h, "x-amz-security-token") == NULL)) {
        fake_aws_error(req, 403, "InvalidSignatureException", "message",
                       "host, x-amz-date and x-amz-security-token must be signed.");
        return -1;
    }
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n", amz_date, date,
             region, service);
    if (aws_canonical_hash(req, path, query, signed_h, text, len, canon) < 0 ||
        strlen(sts) + 64 >= sizeof(sts)) {
        fake_aws_error(req, 403, "InvalidSignatureException", "message", AWS_BAD_SIG);
        return -1;
    }
    strcat(sts, canon);
    if (aws_signature(date, region, service, sts, want) < 0 || strlen(sig) != 64 ||
        CRYPTO_memcmp(sig, want, 64) != 0) {
        fake_aws_error(req, 403, "InvalidSignatureException", "message", AWS_BAD_SIG);
        return -1;
    }
    json_object_set_new(info, "scheme", json_string("sigv4"));
    json_object_set_new(info, "key_id", json_string(key));
    json_object_set_new(info, "region", json_string(region));
    json_object_set_new(info, "service", json_string(service));
    json_object_set_new(info, "signed_headers", json_string(signed_h));
    json_object_set_new(info, "canonical_request_hash", json_string(canon));
    return 0;
}

/* Authenticates req for service (bearer: a Bedrock API key is allowed). 0, or -1 answered. */
static int aws_auth(struct evhttp_request *req, const char *service, bool bearer_ok,
                    const char *path, const char *query, const char *text, size_t len, json_t *info)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    if (auth != NULL && bearer_ok && strncmp(auth, "Bearer ", 7) == 0) {
        if (strcmp(auth + 7, T_FAKE_BEDROCK_API_KEY) != 0) {
            fake_aws_error(req, 403, "UnrecognizedClientException", "message",
                           "Invalid API Key format: Must start with pre-defined prefix");
            return -1;
        }
        json_object_set_new(info, "scheme", json_string("bearer"));
        return 0;
    }
    if (auth == NULL || strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0) {
        fake_aws_error(req, 403, "UnrecognizedClientException", "message",
                       "Missing Authentication Token");
        return -1;
    }
    return aws_sigv4(req, auth, service, path, query, text, len, info);
}

void fake_aws(struct fake_srv *srv, struct evhttp_request *req, const char *path, const char *text,
              size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL, *seg;
    bool bedrock;
    size_t seglen;
    int op = aws_split(path, &bedrock, &seg, &seglen);
    char *id = op >= 0 ? fake_pct_decode(seg, seglen, false) : NULL;
    json_t *info = json_object(), *body = NULL;

    if (id == NULL || info == NULL) {
        fake_aws_error(req, 400, "ValidationException", "message", "Malformed path segment");
        goto out;
    }
    if (srv->last != NULL) {
        json_object_set_new(srv->last, bedrock ? "model_id" : "endpoint_name", json_string(id));
        json_object_set(srv->last, "aws_auth", info);
    }
    if (aws_auth(req, bedrock ? "bedrock" : "sagemaker", bedrock, path, query, text, len, info) < 0)
        goto out;
    body = json_loadb(text, len, 0, NULL);
    if (!json_is_object(body)) {
        fake_aws_error(req, 400, bedrock ? "ValidationException" : "ValidationError",
                       bedrock ? "message" : "Message",
                       "Malformed input request: not a JSON object");
        goto out;
    }
    if (bedrock)
        fake_bedrock(srv, req, op, id, body);
    else
        fake_sagemaker(srv, req, op == 1, id, body);
out:
    json_decref(body);
    json_decref(info);
    free(id);
}
