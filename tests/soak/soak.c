/*
 * Soak test (make soak, issue 17 item 16): the real gateway on a throwaway PostgreSQL cluster
 * with the fake provider, driven for SOAK_SECONDS (default 150) by client threads that mix JSON
 * chats, whole streams and streams the client leaves after the first chunk, while the database
 * is stopped and started again under load. At the end SIGTERM; then every request must have
 * exactly one usage row (each carries a unique tag in its model name), the gateway must exit 0,
 * and its RSS must stay flat once warm (sampled every second).
 *
 * Prints a summary; exits 0 when every check holds, 1 otherwise.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_fake.h"
#include "t_gw.h"
#include "t_pg.h"

#define SOAK_CLIENTS 6
#define SOAK_MASTER "soak-master-key"
#define SOAK_MAX_TAGS 400000
#define SOAK_RSS_SAMPLES 4096

enum soak_kind { SOAK_JSON, SOAK_STREAM, SOAK_VANISH, SOAK_NKINDS };

/* One request a client made: its tag, and whether the gateway must have logged it. */
struct soak_tag {
    char tag[32];
    bool expect_row;
};

static struct t_gw soak_gw;
static char soak_key[128];
static atomic_bool soak_stop;
static pthread_mutex_t soak_mu = PTHREAD_MUTEX_INITIALIZER;
static struct soak_tag *soak_tags;
static size_t soak_ntags;
static long soak_done[SOAK_NKINDS], soak_bad[SOAK_NKINDS]; /* under soak_mu */

static long soak_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void soak_record(const char *tag, enum soak_kind kind, bool expect_row, bool ok)
{
    pthread_mutex_lock(&soak_mu);
    if (soak_ntags < SOAK_MAX_TAGS) {
        snprintf(soak_tags[soak_ntags].tag, sizeof(soak_tags[0].tag), "%s", tag);
        soak_tags[soak_ntags++].expect_row = expect_row;
    }
    soak_done[kind]++;
    if (!ok)
        soak_bad[kind]++;
    pthread_mutex_unlock(&soak_mu);
}

/* Connects to the gateway and sends req; returns the socket or -1. */
static int soak_send(const char *req, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)soak_gw.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t off = 0;

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return fd;
}

/* What one client has read of its reply so far. */
struct soak_rd {
    char buf[16384];
    size_t got;
};

/*
 * Reads from fd into rd until needle shows up in what was read (true) or the peer closes / 10 s
 * pass (false). A full buffer keeps its tail, where the needle may start.
 */
static bool soak_read_until(int fd, struct soak_rd *rd, const char *needle)
{
    long deadline = soak_now_ms() + 10000;

    while (strstr(rd->buf, needle) == NULL) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long left = deadline - soak_now_ms();
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        if (rd->got == sizeof(rd->buf) - 1) {
            memmove(rd->buf, rd->buf + rd->got - 256, 256);
            rd->got = 256;
        }
        r = recv(fd, rd->buf + rd->got, sizeof(rd->buf) - 1 - rd->got, 0);
        if (r <= 0)
            return false;
        rd->got += (size_t)r;
        rd->buf[rd->got] = '\0';
    }
    return true;
}

/* One request of kind with tag; returns whether it went as it should. */
static void soak_one(enum soak_kind kind, const char *tag)
{
    char body[512], req[1024];
    const char *model = kind == SOAK_JSON     ? "soak"
                        : kind == SOAK_STREAM ? "fake-slow-4-5"
                                              : "fake-slow-40-25";
    int n, fd;
    bool ok = false, reached = false;
    struct soak_rd rd = {.got = 0};

    snprintf(body, sizeof(body),
             "{\"model\":\"openai:%s~%s\",\"stream\":%s,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"soak %s\"}]}",
             model, tag, kind == SOAK_JSON ? "false" : "true", tag);
    n = snprintf(req, sizeof(req),
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\n"
                 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 soak_key, strlen(body), body);
    fd = soak_send(req, (size_t)n);
    if (fd >= 0) {
        rd.buf[0] = '\0';
        if (kind == SOAK_VANISH) {
            /* leave after the first content chunk: the call is under way, so it is billed */
            reached = ok = soak_read_until(fd, &rd, "\"content\":\"x0 \"");
        } else {
            reached = soak_read_until(fd, &rd, "\r\n\r\n");
            ok = reached && strncmp(rd.buf, "HTTP/1.1 200 ", 13) == 0 &&
                 soak_read_until(fd, &rd, kind == SOAK_JSON ? "\"total_tokens\"" : "[DONE]");
        }
        close(fd);
    }
    /* a request the gateway answered (or whose stream began) has its row; a refused one none */
    soak_record(tag, kind, ok || (reached && kind != SOAK_VANISH), ok);
}

