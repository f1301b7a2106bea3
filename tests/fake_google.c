/*
 * The fake's Google OAuth token endpoint (providers.md §6.2, §15): POST to any path ending in
 * /token with the jwt-bearer grant. The assertion must be an RS256 JWT whose signature verifies
 * with the public key given by --google-pubkey FILE (or FAKE_GOOGLE_PUBKEY), with aud = the URL
 * it was posted to, an iss, the cloud-platform scope and a live exp at most an hour after iat.
 * Good: {"access_token":"tok-<n>","expires_in":<--token-ttl, default 3599>,"token_type":
 * "Bearer"} (n counts the tokens issued since start). Bad: 400 {"error":"invalid_grant",
 * "error_description":...} like Google's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fake_upstream.h"

static EVP_PKEY *google_pub;
static long google_ttl = 3599;
static long google_issued;

int fake_google_init(const char *pubkey_path, const char *ttl)
{
    FILE *f;

    if (pubkey_path == NULL)
        pubkey_path = getenv("FAKE_GOOGLE_PUBKEY");
    if (ttl == NULL)
        ttl = getenv("FAKE_TOKEN_TTL");
    if (ttl != NULL && ttl[0] != '\0') {
        char *end;
        google_ttl = strtol(ttl, &end, 10);
        if (*end != '\0' || google_ttl < 0 || google_ttl > 86400 * 365) {
            fprintf(stderr, "fake-upstream: bad token TTL '%s'\n", ttl);
            return -1;
        }
    }
    if (pubkey_path == NULL || pubkey_path[0] == '\0')
        return 0;
    if ((f = fopen(pubkey_path, "r")) == NULL) {
        fprintf(stderr, "fake-upstream: cannot read %s\n", pubkey_path);
        return -1;
    }
    google_pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (google_pub == NULL) {
        fprintf(stderr, "fake-upstream: %s holds no PEM public key\n", pubkey_path);
        return -1;
    }
    return 0;
}

void fake_google_free(void)
{
    EVP_PKEY_free(google_pub);
    google_pub = NULL;
}

/* Decodes n base64url characters (no padding) into a new buffer; NULL when malformed. */
static unsigned char *google_unb64url(const char *s, size_t n, size_t *out_len)
{
    size_t padded = (n + 3) / 4 * 4, pad = padded - n;
    char *t = malloc(padded + 1);
    unsigned char *d = malloc(padded + 1);
    int w;

    if (t == NULL || d == NULL || pad == 3)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' || s[i] == '/' || s[i] == '=')
            goto fail;
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    memset(t + n, '=', pad);
    t[padded] = '\0';
    if ((w = EVP_DecodeBlock(d, (unsigned char *)t, (int)padded)) < 0 || (size_t)w < pad)
        goto fail;
    free(t);
    *out_len = (size_t)w - pad;
    d[*out_len] = '\0';
    return d;
fail:
    free(t);
    free(d);
    return NULL;
}

static json_t *google_part_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *b = google_unb64url(s, n, &len);
    json_t *j = b != NULL ? json_loadb((const char *)b, len, 0, NULL) : NULL;

    free(b);
    return j;
}

/* The value of form field name in text (len bytes, not decoded), or NULL; *n gets its length. */
static const char *google_form_get(const char *text, size_t len, const char *name, size_t *n)
{
    size_t k = strlen(name);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > k && memcmp(p, name, k) == 0 && p[k] == '=') {
            *n = (size_t)(stop - p - (ptrdiff_t)k - 1);
            return p + k + 1;
        }
        p = stop + 1;
    }
    return NULL;
}

static bool google_verify(const char *jwt, size_t signed_len, const char *sig64, size_t sig_n)
{
    size_t slen;
    unsigned char *sig = google_unb64url(sig64, sig_n, &slen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = sig != NULL && ctx != NULL &&
              EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, google_pub) == 1 &&
              EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)jwt, signed_len) == 1;

    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

