/*
 * AWS Signature Version 4 over OpenSSL's HMAC() and src/sha256.h. See prov_sigv4.h for the
 * rules; the steps follow providers.md §7.1: canonical request, string to sign, key derivation,
 * signature, Authorization header.
 */
#include "providers/prov_sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/prov_dialect.h"
#include "sha256.h"

/* A growable string; oom latches so a build can check once at its end. */
struct sv_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sv_add(struct sv_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        char *np;

        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sv_str(struct sv_buf *b, const char *s)
{
    sv_add(b, s, strlen(s));
}

/* The finished string (owned by the caller), or NULL when memory ran out on the way. */
static char *sv_take(struct sv_buf *b)
{
    char *p;

    if (b->oom || b->p == NULL) {
        if (!b->oom && (p = strdup("")) != NULL)
            return p;
        free(b->p);
        *b = (struct sv_buf){0};
        return NULL;
    }
    p = b->p;
    *b = (struct sv_buf){0};
    return p;
}

static bool sv_unreserved(unsigned char c)
{
    /* Explicit ranges: isalnum() depends on the locale. */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* n bytes of s percent-encoded (every byte but the unreserved ones and, when keep_slash, '/'). */
static void sv_encode(struct sv_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (sv_unreserved(c) || (keep_slash && c == '/')) {
            sv_add(b, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            sv_add(b, e, 3);
        }
    }
}

char *prov_sigv4_encode_segment(const char *s)
{
    struct sv_buf b = {0};

    sv_encode(&b, s, strlen(s), false);
    return sv_take(&b);
}

static int sv_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n bytes of a query key or value decoded ('+' as space, a malformed '%' kept) then re-encoded. */
static void sv_requery(struct sv_buf *b, const char *s, size_t n)
{
    struct sv_buf raw = {0};

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && sv_hexval(s[i + 1]) >= 0 && sv_hexval(s[i + 2]) >= 0) {
            c = (char)(sv_hexval(s[i + 1]) * 16 + sv_hexval(s[i + 2]));
            i += 2;
        }
        sv_add(&raw, &c, 1);
    }
    if (raw.oom)
        b->oom = true;
    else
        sv_encode(b, raw.p ? raw.p : "", raw.len, false);
    free(raw.p);
}

/* One query pair or one header, encoded/normalised. */
struct sv_pair {
    char *k, *v;
    size_t idx; /* input order, so equal keys keep it (stable sort) */
};

static int sv_pair_cmp(const void *a, const void *b)
{
    const struct sv_pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);

    if (c == 0)
        c = strcmp(x->v, y->v);
    return c;
}

static int sv_header_cmp(const void *a, const void *b)
{
    const struct sv_pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);

    if (c == 0)
        c = x->idx < y->idx ? -1 : x->idx > y->idx;
    return c;
}

static void sv_pairs_free(struct sv_pair *p, size_t n)
{
    for (size_t i = 0; p != NULL && i < n; i++) {
        free(p[i].k);
        free(p[i].v);
    }
    free(p);
}

/* The canonical query string of q (n bytes, without '?'). NULL: out of memory. */
static char *sv_canon_query(const char *q, size_t n)
{
    struct sv_pair *pairs = NULL;
    size_t np = 0, cap = 0;
    struct sv_buf out = {0};
    bool oom = false;

    for (size_t i = 0; i < n && !oom;) {
        size_t j = i, eq;
        struct sv_buf k = {0}, v = {0};

        while (j < n && q[j] != '&')
            j++;
        if (j > i) {
            eq = i;
            while (eq < j && q[eq] != '=')
                eq++;
            sv_requery(&k, q + i, eq - i);
            sv_requery(&v, eq < j ? q + eq + 1 : "", eq < j ? j - eq - 1 : 0);
            if (np == cap) {
                struct sv_pair *g = realloc(pairs, (cap ? cap * 2 : 8) * sizeof(*g));

                if (g == NULL) {
                    free(k.p);
                    free(v.p);
                    oom = true;
                    break;
                }
                pairs = g;
                cap = cap ? cap * 2 : 8;
            }
            pairs[np].k = sv_take(&k);
            pairs[np].v = sv_take(&v);
            oom = pairs[np].k == NULL || pairs[np].v == NULL;
            np++;
        }
        i = j + 1;
    }
    if (!oom) {
        if (np > 1)
            qsort(pairs, np, sizeof(*pairs), sv_pair_cmp);
        for (size_t i = 0; i < np; i++) {
            if (i > 0)
                sv_add(&out, "&", 1);
            sv_str(&out, pairs[i].k);
            sv_add(&out, "=", 1);
            sv_str(&out, pairs[i].v);
        }
    }
    sv_pairs_free(pairs, np);
    if (oom) {
        free(out.p);
        return NULL;
    }
    return sv_take(&out);
}

