/*
 * SHA-256 with OpenSSL's EVP interface (contract in sha256.h). The algorithm is fetched once per
 * process and each thread keeps one digest context: EVP_Digest() fetches the implementation and
 * allocates a context on every call, which cost more than hashing a key does.
 */
#include "sha256.h"

#include <pthread.h>

#include <openssl/evp.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_ctx_key;
static _Thread_local EVP_MD_CTX *sha256_ctx;

static void sha256_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&sha256_ctx_key, sha256_ctx_free) != 0 && sha256_md != NULL) {
        EVP_MD_free(sha256_md);
        sha256_md = NULL;
    }
}

/* This thread's context (freed when the thread exits), or NULL. */
static EVP_MD_CTX *sha256_thread_ctx(void)
{
    if (sha256_ctx != NULL)
        return sha256_ctx;
    pthread_once(&sha256_once, sha256_init);
    if (sha256_md == NULL || (sha256_ctx = EVP_MD_CTX_new()) == NULL)
        return NULL;
    if (pthread_setspecific(sha256_ctx_key, sha256_ctx) != 0) {
        EVP_MD_CTX_free(sha256_ctx);
        sha256_ctx = NULL;
    }
    return sha256_ctx;
}

int sha256_digest(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LEN])
{
    EVP_MD_CTX *ctx = sha256_thread_ctx();
    unsigned int n = 0;

    if (ctx == NULL) /* fall back on the one-shot form */
        return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == SHA256_DIGEST_LEN
                   ? 0
                   : -1;
    if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != SHA256_DIGEST_LEN)
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
