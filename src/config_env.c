/*
 * Environment side of the configuration: ${VAR} expansion with the reference's exact matching
 * and error text, the case-insensitive GATEWAY_* lookup (pydantic-settings semantics) and a
 * python-dotenv compatible .env line parser.
 */
#include "config_env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

extern char **environ;

/* Growable string for cfg_env_subst(). */
struct cfg_buf {
    char *p;
    size_t len, cap;
};

static int cfg_buf_add(struct cfg_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((p = realloc(b->p, cap)) == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

char *cfg_env_subst(const char *s, char *err, size_t errlen)
{
    struct cfg_buf b = {0};
    const char *p = s, *close, *val;
    char *name;

    if (cfg_buf_add(&b, "", 0) < 0)
        goto oom;
    while (*p != '\0') {
        /* Same matches as the reference's regex \$\{([^}]+)\} */
        if (p[0] != '$' || p[1] != '{' || (close = strchr(p + 2, '}')) == NULL || close == p + 2) {
            if (cfg_buf_add(&b, p, 1) < 0)
                goto oom;
            p++;
            continue;
        }
        if ((name = strndup(p + 2, (size_t)(close - p - 2))) == NULL)
            goto oom;
        val = getenv(name);
        if (val == NULL) {
            snprintf(err, errlen,
                     "Environment variable '%s' is not set (referenced in config as '${%s}')", name,
                     name);
            free(name);
            free(b.p);
            return NULL;
        }
        free(name);
        if (cfg_buf_add(&b, val, strlen(val)) < 0)
            goto oom;
        p = close + 1;
    }
    return b.p;
oom:
    snprintf(err, errlen, "out of memory");
    free(b.p);
    return NULL;
}

const char *cfg_env_get_icase(char *name, size_t len)
{
    size_t n;
    const char *v;

    for (char *p = name; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    if ((v = getenv(name)) != NULL)
        return v;
    n = strlen(name);
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq != NULL && (size_t)(eq - *e) == n && strncasecmp(*e, name, n) == 0) {
            snprintf(name, len, "%.*s", (int)n, *e);
            return eq + 1;
        }
    }
    return NULL;
}

int cfg_dotenv_parse_line(char *s, char **key, char **val)
{
    char *p = s, *w;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
        for (p += 6; *p == ' ' || *p == '\t'; p++)
            ;
    *key = p;
    while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
        p++;
    w = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=' || w == *key)
        return -1;
    *w = '\0';
    for (p++; *p == ' ' || *p == '\t'; p++)
        ;
    *val = w = p;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        *val = w;
        for (; *p != '\0' && *p != q; p++) {
            if (q == '"' && *p == '\\' && p[1] != '\0') {
                p++;
                *w++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
            } else {
                *w++ = *p;
            }
        }
        if (*p != q)
            return -1;
        *w = '\0';
        return 1;
    }
    for (; *p != '\0' && *p != '\n' && *p != '\r'; p++)
        if (*p == '#' && p > *val && isspace((unsigned char)p[-1]))
            break;
    while (p > *val && isspace((unsigned char)p[-1]))
        p--;
    *p = '\0';
    return 1;
}
