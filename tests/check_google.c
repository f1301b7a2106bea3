/*
 * Google service accounts (prov_google.h), the Vertex settings of prov_conf, the access-token
 * cache (prov_token.h) and Anthropic on Vertex AI. Keys are made by the openssl command in a
 * temporary directory: the JWT is checked with the public key through libcrypto, and the cache
 * runs on a real event loop against the fake provider's token endpoint (fake_google.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "httpc.h"
#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_google.h"
#include "providers/prov_token.h"
#include "t_fake.h"
#include "t_google.h"
#include "t_gw.h"
#include "util.h"

/* ---- Configuration ---- */

START_TEST(conf_path_inline_mapping)
{
    struct t_gkeys k;
    char path[160];
    char *text;
    struct prov_confs *pc;
    const struct prov_conf *c;

    t_gclear_env();
    t_gkeys_init(&k);
    snprintf(path, sizeof(path), "%s/sa.json", k.dir);
    t_gsa_write(t_gsa_json(k.key, NULL, "file-proj"), path);
    text = t_read_file(path);
    ck_assert_ptr_nonnull(text);

    /* A path; project and location at the top; none of them becomes a request field. */
    pc = t_gconfs(json_pack("{s:{s:s,s:s,s:s,s:i}}", "vertexai", "credentials", path, "project",
                            "p-1", "location", "europe-west4", "temperature", 0));
    c = t_gconf(pc, "vertexai");
    ck_assert(c->usable);
    ck_assert_ptr_null(c->problem);
    ck_assert_ptr_nonnull(c->google);
    ck_assert_str_eq(c->google->client_email, "gw@proj.iam.gserviceaccount.com");
    ck_assert_str_eq(c->google->token_uri, "https://oauth2.googleapis.com/token");
    ck_assert_str_eq(c->project, "p-1");
    ck_assert_str_eq(c->location, "europe-west4");
    ck_assert_int_eq(json_object_size(c->kwargs), 1);
    ck_assert_ptr_nonnull(json_object_get(c->kwargs, "temperature"));
    ck_assert_int_eq(c->info->auth, PROV_AUTH_GOOGLE);
    prov_confs_free(pc);

    /* Inline JSON under client_args; the project falls back to the key's. */
    pc = t_gconfs(json_pack("{s:{s:{s:s}}}", "vertexai", "client_args", "credentials", text));
    c = t_gconf(pc, "vertexai");
    ck_assert_ptr_null(c->problem);
    ck_assert_str_eq(c->project, "file-proj");
    ck_assert_str_eq(c->location, "us-central1");
    ck_assert_int_eq(json_object_size(c->kwargs), 0);
    prov_confs_free(pc);

    /* A mapping; vertexaianthropic's project_id and region; token_uri overrides the key's. */
    pc = t_gconfs(json_pack("{s:{s:o,s:s,s:s,s:s}}", "vertexaianthropic", "credentials",
                            json_loads(text, 0, NULL), "project_id", "p-2", "region", "us-east5",
                            "token_uri", "http://127.0.0.1:9/token"));
    c = t_gconf(pc, "vertexaianthropic");
    ck_assert_ptr_null(c->problem);
    ck_assert_str_eq(c->project, "p-2");
    ck_assert_str_eq(c->location, "us-east5");
    ck_assert_str_eq(c->google->token_uri, "http://127.0.0.1:9/token");
    ck_assert_int_eq(json_object_size(c->kwargs), 0);
    /* Not configured and no GOOGLE_APPLICATION_CREDENTIALS: not usable, nothing wrong. */
    ck_assert(!t_gconf(pc, "vertexai")->usable);
    ck_assert_ptr_null(t_gconf(pc, "vertexai")->problem);
    prov_confs_free(pc);
    free(text);
    t_gkeys_free(&k);
}
END_TEST

START_TEST(conf_environment)
{
    struct t_gkeys k;
    char path[160];
    struct prov_confs *pc;
    const struct prov_conf *c;

    t_gclear_env();
    t_gkeys_init(&k);
    snprintf(path, sizeof(path), "%s/sa.json", k.dir);
    t_gsa_write(t_gsa_json(k.key, NULL, NULL), path);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    setenv("GOOGLE_CLOUD_PROJECT", "env-proj", 1);
    setenv("GOOGLE_CLOUD_LOCATION", "global", 1);
    pc = t_gconfs(NULL);
    c = t_gconf(pc, "vertexaianthropic");
    ck_assert(c->usable);
    ck_assert_ptr_null(c->problem);
    ck_assert_ptr_nonnull(c->google);
    ck_assert_str_eq(c->project, "env-proj");
    ck_assert_str_eq(c->location, "global");
    prov_confs_free(pc);
    /* The section's settings win over the environment. */
    pc = t_gconfs(json_pack("{s:{s:s,s:s}}", "vertexaianthropic", "project", "cfg-proj", "location",
                            "europe-west1"));
    ck_assert_str_eq(t_gconf(pc, "vertexaianthropic")->project, "cfg-proj");
    ck_assert_str_eq(t_gconf(pc, "vertexaianthropic")->location, "europe-west1");
    prov_confs_free(pc);
    t_gclear_env();
    t_gkeys_free(&k);
}
END_TEST