static void *soak_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    char tag[32];

    for (long i = 0; !atomic_load(&soak_stop); i++) {
        enum soak_kind kind = (enum soak_kind)((i + id) % 5 == 0  ? SOAK_VANISH
                                               : (i + id) % 5 < 3 ? SOAK_JSON
                                                                  : SOAK_STREAM);
        snprintf(tag, sizeof(tag), "c%d-%ld", id, i);
        soak_one(kind, tag);
    }
    return NULL;
}

static long soak_rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)soak_gw.pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Sends one admin call with the master key; returns the body (owned) when the status is want. */
static char *soak_admin(const char *method, const char *path, const char *body, int want)
{
    struct t_resp r;
    char *out = NULL;

    if (t_http(soak_gw.port, method, path,
               "Authorization: Bearer " SOAK_MASTER "\r\nContent-Type: application/json\r\n", body,
               &r) == 0 &&
        r.status == want)
        out = strdup(r.body);
    else
        fprintf(stderr, "soak: %s %s answered %d: %s\n", method, path, r.status,
                r.body != NULL ? r.body : "");
    t_resp_free(&r);
    return out;
}

static int soak_cmp_tag(const void *a, const void *b)
{
    return strcmp(((const struct soak_tag *)a)->tag, ((const struct soak_tag *)b)->tag);
}

/* Checks the usage table against the tags; returns the number of problems found. */
static int soak_check_rows(long *rows_out)
{
    char q[256], *cell, *p, *save = NULL;
    int bad = 0;
    long rows = 0, expected = 0, dup;
    struct soak_tag key;

    cell = t_sql(soak_gw.db, "SELECT count(*) FROM usage_logs");
    rows = cell != NULL ? atol(cell) : -1;
    free(cell);
    cell = t_sql(soak_gw.db, "SELECT count(*) FROM (SELECT model FROM usage_logs GROUP BY model "
                             "HAVING count(*) > 1) d");
    dup = cell != NULL ? atol(cell) : -1;
    free(cell);
    if (dup != 0) {
        fprintf(stderr, "soak: %ld tag(s) with more than one usage row\n", dup);
        bad++;
    }
    qsort(soak_tags, soak_ntags, sizeof(soak_tags[0]), soak_cmp_tag);
    for (size_t i = 0; i < soak_ntags; i++)
        expected += soak_tags[i].expect_row;
    /* every row belongs to a request made, with the row expected unless the client gave up */
    snprintf(q, sizeof(q), "SELECT string_agg(model, ' ') FROM usage_logs");
    cell = t_sql(soak_gw.db, q);
    for (p = cell != NULL ? strtok_r(cell, " ", &save) : NULL; p != NULL;
         p = strtok_r(NULL, " ", &save)) {
        const char *t = strchr(p, '~');
        struct soak_tag *hit;

        snprintf(key.tag, sizeof(key.tag), "%s", t != NULL ? t + 1 : p);
        hit = bsearch(&key, soak_tags, soak_ntags, sizeof(soak_tags[0]), soak_cmp_tag);
        if (hit == NULL) {
            fprintf(stderr, "soak: a usage row for an unknown request: %s\n", p);
            bad++;
        } else if (hit->expect_row) {
            hit->expect_row = false; /* seen */
            expected--;
        }
    }
    free(cell);
    if (expected != 0) {
        fprintf(stderr, "soak: %ld answered request(s) without a usage row\n", expected);
        bad++;
    }
    *rows_out = rows;
    return bad;
}

