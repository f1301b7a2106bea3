/*
 * SHA-256 through OpenSSL libcrypto (never hand-written): virtual keys are stored only as the
 * lowercase hex digest of the key string, and signatures (JWT, SigV4) hash their input.
 */
#ifndef GW_SHA256_H
#define GW_SHA256_H

#include <stddef.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

/* The digest of data into out. Returns 0, or -1 when libcrypto fails (out of memory). */
int sha256_digest(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LEN]);

/* Lowercase hex of n bytes into hex (2n + 1 bytes). Returns hex. */
char *sha256_to_hex(const unsigned char *d, size_t n, char *hex);

/* One-shot: writes the lowercase hex digest of data into hex ("" if libcrypto fails). Returns hex.
 */
char *sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN]);

#endif