/* The parts of an http(s) URL the signature needs. */
struct sv_url {
    char host[300]; /* lowercase host[:port] as the Host header carries it */
    const char *path, *query;
    size_t path_len, query_len;
};

static int sv_parse_url(const char *url, struct sv_url *u, char *err, size_t errlen)
{
    const char *a, *end, *at, *port = NULL, *hend;
    bool https;
    size_t hlen;

    if (strncasecmp(url, "https://", 8) == 0) {
        https = true;
        a = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        https = false;
        a = url + 7;
    } else {
        snprintf(err, errlen, "sigv4: the URL is not http(s)");
        return -1;
    }
    end = a + strcspn(a, "/?#");
    for (at = end; at > a; at--)
        if (at[-1] == '@')
            break;
    if (at > a)
        a = at; /* drop userinfo */
    if (*a == '[') {
        hend = memchr(a, ']', (size_t)(end - a));
        if (hend == NULL) {
            snprintf(err, errlen, "sigv4: bad IPv6 host in the URL");
            return -1;
        }
        hend++;
    } else {
        hend = memchr(a, ':', (size_t)(end - a));
        if (hend == NULL)
            hend = end;
    }
    if (hend < end && *hend == ':')
        port = hend + 1;
    if (hend == a) {
        snprintf(err, errlen, "sigv4: the URL has no host");
        return -1;
    }
    /* The default port is left out, as curl leaves it out of its Host header. */
    if (port != NULL &&
        (port == end || ((size_t)(end - port) == 3 && https && memcmp(port, "443", 3) == 0) ||
         ((size_t)(end - port) == 2 && !https && memcmp(port, "80", 2) == 0)))
        hlen = (size_t)(hend - a);
    else
        hlen = (size_t)(end - a);
    if (hlen >= sizeof(u->host)) {
        snprintf(err, errlen, "sigv4: the URL's host is too long");
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        u->host[i] = (char)tolower((unsigned char)a[i]);
    u->host[hlen] = '\0';
    u->path = end;
    u->path_len = strcspn(end, "?#");
    u->query = end + u->path_len;
    u->query_len = 0;
    if (*u->query == '?') {
        u->query++;
        u->query_len = strcspn(u->query, "#");
    }
    return 0;
}

/* The header value trimmed, with inner runs of spaces and tabs collapsed to one space. */
static char *sv_trim(const char *v)
{
    struct sv_buf b = {0};
    bool space = false;

    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v != '\0'; v++) {
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space)
            sv_add(&b, " ", 1);
        space = false;
        sv_add(&b, v, 1);
    }
    return sv_take(&b);
}

