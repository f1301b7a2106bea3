/*
 * IBM Cloud IAM API-key grant (contract in prov_ibm.h).
 */
#include "providers/prov_ibm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_dialect.h"

char *prov_ibm_token_form(const char *apikey)
{
    static const char pre[] = "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
                              "&apikey=";
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(apikey), o = sizeof(pre) - 1;
    char *s = malloc(sizeof(pre) + 3 * n);

    if (s == NULL)
        return NULL;
    memcpy(s, pre, o);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)apikey[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            s[o++] = (char)c;
        } else {
            s[o++] = '%';
            s[o++] = hex[c >> 4];
            s[o++] = hex[c & 15];
        }
    }
    s[o] = '\0';
    return s;
}

/* A positive integer member (seconds or unix time), else 0. */
static int64_t ibm_num(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

int prov_ibm_token_reply(int status, const char *body, size_t len, int64_t now, char **token,
                         long *ttl, char *err, size_t errlen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *tok = json_object_get(j, "access_token");
    const char *code = json_string_value(json_object_get(j, "errorCode"));
    const char *msg = json_string_value(json_object_get(j, "errorMessage"));
    int64_t in = ibm_num(j, "expires_in"), at = ibm_num(j, "expiration"), life;
    char c[64], m[200];
    int rc = -1;

    *token = NULL;
    *ttl = 0;
    if (status < 200 || status > 299) {
        prov_copy_line(c, sizeof(c), code != NULL ? code : "", code != NULL ? strlen(code) : 0);
        prov_copy_line(m, sizeof(m), msg != NULL ? msg : "", msg != NULL ? strlen(msg) : 0);
        snprintf(err, errlen, "the IAM endpoint answered HTTP %d%s%s%s%s", status,
                 c[0] != '\0' || m[0] != '\0' ? ": " : "", c,
                 c[0] != '\0' && m[0] != '\0' ? ": " : "", m);
        goto out;
    }
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        snprintf(err, errlen, "the IAM endpoint's reply has no access_token");
        goto out;
    }
    life = at > 0 ? at - now : in > 0 ? in : PROV_IBM_DEFAULT_TTL;
    if (at > 0 && in > 0 && in < life)
        life = in;
    if (life <= 0) {
        snprintf(err, errlen, "the IAM endpoint's token has already expired");
        goto out;
    }
    *ttl = life > 86400L * 365 ? 86400L * 365 : (long)life;
    if ((*token = strdup(json_string_value(tok))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}