/* The problem of vertexai configured with section (stolen); NULL when none. Owned copy. */
static char *problem_of(json_t *section)
{
    struct prov_confs *pc = t_gconfs(json_pack("{s:o}", "vertexai", section));
    const struct prov_conf *c = t_gconf(pc, "vertexai");
    char *p = c->problem != NULL ? strdup(c->problem) : NULL;

    ck_assert(c->usable);
    ck_assert(c->problem == NULL || c->google == NULL || c->project == NULL ||
              strstr(c->problem, "providers.vertexai") != NULL);
    prov_confs_free(pc);
    return p;
}

static void assert_problem(char *p, const char *want)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(strstr(p, want) != NULL, "problem '%s' lacks '%s'", p, want);
    ck_assert_msg(strstr(p, "BEGIN") == NULL && strstr(p, "MII") == NULL, "key material in '%s'",
                  p);
    free(p);
}

START_TEST(conf_problems)
{
    struct t_gkeys k;
    char path[160], bad[160];
    json_t *j;

    t_gclear_env();
    t_gkeys_init(&k);
    snprintf(path, sizeof(path), "%s/sa.json", k.dir);
    t_gsa_write(t_gsa_json(k.key, NULL, NULL), path);
    assert_problem(problem_of(json_pack("{s:s}", "credentials", "/nonexistent/sa.json")),
                   "cannot read credentials file '/nonexistent/sa.json'");
    assert_problem(problem_of(json_pack("{s:s}", "project", "p")),
                   "no service-account credentials: set providers.vertexai.credentials");
    assert_problem(problem_of(json_pack("{s:s}", "credentials", path)),
                   "no Google Cloud project: set providers.vertexai.project");
    assert_problem(problem_of(json_pack("{s:s,s:s}", "credentials", "{\"type\": ", "project", "p")),
                   "inline credentials is not valid JSON");
    assert_problem(problem_of(json_pack("{s:s,s:s,s:s}", "credentials", path, "project", "p",
                                        "location", "us/../x")),
                   "is not a Google Cloud region");
    /* A broken key: the reason names the field, never its text. */
    j = t_gsa_json(k.key, NULL, "p");
    json_object_set_new(
        j, "private_key",
        json_string("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                    "-----END PRIVATE KEY-----\n"));
    snprintf(bad, sizeof(bad), "%s/bad.json", k.dir);
    t_gsa_write(j, bad);
    assert_problem(problem_of(json_pack("{s:s}", "credentials", bad)),
                   "private_key is not a PEM RSA private key");
    j = t_gsa_json(k.key, NULL, "p");
    json_object_set_new(j, "type", json_string("authorized_user"));
    assert_problem(problem_of(json_pack("{s:o}", "credentials", j)), "only service-account keys");
    j = t_gsa_json(k.key, NULL, "p");
    json_object_del(j, "client_email");
    assert_problem(problem_of(json_pack("{s:o}", "credentials", j)), "has no client_email");
    /* From the environment: the variable is named. */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/env.json", 1);
    assert_problem(problem_of(json_pack("{s:s}", "project", "p")),
                   "GOOGLE_APPLICATION_CREDENTIALS: cannot read credentials file");
    t_gclear_env();
    t_gkeys_free(&k);
}
END_TEST

/* ---- JWT ---- */

static unsigned char *unb64url(const char *s, size_t n, size_t *len)
{
    size_t padded = (n + 3) / 4 * 4;
    char *t = calloc(1, padded + 1);
    unsigned char *d = calloc(1, padded + 1);
    int w;

    for (size_t i = 0; i < padded; i++)
        t[i] = i >= n ? '=' : s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    w = EVP_DecodeBlock(d, (unsigned char *)t, (int)padded);
    ck_assert_int_ge(w, 0);
    *len = (size_t)w - (padded - n);
    free(t);
    return d;
}

START_TEST(jwt_signed_and_claims)
{
    struct t_gkeys k;
    char err[256], *jwt, *form;
    const char *d1, *d2;
    struct prov_google_sa *sa;
    json_t *j = NULL, *hdr, *claims;
    unsigned char *part, *sig;
    size_t len, slen;
    EVP_PKEY *pub;
    EVP_MD_CTX *ctx;
    FILE *f;
    static const unsigned char raw[] = {0xfb, 0xff};
    static const char want_form[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-"
                                    "bearer&assertion=";

    ck_assert_str_eq((form = prov_google_b64url((const unsigned char *)"foo", 3)), "Zm9v");
    free(form);
    ck_assert_str_eq((form = prov_google_b64url((const unsigned char *)"fo", 2)), "Zm8");
    free(form);
    ck_assert_str_eq((form = prov_google_b64url(raw, 2)), "-_8");
    free(form);

    t_gkeys_init(&k);
    sa = prov_google_sa_load((j = t_gsa_json(k.key, NULL, NULL)), err, sizeof(err));
    json_decref(j);
    ck_assert_msg(sa != NULL, "%s", err);
    jwt = prov_google_jwt(sa, "https://oauth2.googleapis.com/token", 1700000000, err, sizeof(err));
    ck_assert_ptr_nonnull(jwt);
    d1 = strchr(jwt, '.');
    d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    ck_assert_ptr_nonnull(d2);
    ck_assert_ptr_null(strchr(d2 + 1, '.'));
    ck_assert_ptr_null(strpbrk(jwt, "+/= "));
    part = unb64url(jwt, (size_t)(d1 - jwt), &len);
    hdr = json_loadb((const char *)part, len, 0, NULL);
    free(part);
    part = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &len);
    claims = json_loadb((const char *)part, len, 0, NULL);
    free(part);
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "kid")), "kid123");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")),
                     "gw@proj.iam.gserviceaccount.com");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "scope")),
                     "https://www.googleapis.com/auth/cloud-platform");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")),
                     "https://oauth2.googleapis.com/token");
    ck_assert_int_eq(json_integer_value(json_object_get(claims, "iat")), 1700000000);
    ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")), 1700003600);
    json_decref(hdr);
    json_decref(claims);

    /* The signature verifies with the public key, over "header.claims" only. */
    ck_assert_ptr_nonnull((f = fopen(k.pub, "r")));
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(pub);
    sig = unb64url(d2 + 1, strlen(d2 + 1), &slen);
    ck_assert_int_eq(slen, 256);
    ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
    ck_assert_int_eq(
        EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(ctx);
    ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
    ck_assert_int_ne(
        EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)jwt, (size_t)(d2 - jwt) - 1), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    free(sig);

    form = prov_google_token_form(jwt);
    ck_assert_int_eq(strncmp(form, want_form, sizeof(want_form) - 1), 0);
    ck_assert_str_eq(form + sizeof(want_form) - 1, jwt);
    free(form);
    free(jwt);
    prov_google_sa_free(sa);
    t_gkeys_free(&k);
}
END_TEST