int main(void)
{
    const char *secs_env = getenv("SOAK_SECONDS");
    int secs = secs_env != NULL ? atoi(secs_env) : 150, bad = 0, rc, nrss = 0;
    struct t_pg pg;
    struct t_fake fk = {0};
    pthread_t th[SOAK_CLIENTS];
    char yaml[1024], port[16], *out;
    long t0, restart_at, rss[SOAK_RSS_SAMPLES], rows = 0, rss_warm_max = 0, rss_end_max = 0;
    bool restarted = false;

    signal(SIGPIPE, SIG_IGN);
    if (secs < 20)
        secs = 20;
    soak_tags = calloc(SOAK_MAX_TAGS, sizeof(*soak_tags));
    if (soak_tags == NULL || t_pg_start(&pg) < 0) {
        fprintf(stderr, "soak: cannot start PostgreSQL: %s\n", pg.err);
        return 1;
    }
    snprintf(port, sizeof(port), "%d", pg.port);
    setenv("GW_TEST_PG_PORT", port, 1);
    if (t_fake_start(&fk) < 0) {
        fprintf(stderr, "soak: cannot start the fake provider\n");
        t_pg_stop(&pg);
        return 1;
    }
    snprintf(yaml, sizeof(yaml),
             "master_key: " SOAK_MASTER "\nbootstrap_api_key: false\nshutdown_timeout: 20\n"
             "providers:\n  openai:\n    api_key: sk-soak-provider\n"
             "    api_base: http://127.0.0.1:%d/v1\n",
             fk.port);
    if (t_gw_start(&soak_gw, yaml, NULL, NULL) < 0) {
        fprintf(stderr, "soak: the gateway did not start\n");
        t_fake_stop(&fk);
        t_pg_stop(&pg);
        return 1;
    }
    free(soak_admin("POST", "/v1/users", "{\"user_id\":\"soak\"}", 200));
    out = soak_admin("POST", "/v1/keys", "{\"user_id\":\"soak\",\"key_name\":\"soak\"}", 200);
    if (out == NULL || sscanf(strstr(out, "\"key\":\"") + 7, "%127[^\"]", soak_key) != 1) {
        fprintf(stderr, "soak: cannot create the key\n");
        return 1;
    }
    free(out);
    printf("soak: %d s, %d clients, gateway pid %d on PostgreSQL port %d\n", secs, SOAK_CLIENTS,
           (int)soak_gw.pid, pg.port);
    t0 = soak_now_ms();
    restart_at = t0 + secs * 1000L / 3;
    for (int i = 0; i < SOAK_CLIENTS; i++)
        pthread_create(&th[i], NULL, soak_client, (void *)(intptr_t)i);
    while (soak_now_ms() - t0 < secs * 1000L) {
        sleep(1);
        if (nrss < SOAK_RSS_SAMPLES)
            rss[nrss++] = soak_rss_kib();
        if (!restarted && soak_now_ms() >= restart_at) {
            /* the database goes away for 3 s under load, then comes back */
            printf("soak: stopping PostgreSQL at %ld s\n", (soak_now_ms() - t0) / 1000);
            if (t_pg_server_stop(&pg) < 0)
                bad++;
            sleep(3);
            if (t_pg_server_start(&pg) < 0)
                bad++;
            printf("soak: PostgreSQL back at %ld s\n", (soak_now_ms() - t0) / 1000);
            restarted = true;
        }
    }
    atomic_store(&soak_stop, true);
    for (int i = 0; i < SOAK_CLIENTS; i++)
        pthread_join(th[i], NULL);
    /* RSS: the highest sample of the second quarter (warm) against that of the last quarter */
    for (int i = nrss / 4; i < nrss / 2; i++)
        if (rss[i] > rss_warm_max)
            rss_warm_max = rss[i];
    for (int i = 3 * nrss / 4; i < nrss; i++)
        if (rss[i] > rss_end_max)
            rss_end_max = rss[i];
    /* SIGTERM: the gateway drains and writes every row; its database is read before cleanup */
    rc = -1;
    kill(soak_gw.pid, SIGTERM);
    for (long t = soak_now_ms(); rc == -1 && soak_now_ms() - t < 30000; usleep(20000)) {
        int st;
        if (waitpid(soak_gw.pid, &st, WNOHANG) == soak_gw.pid)
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (rc == -1) {
        kill(soak_gw.pid, SIGKILL);
        waitpid(soak_gw.pid, NULL, 0);
    }
    soak_gw.pid = 0;
    bad += soak_check_rows(&rows);
    printf("soak: requests json %ld (%ld failed), stream %ld (%ld failed), vanish %ld (%ld "
           "failed); usage rows %ld for %zu requests\n",
           soak_done[SOAK_JSON], soak_bad[SOAK_JSON], soak_done[SOAK_STREAM], soak_bad[SOAK_STREAM],
           soak_done[SOAK_VANISH], soak_bad[SOAK_VANISH], rows, soak_ntags);
    printf("soak: RSS warm %ld KiB, end %ld KiB (first %ld KiB); gateway exit %d\n", rss_warm_max,
           rss_end_max, nrss > 0 ? rss[0] : -1, rc);
    if (rc != 0) {
        fprintf(stderr, "soak: the gateway exited %d after SIGTERM\n", rc);
        bad++;
    }
    /* flat: the last quarter's peak within 10 % (or 4 MiB) of the warm peak */
    if (rss_end_max > rss_warm_max + (rss_warm_max / 10 > 4096 ? rss_warm_max / 10 : 4096)) {
        fprintf(stderr, "soak: RSS grew from %ld to %ld KiB\n", rss_warm_max, rss_end_max);
        bad++;
    }
    if (bad != 0) {
        char *log = t_read_file(soak_gw.logpath);
        fprintf(stderr, "--- gateway log (last 4 KiB) ---\n%s\n",
                log != NULL ? log + (strlen(log) > 4096 ? strlen(log) - 4096 : 0) : "");
        free(log);
    }
    setenv("T_KEEP_LOG", "1", 1);
    (void)t_gw_stop(&soak_gw, SIGTERM, 0); /* reaped already: removes its files and database */
    t_fake_stop(&fk);
    t_pg_stop(&pg);
    free(soak_tags);
    printf("soak: %s\n", bad == 0 ? "PASS" : "FAIL");
    return bad == 0 ? 0 : 1;
}
