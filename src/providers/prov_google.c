/*
 * Google service-account keys, the jwt-bearer assertion and the token reply (contract in
 * prov_google.h). Cryptography is OpenSSL libcrypto's: PEM parsing, SHA-256 RSA signatures and
 * base64.
 */
#include "providers/prov_google.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"

#define GOOGLE_MAX_KEY_FILE (256 * 1024) /* a service-account file is about 2.3 KB */

void prov_google_sa_free(struct prov_google_sa *sa)
{
    if (sa == NULL)
        return;
    free(sa->client_email);
    free(sa->private_key_id);
    free(sa->token_uri);
    free(sa->project_id);
    EVP_PKEY_free(sa->key);
    free(sa);
}

/* A string field of the key: owned copy, NULL when absent or empty (*oom set when out of memory).
 */
static char *google_field(const json_t *o, const char *name, bool *oom)
{
    const char *s = json_string_value(json_object_get(o, name));
    char *d;

    if (s == NULL || s[0] == '\0')
        return NULL;
    if ((d = strdup(s)) == NULL)
        *oom = true;
    return d;
}

/* The RSA private key of a PEM string (PKCS#8 or PKCS#1), or NULL. */
static EVP_PKEY *google_pem_key(const char *pem, size_t len)
{
    BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    EVP_PKEY *k;

    if (b == NULL)
        return NULL;
    /* A passphrase-protected key has no passphrase here: the empty callback refuses it. */
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
    BIO_free(b);
    if (k != NULL && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* The account of a parsed key object; where names it in messages ("credentials file x"). */
static struct prov_google_sa *google_sa_of(const json_t *o, const char *where, char *err,
                                           size_t errlen)
{
    struct prov_google_sa *sa;
    const char *type = json_string_value(json_object_get(o, "type"));
    const json_t *pem = json_object_get(o, "private_key");
    bool oom = false;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s is not a JSON object", where);
        return NULL;
    }
    if (type != NULL && strcmp(type, "service_account") != 0) {
        snprintf(err, errlen,
                 "%s has type '%.40s': only service-account keys (\"type\": "
                 "\"service_account\") are supported",
                 where, type);
        return NULL;
    }
    if ((sa = calloc(1, sizeof(*sa))) == NULL)
        goto oom;
    sa->client_email = google_field(o, "client_email", &oom);
    sa->private_key_id = google_field(o, "private_key_id", &oom);
    sa->token_uri = google_field(o, "token_uri", &oom);
    sa->project_id = google_field(o, "project_id", &oom);
    if (oom || (sa->token_uri == NULL && (sa->token_uri = strdup(PROV_GOOGLE_TOKEN_URI)) == NULL))
        goto oom;
    if (sa->client_email == NULL) {
        snprintf(err, errlen, "%s has no client_email", where);
        goto fail;
    }
    if (!json_is_string(pem) || json_string_length(pem) == 0) {
        snprintf(err, errlen, "%s has no private_key", where);
        goto fail;
    }
    if ((sa->key = google_pem_key(json_string_value(pem), json_string_length(pem))) == NULL) {
        snprintf(err, errlen, "%s: private_key is not a PEM RSA private key", where);
        goto fail;
    }
    return sa;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    prov_google_sa_free(sa);
    return NULL;
}

/* The whole file at path (NUL-terminated, owned), or NULL with a reason. */
static char *google_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read credentials file '%.200s': %s", path, strerror(errno));
        return NULL;
    }
    if ((buf = malloc(GOOGLE_MAX_KEY_FILE + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    n = fread(buf, 1, GOOGLE_MAX_KEY_FILE + 1, f);
    if (ferror(f) || n > GOOGLE_MAX_KEY_FILE) {
        snprintf(err, errlen, "cannot read credentials file '%.200s': %s", path,
                 ferror(f) ? "read error" : "larger than 256 KB");
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    *len = n;
out:
    fclose(f);
    return buf;
}

/* Parses JSON text; the reason gives only the position (a snippet could be key material). */
static json_t *google_parse(const char *text, size_t len, const char *where, char *err,
                            size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);

    if (j == NULL)
        snprintf(err, errlen, "%s is not valid JSON (line %d, column %d)", where, je.line,
                 je.column);
    return j;
}

struct prov_google_sa *prov_google_sa_load(const json_t *v, char *err, size_t errlen)
{
    struct prov_google_sa *sa = NULL;
    char where[256], *text = NULL;
    const char *s = json_string_value(v);
    size_t len = 0;
    json_t *j = NULL;

    if (json_is_object(v))
        return google_sa_of(v, "credentials", err, errlen);
    if (s == NULL || s[0] == '\0') {
        snprintf(err, errlen, "credentials must be a file path, a JSON string or a mapping");
        return NULL;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s == '{') {
        snprintf(where, sizeof(where), "inline credentials");
        j = google_parse(s, strlen(s), where, err, errlen);
    } else {
        snprintf(where, sizeof(where), "credentials file '%.200s'", s);
        if ((text = google_read_file(s, &len, err, errlen)) != NULL)
            j = google_parse(text, len, where, err, errlen);
    }
    if (j != NULL)
        sa = google_sa_of(j, where, err, errlen);
    if (text != NULL) {
        /* The buffer held the private key: wipe it before it goes back to the allocator. */
        OPENSSL_cleanse(text, len);
        free(text);
    }
    json_decref(j);
    return sa;
}

char *prov_google_b64url(const unsigned char *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1, o = 0;
    char *s = malloc(cap);
    int w;

    if (s == NULL || n > INT32_MAX / 2) {
        free(s);
        return NULL;
    }
    w = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    for (int i = 0; i < w; i++) {
        if (s[i] == '=')
            break;
        s[o++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[o] = '\0';
    return s;
}

static char *google_b64url_json(const json_t *j)
{
    char *text = jw_dumps(j, NULL), *s;

    if (text == NULL)
        return NULL;
    s = prov_google_b64url((const unsigned char *)text, strlen(text));
    free(text);
    return s;
}

/* The RS256 signature of data, base64url; NULL when libcrypto fails. */
static char *google_sign(EVP_PKEY *key, const char *data, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t n = 0;
    char *s = NULL;

    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)data, len) != 1 ||
        (sig = malloc(n)) == NULL ||
        EVP_DigestSign(ctx, sig, &n, (const unsigned char *)data, len) != 1)
        goto out;
    s = prov_google_b64url(sig, n);
out:
    free(sig);
    EVP_MD_CTX_free(ctx);
    return s;
}

char *prov_google_jwt(const struct prov_google_sa *sa, const char *aud, int64_t now, char *err,
                      size_t errlen)
{
    json_t *hdr =
        json_pack("{s:s,s:s,s:s*}", "alg", "RS256", "typ", "JWT", "kid", sa->private_key_id);
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", sa->client_email, "scope",
                               PROV_GOOGLE_SCOPE, "aud", aud, "iat", (json_int_t)now, "exp",
                               (json_int_t)(now + PROV_GOOGLE_JWT_LIFETIME));
    char *h = NULL, *c = NULL, *sig = NULL, *signed_part = NULL, *jwt = NULL;
    size_t n = 0;

    if (hdr == NULL || claims == NULL || (h = google_b64url_json(hdr)) == NULL ||
        (c = google_b64url_json(claims)) == NULL ||
        (signed_part = malloc((n = strlen(h) + 1 + strlen(c)) + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(signed_part, n + 1, "%s.%s", h, c);
    if ((sig = google_sign(sa->key, signed_part, n)) == NULL) {
        snprintf(err, errlen, "cannot sign the token request (libcrypto)");
        goto out;
    }
    if ((jwt = malloc(n + strlen(sig) + 2)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(jwt, n + strlen(sig) + 2, "%s.%s", signed_part, sig);
out:
    free(h);
    free(c);
    free(sig);
    free(signed_part);
    json_decref(hdr);
    json_decref(claims);
    return jwt;
}

char *prov_google_token_form(const char *jwt)
{
    static const char pre[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                              "&assertion=";
    size_t n = sizeof(pre) + strlen(jwt);
    char *s = malloc(n);

    /* A JWT is base64url and dots: nothing in it needs form encoding. */
    if (s != NULL)
        snprintf(s, n, "%s%s", pre, jwt);
    return s;
}

int prov_google_token_reply(int status, const char *body, size_t len, char **token,
                            long *expires_in, char *err, size_t errlen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *tok = json_object_get(j, "access_token"), *exp = json_object_get(j, "expires_in");
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "error_description"));
    char line[200];
    int rc = -1;

    *token = NULL;
    *expires_in = 0;
    if (status < 200 || status > 299) {
        if (e == NULL)
            e = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        prov_copy_line(line, sizeof(line), e != NULL ? e : "", e != NULL ? strlen(e) : 0);
        snprintf(err, errlen, "the token endpoint answered HTTP %d%s%s", status,
                 line[0] != '\0' ? ": " : "", line);
        if (d != NULL && strlen(err) + 3 < errlen) {
            prov_copy_line(line, sizeof(line), d, strlen(d));
            snprintf(err + strlen(err), errlen - strlen(err), ": %s", line);
        }
        goto out;
    }
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        snprintf(err, errlen, "the token endpoint's reply has no access_token");
        goto out;
    }
    if (exp == NULL) {
        *expires_in = PROV_GOOGLE_JWT_LIFETIME;
    } else if (json_is_integer(exp) && json_integer_value(exp) > 0) {
        *expires_in =
            json_integer_value(exp) > 86400 * 365 ? 86400L * 365 : (long)json_integer_value(exp);
    } else {
        snprintf(err, errlen, "the token endpoint's reply has an invalid expires_in");
        goto out;
    }
    if ((*token = strdup(json_string_value(tok))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

char *prov_google_path_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), o = 0;
    char *d = malloc(3 * n + 1);

    if (d == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~@", *p) != NULL) {
            d[o++] = (char)*p;
        } else {
            d[o++] = '%';
            d[o++] = hex[*p >> 4];
            d[o++] = hex[*p & 15];
        }
    }
    d[o] = '\0';
    return d;
}

char *prov_google_vertex_base(const struct prov_conf *pc, char *err, size_t errlen)
{
    const char *loc = pc->location != NULL ? pc->location : "us-central1";
    char root[300];
    char *out;
    size_t n;

    if (pc->project == NULL) {
        snprintf(err, errlen,
                 "provider '%s' has no Google Cloud project: set providers.%s.%s or "
                 "GOOGLE_CLOUD_PROJECT",
                 pc->info->id, pc->info->id,
                 pc->info->dialect == PROV_D_ANTHROPIC_VERTEX ? "project_id" : "project");
        return NULL;
    }
    if (pc->base_url != NULL)
        snprintf(root, sizeof(root), "%s", pc->base_url);
    else if (strcmp(loc, "global") == 0)
        snprintf(root, sizeof(root), "https://aiplatform.googleapis.com");
    else if (strcmp(loc, "us") == 0 || strcmp(loc, "eu") == 0)
        snprintf(root, sizeof(root), "https://aiplatform.%s.rep.googleapis.com", loc);
    else
        snprintf(root, sizeof(root), "https://%.100s-aiplatform.googleapis.com", loc);
    n = strlen(pc->base_url != NULL ? pc->base_url : root) + strlen(pc->project) + strlen(loc) +
        sizeof("/v1/projects//locations/");
    if ((out = malloc(n)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(out, n, "%s/v1/projects/%s/locations/%s", pc->base_url != NULL ? pc->base_url : root,
             pc->project, loc);
    return out;
}