static const char *google_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* Why the assertion is refused, or NULL when it is good. */
static const char *google_check(struct evhttp_request *req, const char *path, const char *a,
                                size_t n)
{
    const char *dot1 = memchr(a, '.', n), *dot2, *host;
    json_t *hdr = NULL, *claims = NULL;
    const char *why = NULL;
    char aud[512];
    json_int_t iat, exp, now = (json_int_t)time(NULL);

    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - a)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - a)) != NULL)
        return "Invalid JWT: expected three parts";
    hdr = google_part_json(a, (size_t)(dot1 - a));
    claims = google_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    snprintf(aud, sizeof(aud), "http://%s%s", host != NULL ? host : "", path);
    iat = json_integer_value(json_object_get(claims, "iat"));
    exp = json_integer_value(json_object_get(claims, "exp"));
    if (hdr == NULL || claims == NULL)
        why = "Invalid JWT: a part is not base64url JSON";
    else if (strcmp(google_str(hdr, "alg"), "RS256") != 0)
        why = "Invalid JWT: alg must be RS256";
    else if (google_pub == NULL)
        why = "fake-upstream: no --google-pubkey given";
    else if (!google_verify(a, (size_t)(dot2 - a), dot2 + 1, n - (size_t)(dot2 + 1 - a)))
        why = "Invalid JWT Signature.";
    else if (strcmp(google_str(claims, "aud"), aud) != 0)
        why = "Invalid JWT: Failed audience check.";
    else if (json_string_value(json_object_get(claims, "iss")) == NULL)
        why = "Invalid JWT: no iss";
    else if (strcmp(google_str(claims, "scope"),
                    "https://www.googleapis.com/auth/cloud-platform") != 0)
        why = "Invalid JWT: scope";
    else if (exp <= now || exp - iat > 3600 || iat > now + 60)
        why = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
              "timeframe.";
    json_decref(hdr);
    json_decref(claims);
    return why;
}

void fake_google_token(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                       const char *text, size_t len)
{
    static const char grant[] = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
    const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const char *g, *a, *why;
    size_t gn = 0, an = 0;

    srv->token_requests++;
    g = google_form_get(text, len, "grant_type", &gn);
    a = google_form_get(text, len, "assertion", &an);
    if (ctype == NULL || strcmp(ctype, "application/x-www-form-urlencoded") != 0)
        why = "fake-upstream: Content-Type must be application/x-www-form-urlencoded";
    else if (g == NULL || gn != sizeof(grant) - 1 || memcmp(g, grant, gn) != 0)
        why = "Invalid grant_type";
    else if (a == NULL || an == 0)
        why = "Missing required parameter: assertion";
    else
        why = google_check(req, path, a, an);
    if (why != NULL) {
        fake_reply_json(req, 400,
                        json_pack("{s:s,s:s}", "error", "invalid_grant", "error_description", why));
        return;
    }
    google_issued++;
    fake_reply_json(req, 200,
                    json_pack("{s:o,s:I,s:s}", "access_token",
                              json_sprintf("tok-%ld", google_issued), "expires_in",
                              (json_int_t)google_ttl, "token_type", "Bearer"));
}

/*
 * Anthropic on Vertex AI: POST .../publishers/anthropic/models/{model}:rawPredict (or
 * :streamRawPredict). Needs "Authorization: Bearer tok-<n>" (a token this fake issued), a body
 * with "anthropic_version":"vertex-2023-10-16" and no "model"; then answers as the Messages API
 * (fake_messages) for the model in the path.
 */
void fake_vertex_messages(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                          const char *text, size_t len)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(in, "Authorization");
    const char *m = strstr(path, "/publishers/anthropic/models/"), *colon;
    json_t *body = json_loadb(text, len, 0, NULL);
    char *model = NULL, *out = NULL;
    long n = 0;
    const char *end;

    if (auth == NULL || strncmp(auth, "Bearer tok-", 11) != 0 ||
        !fake_parse_num(auth + 11, '\0', 1, google_issued, &n, &end)) {
        fake_reply_json(req, 401,
                        json_pack("{s:{s:i,s:s,s:s}}", "error", "code", 401, "message",
                                  "Request had invalid authentication credentials.", "status",
                                  "UNAUTHENTICATED"));
        goto out;
    }
    m += strlen("/publishers/anthropic/models/");
    colon = strrchr(m, ':');
    if (!json_is_object(body) || json_object_get(body, "model") != NULL ||
        strcmp(google_str(body, "anthropic_version"), "vertex-2023-10-16") != 0 || colon == NULL) {
        fake_reply_json(req, 400,
                        json_pack("{s:{s:i,s:s,s:s}}", "error", "code", 400, "message",
                                  "fake-upstream: Vertex wants anthropic_version and no model",
                                  "status", "INVALID_ARGUMENT"));
        goto out;
    }
    json_object_del(body, "anthropic_version");
    if ((model = strndup(m, (size_t)(colon - m))) == NULL ||
        json_object_set_new(body, "model", json_string(model)) < 0 ||
        (out = json_dumps(body, JSON_COMPACT)) == NULL ||
        evhttp_add_header(in, "x-api-key", "vertex") < 0 ||
        evhttp_add_header(in, "anthropic-version", "2023-06-01") < 0) {
        fake_reply_error(req, 500, "fake-upstream: out of memory", "server_error");
        goto out;
    }
    fake_messages(srv, req, out, strlen(out));
out:
    free(model);
    free(out);
    json_decref(body);
}
