/*
 * End-to-end tests of the memory a request may cost (DESIGN §2.14, issue 17 item 2): eight
 * concurrent 16 MiB bodies of tiny JSON values are refused with a JSON 413 before jansson turns
 * them into ~300 MB each, eight concurrent 16 MiB chats with one long string (an image as a data
 * URL) are served, neither takes the process past a few hundred MB, and the heap is given back
 * afterwards.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t_llm.h"

#define MEM_CLIENTS 8
#define MEM_BODY (16u * 1024 * 1024 - 4096) /* just under the default max_body_size */

struct mem_client {
    const char *req;
    size_t len;
    struct t_resp resp;
    int rc;
};

static void *mem_client_main(void *arg)
{
    struct mem_client *c = arg;

    c->rc = t_http_raw(t_api.port, c->req, c->len, &c->resp, 200000); /* slow under ASan */
    return NULL;
}

/* The request with key: a chat whose messages member is fill (an array or a string) of about
 * MEM_BODY. */
static char *mem_request(const char *key, bool tiny_values, size_t *len)
{
    static const char head[] = "{\"model\":\"openai:fake-ok\",\"messages\":";
    char *body = malloc(MEM_BODY + 512), *req = malloc(MEM_BODY + 1024), *p = body;
    size_t n;

    ck_assert_ptr_nonnull(body);
    ck_assert_ptr_nonnull(req);
    p += sprintf(p, "%s", head);
    if (tiny_values) {
        *p++ = '[';
        while ((size_t)(p - body) < MEM_BODY - 8) {
            *p++ = '1';
            *p++ = ',';
        }
        p += sprintf(p, "1]}");
    } else {
        p += sprintf(p, "[{\"role\":\"user\",\"content\":\"data:image/png;base64,");
        n = MEM_BODY - (size_t)(p - body) - 8;
        memset(p, 'Q', n);
        p += n;
        p += sprintf(p, "\"}]}");
    }
    n = (size_t)(p - body);
    *len = (size_t)sprintf(req,
                           "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                           "Authorization: Bearer %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n",
                           key, n);
    memcpy(req + *len, body, n);
    *len += n;
    free(body);
    return req;
}

/* A VmHWM/VmRSS figure of the gateway process, in MiB (unused under ASan). */
static __attribute__((unused)) long mem_status_mib(const char *field)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)t_api.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kib = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    ck_assert_int_ge(kib, 0);
    return kib / 1024;
}

/* Sends MEM_CLIENTS copies of req at once; every answer must have status want. */
static void mem_burst(const char *req, size_t len, int want)
{
    struct mem_client c[MEM_CLIENTS];
    pthread_t th[MEM_CLIENTS];

    for (int i = 0; i < MEM_CLIENTS; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].req = req;
        c[i].len = len;
        ck_assert_int_eq(pthread_create(&th[i], NULL, mem_client_main, &c[i]), 0);
    }
    for (int i = 0; i < MEM_CLIENTS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < MEM_CLIENTS; i++) {
        ck_assert_int_eq(c[i].rc, 0);
        ck_assert_msg(c[i].resp.status == want, "client %d: status %d, want %d: %.200s", i,
                      c[i].resp.status, want, c[i].resp.body != NULL ? c[i].resp.body : "");
        if (want == 413)
            ck_assert_msg(strstr(c[i].resp.body, "\"detail\":\"Request body too complex") != NULL,
                          "%s", c[i].resp.body);
        t_resp_free(&c[i].resp);
    }
}

static void mem_up(void)
{
    t_llm_up("", ""); /* t_gw.c starts every gateway with 2 workers */
}

/* A user of its own sends MEM_CLIENTS such requests at once; each must answer want. */
static void mem_run(const char *user, bool tiny_values, int want)
{
    size_t len;
    char *req, *key;

    t_llm_need();
    key = t_llm_user_key(user);
    req = mem_request(key, tiny_values, &len);
    mem_burst(req, len, want);
    free(req);
    free(key);
}

START_TEST(tiny_values_refused_cheaply)
{
    mem_run("mem-tiny", true, 413);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and redzones make RSS meaningless */
    /* 8 bodies of 16 MiB are read (128 MiB); parsing even one would take ~300 MB. */
    ck_assert_msg(mem_status_mib("VmHWM:") < 320, "peak RSS %ld MiB", mem_status_mib("VmHWM:"));
#endif
}
END_TEST

START_TEST(long_strings_served_and_memory_returned)
{
    mem_run("mem-long", false, 200);
#ifndef __SANITIZE_ADDRESS__
    ck_assert_msg(mem_status_mib("VmHWM:") < 400, "peak RSS %ld MiB", mem_status_mib("VmHWM:"));
    /* A second after the last large request the heap is trimmed. */
    for (int i = 0; i < 30 && mem_status_mib("VmRSS:") >= 64; i++)
        usleep(100 * 1000);
    ck_assert_msg(mem_status_mib("VmRSS:") < 64, "RSS %ld MiB after the burst",
                  mem_status_mib("VmRSS:"));
#endif
}
END_TEST

Suite *e2e_memory_suite(void)
{
    Suite *s = suite_create("e2e_memory");
    TCase *tc = tcase_create("bodies");

    tcase_add_unchecked_fixture(tc, mem_up, t_llm_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tiny_values_refused_cheaply);
    tcase_add_test(tc, long_strings_served_and_memory_returned);
    t_api_add_shutdown_test(tc);
    suite_add_tcase(s, tc);
    return s;
}
