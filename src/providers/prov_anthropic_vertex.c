/*
 * Anthropic Messages on Vertex AI (providers.md §2.1, §14.1): the same bodies and events as the
 * Anthropic API, at a Vertex URL (the model in the path, rawPredict or streamRawPredict), with
 * "anthropic_version" in the body instead of "model", and a Google access token as the bearer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_anthropic.h"
#include "providers/prov_dialect.h"
#include "providers/prov_google.h"

int prov_anth_vertex_body(json_t *body, char *err, size_t errlen)
{
    json_object_del(body, "model");
    if (json_object_get(body, "anthropic_version") == NULL &&
        json_object_set_new(body, "anthropic_version", json_string(PROV_ANTH_VERTEX_VERSION)) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int prov_anth_vertex_http(const struct prov_conf *pc, const char *model, bool stream,
                          const char *bearer, struct prov_http *out, char *err, size_t errlen)
{
    char *base, *m = NULL;
    size_t n;

    if (bearer == NULL) {
        snprintf(err, errlen, "provider '%s' has no access token (check its credentials)",
                 pc->info->id);
        return -1;
    }
    if ((base = prov_google_vertex_base(pc, err, errlen)) == NULL)
        return -1;
    if ((m = prov_google_path_escape(model)) == NULL)
        goto oom;
    n = strlen(base) + strlen(m) + sizeof("/publishers/anthropic/models/:streamRawPredict");
    if ((out->url = malloc(n)) == NULL)
        goto oom;
    snprintf(out->url, n, "%s/publishers/anthropic/models/%s:%s", base, m,
             stream ? "streamRawPredict" : "rawPredict");
    free(base);
    free(m);
    return 0;
oom:
    free(base);
    free(m);
    snprintf(err, errlen, "out of memory");
    return -1;
}
