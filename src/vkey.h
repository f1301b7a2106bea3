/*
 * Virtual keys ("gw-..."): generation from the kernel CSPRNG, the reference's format check,
 * storage hash (lowercase hex SHA-256 of the whole key) and constant-time comparison.
 */
#ifndef GW_VKEY_H
#define GW_VKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "sha256.h"

#define VKEY_RANDOM_BYTES 48
#define VKEY_LEN 67 /* "gw-" + 64 base64url characters */
#define VKEY_MIN_LEN 50

/* Base64url without padding of n bytes into out (needs 4*ceil(n/3)+1). Returns length. */
size_t vkey_b64url(const unsigned char *in, size_t n, char *out);

/* Writes a new random key into out. Returns 0, or -1 when the CSPRNG fails. */
int vkey_generate(char out[VKEY_LEN + 1]) __attribute__((warn_unused_result));

/*
 * The reference's format check (spec §2.3). Returns NULL when the key is well formed, else the
 * reason ("API key must start with 'gw-' prefix", ...), written into buf for the length case.
 */
const char *vkey_format_error(const char *key, char *buf, size_t len);

/* The stored form of a key: lowercase hex SHA-256 of its bytes. */
char *vkey_hash(const char *key, char hex[SHA256_HEX_LEN]);

/* a equals b, in time that depends only on the length of a (the candidate), not on contents. */
bool vkey_ct_equal(const char *a, const char *b);

#endif
