/*
 * End-to-end test support (see t_gw.h): process control, a tiny blocking HTTP/1.1 client and
 * direct SQLite reads, so tests check both the wire and the database.
 */
#include "t_gw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "t_pg.h"

static long t_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int t_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static const char *t_bin(void)
{
    const char *b = getenv("GW_BIN");
    return b != NULL ? b : "build/any-llm-gateway";
}

static void t_exec_child(const char *const *argv, const char *const *envs, int outfd)
{
    dup2(outfd, STDOUT_FILENO);
    dup2(outfd, STDERR_FILENO);
    for (size_t i = 0; envs != NULL && envs[i] != NULL; i++)
        putenv((char *)envs[i]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

int t_gw_start(struct t_gw *g, const char *yaml_extra, const char *const *args,
               const char *const *envs)
{
    const char *argv[32];
    size_t n = 0;
    FILE *f;
    int logfd;
    long deadline;

    memset(g, 0, sizeof(*g));
    snprintf(g->dir, sizeof(g->dir), "/tmp/gwtest-XXXXXX");
    if (mkdtemp(g->dir) == NULL)
        return -1;
    if (t_pg_backend()) {
        if (t_pg_newdb(g->db, sizeof(g->db)) < 0)
            return -1;
    } else {
        snprintf(g->db, sizeof(g->db), "%s/gw.db", g->dir);
    }
    snprintf(g->cfgpath, sizeof(g->cfgpath), "%s/config.yaml", g->dir);
    snprintf(g->logpath, sizeof(g->logpath), "%s/gw.log", g->dir);
    g->port = t_free_port();
    f = fopen(g->cfgpath, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "host: 127.0.0.1\nport: %d\ndatabase_url: %s%s\nworkers: 2\n%s\n", g->port,
            t_pg_backend() ? "" : "sqlite:///", g->db, yaml_extra != NULL ? yaml_extra : "");
    fclose(f);
    argv[n++] = t_bin();
    argv[n++] = "serve";
    argv[n++] = "--config";
    argv[n++] = g->cfgpath;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    logfd = open(g->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (logfd < 0)
        return -1;
    g->pid = fork();
    if (g->pid == 0) {
        unsetenv("GATEWAY_MASTER_KEY");
        unsetenv("DATABASE_URL");
        t_exec_child(argv, envs, logfd);
    }
    close(logfd);
    if (g->pid < 0)
        return -1;
    deadline = t_now_ms() + 15000;
    while (t_now_ms() < deadline) {
        struct t_resp r;
        int st;
        if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
            g->pid = 0;
            t_gw_stop(g, SIGKILL, 0);
            return -1;
        }
        if (t_http(g->port, "GET", "/health", NULL, NULL, &r) == 0 && r.status == 200) {
            t_resp_free(&r);
            return 0;
        }
        t_resp_free(&r);
        usleep(20000);
    }
    t_gw_stop(g, SIGKILL, 2000); /* prints the log, removes the directory */
    return -1;
}

/* A database of the PostgreSQL run (t_pg_newdb) rather than a SQLite file. */
static bool t_is_pg_url(const char *db)
{
    return strncmp(db, "postgresql://", 13) == 0;
}

static void t_rmtree(const char *dir)
{
    char cmd[300];

    if (dir[0] == '\0' || strncmp(dir, "/tmp/gwtest-", 12) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

int t_gw_stop(struct t_gw *g, int sig, int timeout_ms)
{
    long deadline = t_now_ms() + timeout_ms;
    int st, rc = -1;

    if (g->pid > 0) {
        kill(g->pid, sig);
        while (t_now_ms() < deadline) {
            if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
                rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            usleep(10000);
        }
        if (rc == -1) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &st, 0);
        }
        g->pid = 0;
    }
    if (rc != 0 && getenv("T_KEEP_LOG") == NULL) {
        char *log = t_read_file(g->logpath);
        fprintf(stderr, "--- gateway log (exit %d) ---\n%s\n", rc, log != NULL ? log : "");
        free(log);
    }
    t_rmtree(g->dir);
    if (t_is_pg_url(g->db)) {
        t_pg_dropdb(g->db);
        g->db[0] = '\0';
    }
    return rc;
}

int t_run(const char *const *argv, const char *const *envs, char **out)
{
    const char *full[32];
    int p[2], st;
    size_t n = 0, cap = 4096, len = 0;
    char *buf;
    pid_t pid;

    full[n++] = t_bin();
    for (size_t i = 0; argv[i] != NULL && n < 31; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    if (pipe(p) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        unsetenv("GATEWAY_MASTER_KEY");
        unsetenv("DATABASE_URL");
        t_exec_child(full, envs, p[1]);
    }
    close(p[1]);
    buf = malloc(cap);
    for (;;) {
        ssize_t r;
        if (len + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        r = read(p[0], buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(p[0]);
    if (waitpid(pid, &st, 0) != pid) {
        free(buf);
        return -1;
    }
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *t_strcasestr(const char *h, const char *n)
{
    size_t nl = strlen(n);

    for (; *h != '\0'; h++)
        if (strncasecmp(h, n, nl) == 0)
            return h;
    return NULL;
}

/* True once buf holds a complete response (Content-Length known and satisfied). */
static bool t_resp_complete(const char *buf, size_t len)
{
    const char *end = strstr(buf, "\r\n\r\n");
    const char *cl;

    if (end == NULL)
        return false;
    cl = t_strcasestr(buf, "\r\nContent-Length:");
    if (cl == NULL || cl > end)
        return false;
    return len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

int t_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int t_http_read(int fd, struct t_resp *resp, int timeout_ms)
{
    size_t cap = 8192, got = 0;
    long deadline = t_now_ms() + timeout_ms;
    char *buf = malloc(cap), *sep;

    memset(resp, 0, sizeof(*resp));
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long left = deadline - t_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        if (got + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        r = recv(fd, buf + got, cap - got - 1, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (t_resp_complete(buf, got))
            break;
    }
    buf[got] = '\0';
    sep = strstr(buf, "\r\n\r\n");
    if (got < 12 || sep == NULL) {
        free(buf);
        return -1;
    }
    resp->status = atoi(buf + 9);
    resp->head = strndup(buf, (size_t)(sep - buf) + 2);
    resp->body_len = got - (size_t)(sep + 4 - buf);
    resp->body = malloc(resp->body_len + 1);
    memcpy(resp->body, sep + 4, resp->body_len);
    resp->body[resp->body_len] = '\0';
    free(buf);
    return 0;
}

int t_http_raw(int port, const char *req, size_t len, struct t_resp *resp, int timeout_ms)
{
    size_t off = 0;
    int fd = t_connect(port), rc;

    memset(resp, 0, sizeof(*resp));
    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may answer early (e.g. 413) and close */
        off += (size_t)w;
    }
    rc = t_http_read(fd, resp, timeout_ms);
    close(fd);
    return rc;
}

int t_http(int port, const char *method, const char *path, const char *headers, const char *body,
           struct t_resp *resp)
{
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t cap = strlen(path) + (headers ? strlen(headers) : 0) + blen + 256;
    char *req = malloc(cap);
    int n, rc;

    n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method,
                 path, headers != NULL ? headers : "");
    if (body != NULL)
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body != NULL) {
        memcpy(req + n, body, blen);
        n += (int)blen;
    }
    rc = t_http_raw(port, req, (size_t)n, resp, 10000);
    free(req);
    return rc;
}

const char *t_header(const struct t_resp *resp, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    const char *line;

    if (resp->head == NULL)
        return NULL;
    for (line = strstr(resp->head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = strcspn(v, "\r\n");
            if (vl >= len)
                vl = len - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
    }
    return NULL;
}

void t_resp_free(struct t_resp *resp)
{
    free(resp->head);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

char *t_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    buf[n] = '\0';
    fclose(f);
    return buf;
}

char *t_sql(const char *dbpath, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;

    if (t_is_pg_url(dbpath))
        return t_pg_sql(dbpath, sql);
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto done;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto done;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        out = strdup(v != NULL ? (const char *)v : "NULL");
    } else {
        out = strdup("");
    }
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

int t_sql_exec(const char *dbpath, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = -1;

    if (t_is_pg_url(dbpath))
        return t_pg_sql_exec(dbpath, sql);
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    }
    sqlite3_close(db);
    return rc;
}

char *t_gw_log_wait(const struct t_gw *g, const char *needle, int timeout_ms)
{
    long deadline = t_now_ms() + timeout_ms;
    char *log = t_read_file(g->logpath);

    while ((log == NULL || strstr(log, needle) == NULL) && t_now_ms() < deadline) {
        free(log);
        usleep(20 * 1000);
        log = t_read_file(g->logpath);
    }
    return log;
}

/* Removes the chunked framing of an HTTP body in place; returns the new length. */
size_t t_dechunk(char *b, size_t len)
{
    size_t in = 0, out = 0;

    while (in < len) {
        char *end;
        unsigned long n = strtoul(b + in, &end, 16);
        char *crlf = strstr(b + in, "\r\n");
        if (crlf == NULL || end == b + in)
            break;
        in = (size_t)(crlf - b) + 2;
        if (n == 0 || in + n > len)
            break;
        memmove(b + out, b + in, n);
        out += n;
        in += n + 2;
    }
    b[out] = '\0';
    return out;
}
