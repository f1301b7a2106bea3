/*
 * Throwaway PostgreSQL cluster for the tests (see t_pg.h). Commands run in a forked child
 * that drops to the postgres user when we are root, with output going to <dir>/cmd.log.
 */
#include "t_pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

/* Finds the newest /usr/lib/postgresql/<ver>/bin holding initdb and pg_ctl. */
static int t_pg_find_bindir(struct t_pg *pg)
{
    const char *env = getenv("GW_PG_BINDIR");
    DIR *d;
    struct dirent *e;
    long best = -1;
    char path[512];

    if (env != NULL && *env != '\0') {
        snprintf(pg->bindir, sizeof(pg->bindir), "%s", env);
        snprintf(path, sizeof(path), "%s/initdb", pg->bindir);
        return access(path, X_OK) == 0 ? 0 : -1;
    }
    d = opendir("/usr/lib/postgresql");
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);

        if (end == e->d_name || *end != '\0' || v <= best)
            continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (access(path, X_OK) != 0)
            continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/pg_ctl", e->d_name);
        if (access(path, X_OK) != 0)
            continue;
        best = v;
        snprintf(pg->bindir, sizeof(pg->bindir), "/usr/lib/postgresql/%ld/bin", v);
    }
    closedir(d);
    return best >= 0 ? 0 : -1;
}

static int t_pg_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/*
 * Runs bindir/prog with argv (NULL-terminated, argv[0] included) as the postgres user when
 * root, output appended to <dir>/cmd.log. Returns the exit status, or -1.
 */
static int t_pg_run(struct t_pg *pg, char *const argv[])
{
    char prog[512], log[256];
    pid_t pid;
    int st;

    snprintf(prog, sizeof(prog), "%s/%s", pg->bindir, argv[0]);
    snprintf(log, sizeof(log), "%s/cmd.log", pg->dir);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("postgres");

            if (pw == NULL || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
                setuid(pw->pw_uid) < 0)
                _exit(126);
        }
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* The server must not inherit the test runner's descriptors. */
        for (int i = 3; i < 1024; i++)
            close(i);
        execv(prog, argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int t_pg_ctl_start(struct t_pg *pg)
{
    char data[192], logf[192], opts[512];
    char *argv[] = {"pg_ctl", "-D", data, "-l", logf, "-w", "-t", "20", "-o", opts, "start", NULL};

    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(logf, sizeof(logf), "%s/server.log", pg->dir);
    snprintf(opts, sizeof(opts),
             "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
             "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=60",
             pg->port, pg->dir);
    if (t_pg_run(pg, argv) != 0) {
        snprintf(pg->err, sizeof(pg->err), "pg_ctl start failed (see %s and %s/cmd.log)", logf,
                 pg->dir);
        return -1;
    }
    pg->running = true;
    return 0;
}

int t_pg_start(struct t_pg *pg)
{
    char data[192];
    char *initdb[] = {"initdb",   "-D", data,   "-A",         "trust",     "-U",
                      "postgres", "-E", "UTF8", "--locale=C", "--no-sync", NULL};

    memset(pg, 0, sizeof(*pg));
    if (t_pg_find_bindir(pg) < 0) {
        snprintf(pg->err, sizeof(pg->err),
                 "PostgreSQL server binaries not found under /usr/lib/postgresql/<ver>/bin or "
                 "$GW_PG_BINDIR (install the Debian postgresql package: scripts/deps.sh test)");
        return -1;
    }
    if (geteuid() == 0 && getpwnam("postgres") == NULL) {
        snprintf(pg->err, sizeof(pg->err), "running as root but there is no postgres user");
        return -1;
    }
    snprintf(pg->dir, sizeof(pg->dir), "/tmp/gw-pg-XXXXXX");
    if (mkdtemp(pg->dir) == NULL) {
        snprintf(pg->err, sizeof(pg->err), "mkdtemp: %s", strerror(errno));
        pg->dir[0] = '\0';
        return -1;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");

        if (chown(pg->dir, pw->pw_uid, pw->pw_gid) < 0) {
            snprintf(pg->err, sizeof(pg->err), "chown %s: %s", pg->dir, strerror(errno));
            goto fail;
        }
    }
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    if (t_pg_run(pg, initdb) != 0) {
        snprintf(pg->err, sizeof(pg->err), "initdb failed (see %s/cmd.log)", pg->dir);
        goto fail;
    }
    /* A port taken between the probe and the start: retry with another. */
    for (int attempt = 0; attempt < 3; attempt++) {
        pg->port = t_pg_free_port();
        if (pg->port > 0 && t_pg_ctl_start(pg) == 0)
            return 0;
    }
fail:
    t_pg_stop(pg);
    return -1;
}

int t_pg_server_stop(struct t_pg *pg)
{
    char data[192];
    char *argv[] = {"pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL};

    if (!pg->running)
        return 0;
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    if (t_pg_run(pg, argv) != 0) {
        snprintf(pg->err, sizeof(pg->err), "pg_ctl stop failed (see %s/cmd.log)", pg->dir);
        return -1;
    }
    pg->running = false;
    return 0;
}

int t_pg_server_start(struct t_pg *pg)
{
    return pg->running ? 0 : t_pg_ctl_start(pg);
}

void t_pg_conninfo(const struct t_pg *pg, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "host=127.0.0.1 port=%d user=postgres dbname=%s", pg->port, name);
}

static void t_pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

int t_pg_createdb(struct t_pg *pg, const char *name, char *url, size_t urllen)
{
    char ci[256], sql[256];
    PGconn *c;
    PGresult *r;
    int rc = -1;

    t_pg_conninfo(pg, "postgres", ci, sizeof(ci));
    c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(pg->err, sizeof(pg->err), "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, t_pg_quiet, NULL);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        snprintf(url, urllen, "postgresql://postgres@127.0.0.1:%d/%s", pg->port, name);
        rc = 0;
    } else {
        snprintf(pg->err, sizeof(pg->err), "CREATE DATABASE %s: %s", name, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* rm -rf path (no symlinks followed). */
static void t_pg_rm(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;
    char sub[512];

    if (lstat(path, &sb) < 0)
        return;
    if (S_ISDIR(sb.st_mode) && (d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            t_pg_rm(sub);
        }
        closedir(d);
        rmdir(path);
        return;
    }
    unlink(path);
}

void t_pg_stop(struct t_pg *pg)
{
    if (pg == NULL || pg->dir[0] == '\0')
        return;
    (void)t_pg_server_stop(pg);
    t_pg_rm(pg->dir);
    pg->dir[0] = '\0';
    pg->running = false;
}
