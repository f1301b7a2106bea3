/*
 * Credentials and stream errors of the AWS dialects (contract in prov_aws.h).
 */
#include "providers/prov_aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "providers/prov_sigv4.h"

int prov_aws_auth(const struct prov_conf *pc, const char *service, bool bearer_ok,
                  struct prov_http *out, char *err, size_t errlen)
{
    struct prov_aws_creds creds = {
        .access_key = pc->aws_access_key,
        .secret_key = pc->aws_secret_key,
        .session_token = pc->aws_session_token,
        .region = pc->region,
    };
    size_t n;
    char *v;

    if (bearer_ok && pc->api_key != NULL) {
        n = strlen(pc->api_key) + sizeof("Bearer ");
        v = malloc(n);
        if (v != NULL)
            snprintf(v, n, "Bearer %s", pc->api_key);
        if (prov_http_add_owned(out, "Authorization", v) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (creds.access_key == NULL || creds.secret_key == NULL || creds.region == NULL) {
        snprintf(err, errlen, "provider '%s' has no AWS credentials", pc->info->id);
        return -1;
    }
    return prov_sigv4_sign(&creds, service, "POST", time(NULL), out, err, errlen);
}

void prov_aws_stream_fail(struct prov_stream *s, const struct prov_aws_message *m)
{
    json_t *j = json_loadb(m->payload, m->payload_len, 0, NULL);
    const json_t *msg = json_object_get(j, "message");
    const char *type = m->exception_type != NULL ? m->exception_type : m->error_code;
    const char *text;
    char line[256];

    if (!json_is_string(msg))
        msg = json_object_get(j, "Message");
    text = json_is_string(msg)        ? json_string_value(msg)
           : m->error_message != NULL ? m->error_message
                                      : "error from the provider";
    snprintf(line, sizeof(line), "%s: %s", type != NULL && type[0] != '\0' ? type : "exception",
             text);
    s->failed = true;
    prov_copy_line(s->error, sizeof(s->error), line, strlen(line));
    json_decref(j);
}
