/*
 * Compact JSON writer (contract in jwrite.h): one growing buffer, strings copied in runs between
 * the bytes that need an escape.
 */
#include "jwrite.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jw {
    char *p;
    size_t len, cap;
    bool failed;
};

static bool jw_reserve(struct jw *w, size_t n)
{
    size_t cap;
    char *p;

    if (w->failed)
        return false;
    if (w->cap - w->len > n)
        return true;
    cap = w->cap > 0 ? w->cap : 256;
    while (cap - w->len <= n) {
        if (cap > SIZE_MAX / 2) {
            w->failed = true;
            return false;
        }
        cap *= 2;
    }
    if ((p = realloc(w->p, cap)) == NULL) {
        w->failed = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

static void jw_put(struct jw *w, const char *s, size_t n)
{
    if (!jw_reserve(w, n))
        return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void jw_putc(struct jw *w, char c)
{
    if (!jw_reserve(w, 1))
        return;
    w->p[w->len++] = c;
}

/* A string as jansson escapes it without flags: '"', '\\' and the control characters. */
static void jw_string(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0, run;

    jw_putc(w, '"');
    while (i < n) {
        unsigned char c;

        for (run = i; run < n; run++) {
            c = (unsigned char)s[run];
            if (c < 0x20 || c == '"' || c == '\\')
                break;
        }
        jw_put(w, s + i, run - i);
        if (run == n)
            break;
        c = (unsigned char)s[run];
        switch (c) {
        case '"':
            jw_put(w, "\\\"", 2);
            break;
        case '\\':
            jw_put(w, "\\\\", 2);
            break;
        case '\b':
            jw_put(w, "\\b", 2);
            break;
        case '\f':
            jw_put(w, "\\f", 2);
            break;
        case '\n':
            jw_put(w, "\\n", 2);
            break;
        case '\r':
            jw_put(w, "\\r", 2);
            break;
        case '\t':
            jw_put(w, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

            jw_put(w, u, sizeof(u));
        }
        }
        i = run + 1;
    }
    jw_putc(w, '"');
}

/*
 * A real as jansson 2.14 writes it (jsonp_dtostr() at precision 17): "%.17g", ".0" appended when
 * there is neither '.' nor 'e', and the exponent without '+' and leading zeros.
 */
static void jw_real(struct jw *w, double d)
{
    char b[64], *e, *from, *to;
    int n = snprintf(b, sizeof(b), "%.17g", d);

    if (n < 0 || (size_t)n >= sizeof(b) - 3) {
        w->failed = true;
        return;
    }
    if (strchr(b, '.') == NULL && strchr(b, 'e') == NULL) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(b, 'e')) != NULL) {
        to = e + 1;
        if (*to == '-')
            to++;
        from = e + 2; /* past the sign jansson always removes or keeps ('+' or '-') */
        if (e[1] == '-')
            from = to;
        while (*from == '0')
            from++;
        if (from != to) {
            memmove(to, from, strlen(from) + 1);
            n = (int)strlen(b);
        }
    }
    jw_put(w, b, (size_t)n);
}

/* An integer in decimal ("%lld" without printf's cost: replies carry several). */
static void jw_int(struct jw *w, json_int_t i)
{
    char b[24], *p = b + sizeof(b);
    unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (i < 0)
        *--p = '-';
    jw_put(w, p, (size_t)(b + sizeof(b) - p));
}

static void jw_value(struct jw *w, const json_t *v, int depth)
{
    if (depth > JW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *m;
        bool first = true;

        jw_putc(w, '{');
        json_object_keylen_foreach((json_t *)v, k, klen, m)
        {
            if (!first)
                jw_putc(w, ',');
            first = false;
            jw_string(w, k, klen);
            jw_putc(w, ':');
            jw_value(w, m, depth + 1);
        }
        jw_putc(w, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i, size = json_array_size(v);

        jw_putc(w, '[');
        for (i = 0; i < size; i++) {
            if (i > 0)
                jw_putc(w, ',');
            jw_value(w, json_array_get(v, i), depth + 1);
        }
        jw_putc(w, ']');
        break;
    }
    case JSON_STRING:
        jw_string(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jw_int(w, json_integer_value(v));
        break;
    case JSON_REAL:
        jw_real(w, json_real_value(v));
        break;
    case JSON_TRUE:
        jw_put(w, "true", 4);
        break;
    case JSON_FALSE:
        jw_put(w, "false", 5);
        break;
    case JSON_NULL:
        jw_put(w, "null", 4);
        break;
    }
}

char *jw_dumps(const json_t *v, size_t *len)
{
    struct jw w = {0};

    if (v == NULL)
        return NULL;
    jw_value(&w, v, 0);
    if (!jw_reserve(&w, 1)) {
        free(w.p);
        return NULL;
    }
    w.p[w.len] = '\0';
    if (len != NULL)
        *len = w.len;
    return w.p;
}
