/*
 * Google service accounts (providers.md §6.2): the JSON key read once at start-up (the private key
 * parsed by OpenSSL libcrypto and kept only as an EVP_PKEY), the RS256-signed JWT of the
 * jwt-bearer grant, the token request's form body and the token endpoint's reply. Pure functions
 * (no sockets); the asynchronous fetch and the cache are prov_token.c's. Key material never
 * reaches an error message.
 */
#ifndef PROV_GOOGLE_H
#define PROV_GOOGLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "providers/prov_conf.h"

#define PROV_GOOGLE_TOKEN_URI "https://oauth2.googleapis.com/token"
#define PROV_GOOGLE_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define PROV_GOOGLE_JWT_LIFETIME 3600 /* seconds: Google's maximum */

/* A service account (owned, free with prov_google_sa_free()). */
struct prov_google_sa {
    char *client_email;
    char *private_key_id; /* the JWT header's kid; NULL when the file has none */
    char *token_uri;      /* the file's token_uri, else PROV_GOOGLE_TOKEN_URI */
    char *project_id;     /* the file's project_id (a fallback for the project); NULL if none */
    EVP_PKEY *key;        /* the RSA private key */
};

/*
 * Loads a service account from v: a string naming a JSON key file, a string holding the JSON
 * itself (it starts with '{'), or an object (a YAML mapping). Returns the account (owned), or
 * NULL with a one-line reason in err (the file cannot be read, not JSON, not a service account,
 * a field missing, a private key libcrypto cannot parse, out of memory); the reason names the
 * file or the field, never key material.
 */
struct prov_google_sa *prov_google_sa_load(const json_t *v, char *err, size_t errlen);

void prov_google_sa_free(struct prov_google_sa *sa);

/*
 * Base64url without padding (RFC 7515 §2) of n bytes. Returns an owned NUL-terminated string, or
 * NULL when out of memory.
 */
char *prov_google_b64url(const unsigned char *p, size_t n);

/*
 * The signed assertion: header {"alg":"RS256","typ":"JWT"[,"kid"]}, claims {iss: client_email,
 * scope, aud: aud (the token URI the request goes to), iat: now, exp: now + 3600}, signed
 * RSASSA-PKCS1-v1_5 SHA-256 with EVP_DigestSign. Returns an owned string, or NULL with a reason
 * in err.
 */
char *prov_google_jwt(const struct prov_google_sa *sa, const char *aud, int64_t now, char *err,
                      size_t errlen);

/* The token request's form body for jwt (grant_type=...jwt-bearer&assertion=<jwt>), owned. */
char *prov_google_token_form(const char *jwt);

/*
 * Reads the token endpoint's reply (status, body). Returns 0 with *token (owned) and *expires_in
 * (seconds, > 0; 3600 when the reply has none), or -1 with a one-line reason in err: Google's
 * {"error","error_description"} ("the token endpoint answered HTTP 400: invalid_grant: Invalid
 * JWT Signature."), or a malformed reply. No token or key in err.
 */
int prov_google_token_reply(int status, const char *body, size_t len, char **token,
                            long *expires_in, char *err, size_t errlen);

/*
 * The Vertex AI prefix of pc's calls (providers.md §2.1, §6.1): "{root}/v1/projects/{project}/
 * locations/{location}", root = pc->base_url when set, else https:// and the regional host
 * ({loc}-aiplatform.googleapis.com; global: aiplatform.googleapis.com; us, eu:
 * aiplatform.{us,eu}.rep.googleapis.com). Returns an owned string, or NULL with a reason naming
 * the setting in err (no project).
 */
char *prov_google_vertex_base(const struct prov_conf *pc, char *err, size_t errlen);

/* s with every byte outside [A-Za-z0-9-._~@] percent-encoded (for a URL path segment), owned. */
char *prov_google_path_escape(const char *s);

#endif
