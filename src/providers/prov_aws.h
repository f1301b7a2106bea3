/*
 * What the AWS dialects (Bedrock, SageMaker) share: the credential of a call (a Bedrock API key
 * as a bearer, else an AWS Signature Version 4 over the finished request, prov_sigv4.h) and the
 * stream error of an event-stream "exception" or "error" message (prov_awsstream.h).
 */
#ifndef PROV_AWS_H
#define PROV_AWS_H

#include <stdbool.h>

#include "providers/prov_awsstream.h"
#include "providers/prov_dialect.h"

/*
 * Authenticates the finished request out (URL, body and every other header already set), sent
 * as POST: with Authorization: Bearer <pc->api_key> when bearer_ok and an API key is configured
 * (Bedrock API keys), else signed for service ("bedrock", "sagemaker") with pc's AWS credentials
 * at the current time. Returns 0, or -1 with a one-line reason in err (no credentials, out of
 * memory; never a secret).
 */
int prov_aws_auth(const struct prov_conf *pc, const char *service, bool bearer_ok,
                  struct prov_http *out, char *err, size_t errlen);

/*
 * An "exception" or "error" message m fails the stream: s->failed, and s->error gets
 * "<exception type or error code>: <message>" (the payload's "message" / "Message", else the
 * :error-message header, else a generic text).
 */
void prov_aws_stream_fail(struct prov_stream *s, const struct prov_aws_message *m);

#endif
