/*
 * Bearer-token cache (contract in prov_token.h): one entry per credential (the prov_conf, which
 * lives as long as the gateway), holding the last token and its monotonic expiry, the fetch in
 * flight and the requests waiting for it. A token is handed out while more than a margin of
 * its lifetime remains (60 s, or a tenth of the lifetime when that is shorter); within twice
 * the margin a refresh starts in the background, so busy providers never wait. A failed fetch
 * is not remembered: its waiters get the reason and the next request tries again.
 */
#include "providers/prov_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"
#include "providers/prov_google.h"
#include "providers/prov_ibm.h"
#include "util.h"

#define TOKEN_MARGIN_US (60LL * 1000000LL)
#define TOKEN_CONNECT_TIMEOUT_MS 5000L
#define TOKEN_TIMEOUT_MS 10000L
#define TOKEN_MAX_REPLY (64 * 1024)

TAILQ_HEAD(token_waits, prov_token_wait);

struct token_entry {
    struct prov_tokens *t;
    const struct prov_conf *pc;
    char *token;               /* NULL: none yet */
    int64_t usable_us;         /* hand it out before this (monotonic) */
    int64_t refresh_us;        /* from this on, refresh it in the background */
    struct httpc_req *hr;      /* the fetch in flight, NULL when none */
    struct token_waits waits;  /* waiting for hr */
    struct token_waits firing; /* being called back right now */
    struct token_entry *next;
};

struct prov_token_wait {
    TAILQ_ENTRY(prov_token_wait) link;
    struct token_waits *list; /* the list holding it */
    prov_token_fn *fn;
    void *arg;
};

struct prov_tokens {
    struct httpc *hc;
    struct token_entry *entries;
};

struct prov_tokens *prov_tokens_new(struct httpc *hc)
{
    struct prov_tokens *t = calloc(1, sizeof(*t));

    if (t != NULL)
        t->hc = hc;
    return t;
}

static void token_forget(struct token_entry *e)
{
    if (e->token != NULL) {
        memset(e->token, 0, strlen(e->token));
        free(e->token);
    }
    e->token = NULL;
}

/* Calls every waiter of e once with (token, err); waiters may cancel each other meanwhile. */
static void token_fire(struct token_entry *e, const char *token, const char *err)
{
    struct prov_token_wait *w;

    while ((w = TAILQ_FIRST(&e->waits)) != NULL) {
        TAILQ_REMOVE(&e->waits, w, link);
        TAILQ_INSERT_TAIL(&e->firing, w, link);
        w->list = &e->firing;
    }
    while ((w = TAILQ_FIRST(&e->firing)) != NULL) {
        prov_token_fn *fn = w->fn;
        void *arg = w->arg;

        TAILQ_REMOVE(&e->firing, w, link);
        free(w);
        fn(token, err, arg);
    }
}

static void token_done(const struct httpc_result *res, void *arg)
{
    struct token_entry *e = arg;
    char err[320], *token = NULL;
    long ttl = 0;
    int64_t life_us, margin_us, now = util_mono_us();

    e->hr = NULL;
    if (res->kind != HTTPC_OK) {
        snprintf(err, sizeof(err), "the token endpoint cannot be reached (%s)",
                 httpc_kind_name(res->kind));
    } else if ((e->pc->info->auth == PROV_AUTH_IBM_IAM
                    ? prov_ibm_token_reply(res->status, res->body != NULL ? res->body : "",
                                           res->body_len, (int64_t)time(NULL), &token, &ttl, err,
                                           sizeof(err))
                    : prov_google_token_reply(res->status, res->body != NULL ? res->body : "",
                                              res->body_len, &token, &ttl, err, sizeof(err))) ==
               0) {
        token_forget(e);
        e->token = token;
        life_us = (int64_t)ttl * 1000000LL;
        margin_us = life_us / 10 < TOKEN_MARGIN_US ? life_us / 10 : TOKEN_MARGIN_US;
        e->usable_us = now + life_us - margin_us;
        e->refresh_us = e->usable_us - margin_us;
        token_fire(e, e->token, NULL);
        return;
    }
    if (e->pc->api_key != NULL)
        log_scrub(err, e->pc->api_key); /* an IAM message quoting the key */
    LOG_WARN("access token for provider '%s': %s", e->pc->info->id, err);
    /* A token fetched earlier that is still usable keeps serving (a background refresh failed). */
    token_fire(e, NULL, err);
}

