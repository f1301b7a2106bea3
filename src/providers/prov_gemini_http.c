/*
 * The request line and headers of the Gemini dialects (providers.md §5.1, §6.1): the model's
 * escaped resource path, the Gemini API URL ({base}/v1beta/...), the Vertex AI URL (api_base, or
 * the host of the location: global, multi-region us/eu, or regional) and the credentials.
 */
#include "providers/prov_gemini.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A path segment the model may hold: not empty, not a dot segment, no URL syntax. */
static bool gem_segment_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || isspace(c) || strchr("/?#%:\\", c) != NULL)
            return false;
    }
    return true;
}

/* Appends s[0..n) to p, percent-encoding all but unreserved characters and '@'. */
static size_t gem_escape(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || strchr("-._~@", c) != NULL) {
            p[o++] = (char)c;
        } else {
            p[o++] = '%';
            p[o++] = hex[c >> 4];
            p[o++] = hex[c & 15];
        }
    }
    p[o] = '\0';
    return o;
}

int prov_gem_model_path(bool vertex, const char *model, char **path, char *err, size_t errlen)
{
    const char *prefix = vertex ? "publishers/google/models/" : "models/", *m = model, *slash;
    const char *pub = NULL;
    size_t npub = 0, o;
    char *p;

    *path = NULL;
    if (strncmp(m, "models/", 7) == 0) {
        m += 7;
    } else if (!vertex && strncmp(m, "tunedModels/", 12) == 0) {
        prefix = "tunedModels/";
        m += 12;
    } else if (vertex && strncmp(m, "publishers/", 11) == 0 &&
               (slash = strchr(m + 11, '/')) != NULL && strncmp(slash, "/models/", 8) == 0) {
        pub = m + 11;
        npub = (size_t)(slash - pub);
        m = slash + 8;
    } else if (vertex && (slash = strchr(m, '/')) != NULL) {
        pub = m; /* "a/b": publisher a's model b */
        npub = (size_t)(slash - m);
        m = slash + 1;
    }
    if (!gem_segment_ok(m, strlen(m)) || (pub != NULL && !gem_segment_ok(pub, npub))) {
        snprintf(err, errlen,
                 "model '%.80s' cannot be named in a URL (no '/', '?', '#', '%%', ':', spaces or "
                 "control characters)",
                 model);
        return PROV_E_REQUEST;
    }
    if ((p = malloc(sizeof("publishers//models/") + 3 * (npub + strlen(m)) + 32)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pub != NULL) {
        o = (size_t)sprintf(p, "publishers/");
        o += gem_escape(p + o, pub, npub);
        o += (size_t)sprintf(p + o, "/models/");
    } else {
        o = (size_t)sprintf(p, "%s", prefix);
    }
    gem_escape(p + o, m, strlen(m));
    *path = p;
    return 0;
}

/* A project id or location: letters, digits and - . : _ only. */
static bool gem_setting_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr("-.:_", *s) == NULL)
            return false;
    return true;
}

/* The Vertex AI base URL (§6.1): api_base, else the location's host. */
static int gem_vertex_base(const struct prov_conf *pc, const char *loc, char *out, size_t outlen)
{
    if (pc->base_url != NULL)
        return snprintf(out, outlen, "%s", pc->base_url) < (int)outlen ? 0 : -1;
    if (strcmp(loc, "global") == 0)
        return snprintf(out, outlen, "https://aiplatform.googleapis.com") < (int)outlen ? 0 : -1;
    if (strcmp(loc, "us") == 0 || strcmp(loc, "eu") == 0)
        return snprintf(out, outlen, "https://aiplatform.%s.rep.googleapis.com", loc) < (int)outlen
                   ? 0
                   : -1;
    return snprintf(out, outlen, "https://%s-aiplatform.googleapis.com", loc) < (int)outlen ? 0
                                                                                            : -1;
}

int prov_gem_url(const struct prov_conf *pc, bool vertex, const char *model, const char *verb,
                 char **url, char *err, size_t errlen)
{
    const char *loc = pc->location != NULL ? pc->location : "us-central1";
    char *path = NULL, base[512];
    size_t n;
    int rc;

    *url = NULL;
    if (vertex) {
        if (pc->project == NULL) {
            snprintf(err, errlen,
                     "provider 'vertexai' has no Google Cloud project: set "
                     "providers.vertexai.project or GOOGLE_CLOUD_PROJECT");
            return -1;
        }
        if (!gem_setting_ok(pc->project) || !gem_setting_ok(loc)) {
            snprintf(err, errlen,
                     "provider 'vertexai': providers.vertexai.%s holds characters a URL path "
                     "cannot take",
                     gem_setting_ok(pc->project) ? "location" : "project");
            return -1;
        }
        if (gem_vertex_base(pc, loc, base, sizeof(base)) < 0) {
            snprintf(err, errlen, "provider 'vertexai': the base URL is too long");
            return -1;
        }
    } else if (pc->base_url == NULL) {
        snprintf(err, errlen,
                 "provider '%s' has no base URL: set providers.%s.api_base or "
                 "GOOGLE_GEMINI_BASE_URL",
                 pc->info->id, pc->info->id);
        return -1;
    }
    if ((rc = prov_gem_model_path(vertex, model, &path, err, errlen)) != 0)
        return rc;
    n = strlen(vertex ? base : pc->base_url) + strlen(path) + strlen(verb) +
        (vertex ? strlen(pc->project) + strlen(loc) : 0) + 64;
    if ((*url = malloc(n)) == NULL) {
        free(path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (vertex)
        snprintf(*url, n, "%s/v1/projects/%s/locations/%s/%s:%s", base, pc->project, loc, path,
                 verb);
    else
        snprintf(*url, n, "%s/v1beta/%s:%s", pc->base_url, path, verb);
    free(path);
    return 0;
}

int prov_gem_headers(const struct prov_conf *pc, bool vertex, const char *bearer,
                     struct prov_http *out, char *err, size_t errlen)
{
    if (vertex && bearer == NULL) {
        snprintf(err, errlen, "provider 'vertexai': no Google access token for the call");
        return -1;
    }
    return prov_http_std(out, pc, NULL, vertex ? bearer : NULL, err, errlen);
}