static char *sv_lower(const char *s)
{
    char *d = strdup(s);

    for (char *p = d; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static bool sv_signed_name(const char *lname)
{
    return strcmp(lname, "content-type") == 0 || strncmp(lname, "x-amz-", 6) == 0;
}

static bool sv_reserved_name(const char *lname)
{
    return strcmp(lname, "host") == 0 || strcmp(lname, "authorization") == 0 ||
           strcmp(lname, "x-amz-date") == 0 || strcmp(lname, "x-amz-security-token") == 0;
}

/* Appends "name:value\n" lines (sorted, merged) to canon and the names to signed_list. */
static int sv_canon_headers(const struct httpc_header *hs, size_t nh, const char *host,
                            const char *date, const char *token, struct sv_buf *canon,
                            struct sv_buf *signed_list, char *err, size_t errlen)
{
    struct sv_pair *p = calloc(nh + 3, sizeof(*p));
    size_t n = 0;
    int rc = -1;

    if (p == NULL)
        goto oom;
    for (size_t i = 0; i < nh; i++) {
        char *l = sv_lower(hs[i].name ? hs[i].name : "");

        if (l == NULL)
            goto oom;
        if (sv_reserved_name(l)) {
            snprintf(err, errlen, "sigv4: header '%s' is set by the signer", l);
            free(l);
            goto done;
        }
        if (!sv_signed_name(l)) {
            free(l);
            continue;
        }
        p[n] = (struct sv_pair){l, sv_trim(hs[i].value ? hs[i].value : ""), i};
        if (p[n++].v == NULL)
            goto oom;
    }
    p[n] = (struct sv_pair){strdup("host"), strdup(host), nh};
    p[n + 1] = (struct sv_pair){strdup("x-amz-date"), strdup(date), nh + 1};
    n += 2;
    if (token != NULL) {
        p[n] = (struct sv_pair){strdup("x-amz-security-token"), sv_trim(token), nh + 2};
        n++;
    }
    for (size_t i = 0; i < n; i++)
        if (p[i].k == NULL || p[i].v == NULL)
            goto oom;
    qsort(p, n, sizeof(*p), sv_header_cmp);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && strcmp(p[i].k, p[i - 1].k) == 0;

        if (same) {
            sv_add(canon, ",", 1);
        } else {
            if (i > 0) {
                sv_add(canon, "\n", 1);
                sv_add(signed_list, ";", 1);
            }
            sv_str(canon, p[i].k);
            sv_add(canon, ":", 1);
            sv_str(signed_list, p[i].k);
        }
        sv_str(canon, p[i].v);
    }
    sv_add(canon, "\n", 1);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "sigv4: out of memory");
done:
    sv_pairs_free(p, n);
    return rc;
}

static int sv_hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) ==
            NULL ||
        n != 32)
        return -1;
    return 0;
}

/* Signature hex of sts with the key derived from secret, date (YYYYMMDD), region, service. */
static int sv_signature(const char *secret, const char *day, const char *region,
                        const char *service, const char *sts, char hex[PROV_SIGV4_HEX_LEN])
{
    unsigned char k[32], sig[32];
    size_t slen = strlen(secret);
    char *k0 = malloc(slen + 5);
    int rc = -1;

    if (k0 == NULL)
        return -1;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen + 1);
    if (sv_hmac(k0, slen + 4, day, k) == 0 && sv_hmac(k, 32, region, k) == 0 &&
        sv_hmac(k, 32, service, k) == 0 && sv_hmac(k, 32, "aws4_request", k) == 0 &&
        sv_hmac(k, 32, sts, sig) == 0) {
        sha256_to_hex(sig, 32, hex);
        rc = 0;
    }
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(k, sizeof(k));
    free(k0);
    return rc;
}

static bool sv_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