/* The IBM IAM form body of e's API key (providers.md §11), owned; NULL with a reason in err. */
static char *token_ibm_form(struct token_entry *e, const char **url, char *err, size_t errlen)
{
    char *form;

    if (e->pc->api_key == NULL) {
        snprintf(err, errlen, "no API key: set providers.%s.api_key or %s", e->pc->info->id,
                 e->pc->info->key_env != NULL ? e->pc->info->key_env : "its key variable");
        return NULL;
    }
    *url = e->pc->iam_url != NULL ? e->pc->iam_url : PROV_IBM_IAM_URL;
    if ((form = prov_ibm_token_form(e->pc->api_key)) == NULL)
        snprintf(err, errlen, "out of memory");
    return form;
}

/* Starts the fetch of e's token. Returns 0, or -1 with a reason in err. */
static int token_fetch(struct token_entry *e, char *err, size_t errlen)
{
    const struct prov_google_sa *sa = e->pc->google;
    struct httpc_header hdrs[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                                  {"Accept", "application/json"}};
    struct httpc_spec spec = {0};
    struct httpc_cbs cbs = {.on_done = token_done};
    const char *url = NULL;
    char *jwt, *form;

    if (e->pc->info->auth == PROV_AUTH_IBM_IAM) {
        if ((form = token_ibm_form(e, &url, err, errlen)) == NULL)
            return -1;
        goto send;
    }
    if (sa == NULL) {
        snprintf(err, errlen, "%s",
                 e->pc->problem != NULL ? e->pc->problem : "no service-account credentials");
        return -1;
    }
    if ((jwt = prov_google_jwt(sa, sa->token_uri, (int64_t)time(NULL), err, errlen)) == NULL)
        return -1;
    form = prov_google_token_form(jwt);
    free(jwt);
    if (form == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    url = sa->token_uri;
send:
    spec.method = "POST";
    spec.url = url;
    spec.headers = hdrs;
    spec.nheaders = sizeof(hdrs) / sizeof(hdrs[0]);
    spec.body = form;
    spec.body_len = strlen(form);
    spec.connect_timeout_ms = TOKEN_CONNECT_TIMEOUT_MS;
    spec.timeout_ms = TOKEN_TIMEOUT_MS;
    spec.max_response = TOKEN_MAX_REPLY;
    e->hr = httpc_start(e->t->hc, &spec, &cbs, e);
    memset(form, 0, strlen(form)); /* the API key */
    free(form);
    if (e->hr == NULL) {
        snprintf(err, errlen, "cannot start the token request (%s '%.200s')",
                 e->pc->info->auth == PROV_AUTH_IBM_IAM ? "iam_url" : "token_uri", url);
        return -1;
    }
    return 0;
}

static struct token_entry *token_entry(struct prov_tokens *t, const struct prov_conf *pc)
{
    struct token_entry *e;

    for (e = t->entries; e != NULL; e = e->next)
        if (e->pc == pc)
            return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->t = t;
    e->pc = pc;
    TAILQ_INIT(&e->waits);
    TAILQ_INIT(&e->firing);
    e->next = t->entries;
    t->entries = e;
    return e;
}

struct prov_token_wait *prov_tokens_get(struct prov_tokens *t, const struct prov_conf *pc,
                                        prov_token_fn *fn, void *arg)
{
    struct token_entry *e = token_entry(t, pc);
    struct prov_token_wait *w;
    int64_t now = util_mono_us();
    char err[320];

    if (e == NULL) {
        fn(NULL, "out of memory", arg);
        return NULL;
    }
    if (e->token != NULL && now < e->usable_us) {
        /* Refresh ahead of expiry; a failure there is logged and the token keeps serving. */
        if (now >= e->refresh_us && e->hr == NULL && token_fetch(e, err, sizeof(err)) < 0)
            LOG_WARN("access token for provider '%s': %s", pc->info->id, err);
        fn(e->token, NULL, arg);
        return NULL;
    }
    if (e->hr == NULL && token_fetch(e, err, sizeof(err)) < 0) {
        fn(NULL, err, arg);
        return NULL;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        fn(NULL, "out of memory", arg);
        return NULL;
    }
    w->fn = fn;
    w->arg = arg;
    w->list = &e->waits;
    TAILQ_INSERT_TAIL(&e->waits, w, link);
    return w;
}

void prov_token_wait_cancel(struct prov_token_wait *w)
{
    if (w == NULL)
        return;
    TAILQ_REMOVE(w->list, w, link);
    free(w);
}

void prov_tokens_free(struct prov_tokens *t)
{
    struct token_entry *e, *next;

    if (t == NULL)
        return;
    for (e = t->entries; e != NULL; e = next) {
        next = e->next;
        if (e->hr != NULL)
            httpc_cancel(e->hr);
        e->hr = NULL;
        token_fire(e, NULL, "shutting down");
        token_forget(e);
        free(e);
    }
    free(t);
}
