/*
 * Bearer-token cache (contract in prov_token.h). Placeholder until the Google service-account
 * exchange lands: every request for a token fails with a clear reason.
 */
#include "providers/prov_token.h"

#include <stdlib.h>

struct prov_tokens {
    struct httpc *hc;
};

struct prov_tokens *prov_tokens_new(struct httpc *hc)
{
    struct prov_tokens *t = calloc(1, sizeof(*t));

    if (t != NULL)
        t->hc = hc;
    return t;
}

void prov_tokens_free(struct prov_tokens *t)
{
    free(t);
}

struct prov_token_wait *prov_tokens_get(struct prov_tokens *t, const struct prov_conf *pc,
                                        prov_token_fn *fn, void *arg)
{
    (void)t;
    (void)pc;
    fn(NULL, "access tokens are not supported yet", arg);
    return NULL;
}

void prov_token_wait_cancel(struct prov_token_wait *w)
{
    (void)w;
}
