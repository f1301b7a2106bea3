/*
 * Test-side control of the fake provider (see t_fake.h): fork/exec with a port file, HTTP through
 * t_http(), and a stop that reports the exit status so sanitizer builds catch leaks in the fake.
 */
#include "t_fake.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_gw.h"

static long t_fake_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static const char *t_fake_bin(void)
{
    const char *b = getenv("GW_FAKE");

    return b != NULL && b[0] != '\0' ? b : "./build/fake-upstream";
}

static void t_fake_port_path(const struct t_fake *f, char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "%s/port%s", f->dir, suffix);
}

int t_fake_start(struct t_fake *f)
{
    const char *bin = t_fake_bin();
    char path[192];
    pid_t parent = getpid();
    long deadline;

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/gwfake-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        f->dir[0] = '\0';
        return -1;
    }
    t_fake_port_path(f, path, sizeof(path), "");
    f->pid = fork();
    if (f->pid == 0) {
        /* A test that crashes must not leave the fake running forever. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        execl(bin, bin, "--port-file", path, (char *)NULL);
        fprintf(stderr, "t_fake: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    if (f->pid < 0) {
        f->pid = 0;
        goto fail;
    }
    deadline = t_fake_now_ms() + 5000;
    while (t_fake_now_ms() < deadline) {
        char *text = t_read_file(path); /* written by rename: complete when present */
        int st;

        if (text != NULL) {
            long port = strtol(text, NULL, 10);

            free(text);
            if (port <= 0 || port > 65535)
                goto fail;
            f->port = (int)port;
            return 0;
        }
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            f->pid = 0;
            goto fail;
        }
        usleep(2000);
    }
    fprintf(stderr, "t_fake: %s wrote no port file within 5 s\n", bin);
fail:
    t_fake_stop(f);
    return -1;
}

int t_fake_stop_rc(struct t_fake *f)
{
    char path[192];
    int rc = -1, st;

    if (f->pid > 0) {
        long deadline = t_fake_now_ms() + 3000;

        kill(f->pid, SIGTERM);
        while (t_fake_now_ms() < deadline) {
            if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
                rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            usleep(2000);
        }
        if (rc == -1) {
            kill(f->pid, SIGKILL);
            if (waitpid(f->pid, &st, 0) == f->pid)
                rc = 128 + SIGKILL;
        }
    }
    if (f->dir[0] != '\0') {
        t_fake_port_path(f, path, sizeof(path), "");
        unlink(path);
        t_fake_port_path(f, path, sizeof(path), ".tmp");
        unlink(path);
        if (rmdir(f->dir) != 0)
            fprintf(stderr, "t_fake: cannot remove %s: %s\n", f->dir, strerror(errno));
    }
    memset(f, 0, sizeof(*f));
    return rc;
}

void t_fake_stop(struct t_fake *f)
{
    bool running = f->pid > 0;
    int rc = t_fake_stop_rc(f);

    if (running && rc != 0)
        fprintf(stderr, "t_fake: fake-upstream exited with status %d\n", rc);
}

json_t *t_fake_get(const struct t_fake *f, const char *path)
{
    struct t_resp r;
    json_t *j = NULL;

    if (f->port <= 0)
        return NULL;
    if (t_http(f->port, "GET", path, NULL, NULL, &r) == 0 && r.status == 200)
        j = json_loadb(r.body, r.body_len, JSON_DECODE_ANY, NULL);
    t_resp_free(&r);
    return j;
}

long t_fake_stat(const struct t_fake *f, const char *name)
{
    json_t *j = t_fake_get(f, "/_stats");
    json_t *v = json_object_get(j, name);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;

    json_decref(j);
    return n;
}

void t_fake_reset(const struct t_fake *f)
{
    struct t_resp r;

    if (f->port <= 0)
        return;
    if (t_http(f->port, "POST", "/_reset", NULL, "", &r) != 0 || r.status != 200)
        fprintf(stderr, "t_fake: POST /_reset failed\n");
    t_resp_free(&r);
}

json_t *t_json_at(json_t *j, const char *path)
{
    char step[64];

    while (j != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");
        char *end;
        long idx;

        snprintf(step, sizeof(step), "%.*s", (int)n, path);
        idx = strtol(step, &end, 10);
        j = json_is_array(j) && *end == '\0' && end != step ? json_array_get(j, (size_t)idx)
                                                            : json_object_get(j, step);
        path += n + (path[n] == '.');
    }
    return j;
}
