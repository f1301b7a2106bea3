/*
 * Fuzz target: log_redact() (src/log.c). The input is split into text and a secret; the secret is
 * planted in the text in each form log_redact() promises to mask (a gw- or sk- key, a Bearer
 * token, password=..., a URL's password), and the output, into buffers of every small size and a
 * large one, must be NUL-terminated within its buffer (ASan checks the bounds), contain no
 * control character, and not contain the secret.
 */
#include <ctype.h>
#include <stdint.h>

#include "fz.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Redacts src into exact-size buffers of 0..24 bytes and of 4 KiB; returns the large output. */
static char *redact_all(const char *src)
{
    size_t big = 4096;
    char *out = NULL;

    for (size_t n = 0; n <= 24; n++) {
        char *d = malloc(n > 0 ? n : 1);
        FZ_CHECK(d != NULL);
        FZ_CHECK(log_redact(d, n, src) == d);
        if (n > 0)
            FZ_CHECK(memchr(d, '\0', n) != NULL && strlen(d) < n);
        free(d);
    }
    out = malloc(big);
    FZ_CHECK(out != NULL);
    log_redact(out, big, src);
    FZ_CHECK(strlen(out) < big);
    for (const char *p = out; *p != '\0'; p++)
        FZ_CHECK(!iscntrl((unsigned char)*p));
    return out;
}

/* Token characters only (what a real key, token or password looks like), at least 4 of them. */
static size_t make_secret(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=";
    size_t k = 0;

    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = alphabet[p[i] % (sizeof(alphabet) - 1)];
    while (k < 4)
        out[k++] = 'Q';
    out[k] = '\0';
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* text: bytes before the first 0xFF (NUL-terminated at the first NUL); secret: the rest. */
    const uint8_t *sep = memchr(data, 0xFF, size);
    size_t tlen = sep != NULL ? (size_t)(sep - data) : size;
    char *text = malloc(tlen + 1), secret[64], *src, *out;
    /* Each form is: text, before, secret, after, text. */
    static const char *const forms[][2] = {{" gw-", " "},
                                           {" sk-", " "},
                                           {" Authorization: Bearer ", " "},
                                           {" password=", " "},
                                           {" postgresql://user:", "@db.example/x "},
                                           {" https://u:", "@h "}};

    FZ_CHECK(text != NULL);
    memcpy(text, data, tlen);
    text[tlen] = '\0';
    free(redact_all(text));
    if (sep != NULL) {
        make_secret(sep + 1, size - tlen - 1, secret, sizeof(secret));
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            size_t n = 2 * strlen(text) + strlen(secret) + 64;
            const char *at;
            src = malloc(n);
            FZ_CHECK(src != NULL);
            snprintf(src, n, "%s%s%s%s%s", text, forms[f][0], secret, forms[f][1], text);
            out = redact_all(src);
            /* Only a secret found nowhere else in the input (the text or the form itself could
             * contain the same characters, and would show through) can leak. */
            at = strstr(src, secret);
            if (at == src + strlen(text) + strlen(forms[f][0]) && strstr(at + 1, secret) == NULL &&
                strstr(out, secret) != NULL) {
                fprintf(stderr, "secret '%s' leaked:\n  in:  %s\n  out: %s\n", secret, src, out);
                abort();
            }
            free(out);
            free(src);
        }
    }
    free(text);
    return 0;
}
