/*
 * Virtual key generation, validation and hashing (spec §2.3-§2.4).
 */
#include "vkey.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

size_t vkey_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

int vkey_generate(char out[VKEY_LEN + 1])
{
    unsigned char r[VKEY_RANDOM_BYTES];

    if (util_random(r, sizeof(r)) < 0)
        return -1;
    memcpy(out, "gw-", 3);
    vkey_b64url(r, sizeof(r), out + 3);
    return 0;
}

const char *vkey_format_error(const char *key, char *buf, size_t len)
{
    size_t n = strlen(key);

    if (strncmp(key, "gw-", 3) != 0)
        return "API key must start with 'gw-' prefix";
    if (n < VKEY_MIN_LEN) {
        snprintf(buf, len, "API key is too short. Expected at least %d characters, got %zu",
                 VKEY_MIN_LEN, n);
        return buf;
    }
    for (size_t i = 3; i < n; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return "API key contains invalid characters. Must match pattern: gw-[A-Za-z0-9_-]+";
    }
    return NULL;
}

char *vkey_hash(const char *key, char hex[SHA256_HEX_LEN])
{
    return sha256_hex(key, strlen(key), hex);
}

bool vkey_ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    /* CRYPTO_memcmp over the whole candidate either way: the time depends on its length only. */
    if (la != lb) {
        (void)CRYPTO_memcmp(a, a, la);
        return false;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}
