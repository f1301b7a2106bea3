/*
 * SHA-256 with OpenSSL's EVP one-shot digest (contract in sha256.h).
 */
#include "sha256.h"

#include <openssl/evp.h>

int sha256_digest(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != SHA256_DIGEST_LEN)
        return -1;
    return 0;
}

char *sha256_to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
    return hex;
}

char *sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN])
{
    unsigned char d[SHA256_DIGEST_LEN];

    if (sha256_digest(data, len, d) < 0) {
        hex[0] = '\0';
        return hex;
    }
    return sha256_to_hex(d, sizeof(d), hex);
}
