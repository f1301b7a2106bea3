/*
 * SHA-256 (FIPS 180-4), small and dependency-free: virtual keys are stored only as the
 * lowercase hex digest of the key string.
 */
#ifndef GW_SHA256_H
#define GW_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

struct sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_DIGEST_LEN]);

/* One-shot: writes the lowercase hex digest of data into hex. Returns hex. */
char *sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN]);

#endif