START_TEST(token_replies)
{
    char err[256], *tok;
    long ttl;
    static const char ok[] = "{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":"
                             "\"Bearer\"}";
    static const char bad[] = "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT "
                              "Signature.\"}";

    ck_assert_int_eq(prov_google_token_reply(200, ok, strlen(ok), &tok, &ttl, err, sizeof(err)), 0);
    ck_assert_str_eq(tok, "ya29.x");
    ck_assert_int_eq(ttl, 3599);
    free(tok);
    ck_assert_int_eq(
        prov_google_token_reply(200, "{\"access_token\":\"t\"}", 20, &tok, &ttl, err, sizeof(err)),
        0);
    ck_assert_int_eq(ttl, 3600);
    free(tok);
    ck_assert_int_eq(prov_google_token_reply(400, bad, strlen(bad), &tok, &ttl, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(tok);
    ck_assert_str_eq(err, "the token endpoint answered HTTP 400: invalid_grant: Invalid JWT "
                          "Signature.");
    ck_assert_int_eq(prov_google_token_reply(503, "down\n", 5, &tok, &ttl, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the token endpoint answered HTTP 503");
    ck_assert_int_eq(prov_google_token_reply(200, "{}", 2, &tok, &ttl, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the token endpoint's reply has no access_token");
    ck_assert_int_eq(prov_google_token_reply(200, "{\"access_token\":\"t\",\"expires_in\":0}", 34,
                                             &tok, &ttl, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(tok);
}
END_TEST

/* ---- Anthropic on Vertex AI ---- */

struct vbuilt {
    int rc;
    char err[256];
    struct prov_http h;
    json_t *body;
};

static void vbuild(struct vbuilt *b, const struct prov_conf *c, bool native, bool stream,
                   const char *bearer, const char *req)
{
    struct prov_chat_in in = {.model = "claude-x@2025", .stream = stream, .bearer = bearer};
    const struct prov_dialect_ops *d = native ? prov_dialect_native_messages(c->info->dialect)
                                              : prov_dialect_get(c->info->dialect);
    bool cu = false;

    memset(b, 0, sizeof(*b));
    ck_assert_ptr_nonnull(d);
    in.req = json_loads(req, 0, NULL);
    ck_assert_ptr_nonnull(in.req);
    b->rc = d->chat_build(c, &in, &cu, &b->h, b->err, sizeof(b->err));
    if (b->rc == 0)
        b->body = json_loadb(b->h.body, b->h.body_len, 0, NULL);
    json_decref(in.req);
}

static const char *vheader(const struct prov_http *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

static void vfree(struct vbuilt *b)
{
    prov_http_cleanup(&b->h);
    json_decref(b->body);
}

START_TEST(vertex_anthropic_requests)
{
    struct t_gkeys k;
    char path[160];
    struct prov_confs *pc;
    const struct prov_conf *c;
    struct vbuilt b;
    static const char chat[] = "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"Hi\"}],\"max_tokens\":5}";
    static const struct {
        const char *region, *url;
    } hosts[] = {
        {"us-east5", "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/"
                     "us-east5/publishers/anthropic/models/claude-x@2025:rawPredict"},
        {"global", "https://aiplatform.googleapis.com/v1/projects/proj/locations/global/"
                   "publishers/anthropic/models/claude-x@2025:rawPredict"},
        {"eu", "https://aiplatform.eu.rep.googleapis.com/v1/projects/proj/locations/eu/"
               "publishers/anthropic/models/claude-x@2025:rawPredict"},
    };

    t_gclear_env();
    ck_assert_ptr_eq(prov_dialect_get(PROV_D_ANTHROPIC_VERTEX), prov_dialect_get(PROV_D_ANTHROPIC));
    t_gkeys_init(&k);
    snprintf(path, sizeof(path), "%s/sa.json", k.dir);
    t_gsa_write(t_gsa_json(k.key, NULL, NULL), path);
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        pc = t_gconfs(json_pack("{s:{s:s,s:s,s:s}}", "vertexaianthropic", "credentials", path,
                                "project_id", "proj", "region", hosts[i].region));
        c = t_gconf(pc, "vertexaianthropic");
        ck_assert_ptr_null(c->problem);
        vbuild(&b, c, false, false, "tok-1", chat);
        ck_assert_msg(b.rc == 0, "%s", b.err);
        ck_assert_str_eq(b.h.url, hosts[i].url);
        ck_assert_str_eq(vheader(&b.h, "Authorization"), "Bearer tok-1");
        ck_assert_ptr_null(vheader(&b.h, "x-api-key"));
        ck_assert_ptr_null(vheader(&b.h, "anthropic-version"));
        ck_assert_ptr_null(json_object_get(b.body, "model"));
        ck_assert_str_eq(json_string_value(json_object_get(b.body, "anthropic_version")),
                         "vertex-2023-10-16");
        ck_assert_int_eq(json_integer_value(json_object_get(b.body, "max_tokens")), 5);
        vfree(&b);
        prov_confs_free(pc);
    }
    /* A base URL (a proxy, a test fake) replaces the host; streams use streamRawPredict. */
    pc = t_gconfs(json_pack("{s:{s:s,s:s,s:s}}", "vertexaianthropic", "credentials", path,
                            "project_id", "proj", "api_base", "http://127.0.0.1:9/"));
    c = t_gconf(pc, "vertexaianthropic");
    vbuild(&b, c, false, true, "tok-2", chat);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v1/projects/proj/locations/us-central1/"
                              "publishers/anthropic/models/claude-x@2025:streamRawPredict");
    ck_assert(json_is_true(json_object_get(b.body, "stream")));
    vfree(&b);
    /* The native /v1/messages table: the client's body without model, with the version. */
    vbuild(&b, c, true, false, "tok-3",
           "{\"model\":\"vertexaianthropic:claude-x@2025\",\"max_tokens\":9,\"messages\":[]}");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v1/projects/proj/locations/us-central1/"
                              "publishers/anthropic/models/claude-x@2025:rawPredict");
    ck_assert_ptr_null(json_object_get(b.body, "model"));
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "anthropic_version")),
                     "vertex-2023-10-16");
    ck_assert_str_eq(vheader(&b.h, "Authorization"), "Bearer tok-3");
    vfree(&b);
    /* No access token: a settings error naming it, never a call without credentials. */
    vbuild(&b, c, false, false, NULL, chat);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "no access token"));
    vfree(&b);
    prov_confs_free(pc);
    t_gkeys_free(&k);
}
END_TEST

Suite *google_suite(void)
{
    Suite *s = suite_create("google");
    TCase *tc = tcase_create("conf");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, conf_path_inline_mapping);
    tcase_add_test(tc, conf_environment);
    tcase_add_test(tc, conf_problems);
    suite_add_tcase(s, tc);

    tc = tcase_create("jwt");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jwt_signed_and_claims);
    tcase_add_test(tc, token_replies);
    tcase_add_test(tc, vertex_anthropic_requests);
    suite_add_tcase(s, tc);

    return s;
}
