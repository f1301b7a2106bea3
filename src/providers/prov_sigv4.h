/*
 * AWS Signature Version 4 (providers.md §7.1) for header-signed requests: HMAC-SHA256 and
 * SHA-256 through OpenSSL libcrypto (never hand-written). Pure: no clock, no I/O; the caller
 * passes the signing time. No x-amz-content-sha256 header is added (Bedrock and SageMaker do not
 * require it; the payload hash is still part of the canonical request). Error messages never
 * hold a secret (secret key, session token, signature).
 */
#ifndef PROV_SIGV4_H
#define PROV_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "httpc.h"

struct prov_http;

/* Credentials; every string borrowed. session_token NULL or "": long-term keys. */
struct prov_aws_creds {
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    const char *region;
};

#define PROV_SIGV4_DATE_LEN 17 /* "YYYYMMDDTHHMMSSZ" + NUL */
#define PROV_SIGV4_HEX_LEN 65  /* 64 hex digits + NUL */

/* One signature and its intermediate strings (owned; free with prov_sigv4_free()). */
struct prov_sigv4 {
    char amz_date[PROV_SIGV4_DATE_LEN]; /* the x-amz-date value */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "content-type;host;x-amz-date" */
    char *authorization;  /* the Authorization header value */
    char signature[PROV_SIGV4_HEX_LEN];
};

/*
 * Signs method url with the given request headers and body (body may be NULL when body_len is
 * 0) at time now, for service ("bedrock", "sagemaker") in c->region. Signed: content-type, every
 * x-amz-* header given, host (taken from the URL, with its port unless it is the scheme's
 * default), x-amz-date and, with a session token, x-amz-security-token; other headers (Accept,
 * custom ones) are sent unsigned. Names are lowercased, values trimmed with inner runs of spaces
 * collapsed, repeated names joined with ','. The canonical URI is the URL's (already encoded) path
 * encoded again (every byte but A-Z a-z 0-9 - . _ ~ / as %XX, so '%' becomes %25); the query's
 * pairs are decoded ('+' as space), encoded the same way (but '/' too) and sorted. The headers
 * must not include Host, Authorization, X-Amz-Date or X-Amz-Security-Token (the signer sets them).
 * Returns 0 with out filled, or -1 with a reason in err (no secret in it) and out zeroed.
 */
int prov_sigv4_compute(const struct prov_aws_creds *c, const char *service, const char *method,
                       const char *url, const struct httpc_header *headers, size_t nheaders,
                       const void *body, size_t body_len, time_t now, struct prov_sigv4 *out,
                       char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees what prov_sigv4_compute() filled in s and zeroes it; s may be NULL. */
void prov_sigv4_free(struct prov_sigv4 *s);

/*
 * Signs the request h (h->url, h->body, h->headers) as method at time now and appends the headers
 * the signature needs: X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization.
 * Returns 0, or -1 with a reason in err (h unchanged on a signing error; on a full header table
 * some of the three may have been added: the request must not be sent).
 */
int prov_sigv4_sign(const struct prov_aws_creds *c, const char *service, const char *method,
                    time_t now, struct prov_http *h, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * s percent-encoded as one URL path segment (a Bedrock model id or ARN): every byte but
 * A-Z a-z 0-9 - . _ ~ as %XX (uppercase hex), so ':' is %3A and '/' is %2F. Returns an owned
 * string, or NULL when out of memory.
 */
char *prov_sigv4_encode_segment(const char *s);

#endif