int prov_sigv4_compute(const struct prov_aws_creds *c, const char *service, const char *method,
                       const char *url, const struct httpc_header *headers, size_t nheaders,
                       const void *body, size_t body_len, time_t now, struct prov_sigv4 *out,
                       char *err, size_t errlen)
{
    struct sv_url u;
    struct sv_buf canon = {0}, signed_list = {0}, sts = {0}, auth = {0};
    char *query = NULL, day[9], scope_hash[SHA256_HEX_LEN], body_hash[SHA256_HEX_LEN];
    unsigned char d[SHA256_DIGEST_LEN];
    const char *token;
    struct tm tm;

    *out = (struct prov_sigv4){0};
    if (sv_empty(c->access_key) || sv_empty(c->secret_key) || sv_empty(c->region) ||
        sv_empty(service) || sv_empty(method) || url == NULL) {
        snprintf(err, errlen, "sigv4: %s is missing",
                 sv_empty(c->access_key)   ? "the access key id"
                 : sv_empty(c->secret_key) ? "the secret access key"
                 : sv_empty(c->region)     ? "the region"
                 : sv_empty(service)       ? "the service"
                 : sv_empty(method)        ? "the method"
                                           : "the URL");
        return -1;
    }
    if (sv_parse_url(url, &u, err, errlen) != 0)
        return -1;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        snprintf(err, errlen, "sigv4: the signing time is out of range");
        return -1;
    }
    memcpy(day, out->amz_date, 8);
    day[8] = '\0';
    token = sv_empty(c->session_token) ? NULL : c->session_token;
    if (sha256_digest(body_len ? body : "", body_len, d) != 0)
        goto oom;
    sha256_to_hex(d, sizeof(d), body_hash);
    if ((query = sv_canon_query(u.query, u.query_len)) == NULL)
        goto oom;

    /* 1. Canonical request. */
    sv_str(&canon, method);
    sv_add(&canon, "\n", 1);
    if (u.path_len == 0)
        sv_add(&canon, "/", 1);
    else
        sv_encode(&canon, u.path, u.path_len, true);
    sv_add(&canon, "\n", 1);
    sv_str(&canon, query);
    sv_add(&canon, "\n", 1);
    if (sv_canon_headers(headers, nheaders, u.host, out->amz_date, token, &canon, &signed_list, err,
                         errlen) != 0)
        goto fail;
    sv_add(&canon, "\n", 1);
    sv_add(&canon, signed_list.p ? signed_list.p : "", signed_list.len);
    sv_add(&canon, "\n", 1);
    sv_str(&canon, body_hash);
    if (canon.oom || signed_list.oom)
        goto oom;

    /* 2. String to sign. */
    if (sha256_digest(canon.p, canon.len, d) != 0)
        goto oom;
    sha256_to_hex(d, sizeof(d), scope_hash);
    sv_str(&sts, "AWS4-HMAC-SHA256\n");
    sv_str(&sts, out->amz_date);
    sv_add(&sts, "\n", 1);
    sv_str(&sts, day);
    sv_add(&sts, "/", 1);
    sv_str(&sts, c->region);
    sv_add(&sts, "/", 1);
    sv_str(&sts, service);
    sv_str(&sts, "/aws4_request\n");
    sv_str(&sts, scope_hash);
    if (sts.oom)
        goto oom;

    /* 3. Signature and 4. Authorization. */
    if (sv_signature(c->secret_key, day, c->region, service, sts.p, out->signature) != 0)
        goto oom;
    sv_str(&auth, "AWS4-HMAC-SHA256 Credential=");
    sv_str(&auth, c->access_key);
    sv_add(&auth, "/", 1);
    sv_str(&auth, day);
    sv_add(&auth, "/", 1);
    sv_str(&auth, c->region);
    sv_add(&auth, "/", 1);
    sv_str(&auth, service);
    sv_str(&auth, "/aws4_request, SignedHeaders=");
    sv_str(&auth, signed_list.p);
    sv_str(&auth, ", Signature=");
    sv_str(&auth, out->signature);
    out->canonical_request = sv_take(&canon);
    out->string_to_sign = sv_take(&sts);
    out->signed_headers = sv_take(&signed_list);
    out->authorization = sv_take(&auth);
    free(query);
    if (out->canonical_request == NULL || out->string_to_sign == NULL ||
        out->signed_headers == NULL || out->authorization == NULL) {
        prov_sigv4_free(out);
        snprintf(err, errlen, "sigv4: out of memory");
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "sigv4: out of memory");
fail:
    free(query);
    free(canon.p);
    free(signed_list.p);
    free(sts.p);
    free(auth.p);
    prov_sigv4_free(out);
    return -1;
}

void prov_sigv4_free(struct prov_sigv4 *s)
{
    if (s == NULL)
        return;
    free(s->canonical_request);
    free(s->string_to_sign);
    free(s->signed_headers);
    free(s->authorization);
    OPENSSL_cleanse(s, sizeof(*s));
    *s = (struct prov_sigv4){0};
}

int prov_sigv4_sign(const struct prov_aws_creds *c, const char *service, const char *method,
                    time_t now, struct prov_http *h, char *err, size_t errlen)
{
    struct prov_sigv4 s;
    int rc;

    if (prov_sigv4_compute(c, service, method, h->url, h->headers, h->nheaders, h->body,
                           h->body_len, now, &s, err, errlen) != 0)
        return -1;
    rc = prov_http_add_owned(h, "X-Amz-Date", strdup(s.amz_date));
    if (rc == 0 && !sv_empty(c->session_token))
        rc = prov_http_add_owned(h, "X-Amz-Security-Token", strdup(c->session_token));
    if (rc == 0) {
        rc = prov_http_add_owned(h, "Authorization", s.authorization);
        s.authorization = NULL; /* owned by h now, or freed */
    }
    prov_sigv4_free(&s);
    if (rc != 0)
        snprintf(err, errlen, "sigv4: out of memory or too many headers");
    return rc;
}
