/*
 * Runs the official SDKs' test scripts (in tests/sdk, installed into tests/npm by
 * scripts/sdk-deps.sh) against the gateway of t_api (contract in t_sdk.h).
 */
#include "t_sdk.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_api.h"
#include "t_llm.h"

static long t_sdk_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static const char *t_sdk_root(void)
{
    const char *r = getenv("GW_ROOT");

    return r != NULL && r[0] != '\0' ? r : ".";
}

/* Fails the test, with the fix, when node or the installed SDK is missing. */
void t_sdk_need(void)
{
    char path[512];
    struct stat st;

    t_llm_need();
    snprintf(path, sizeof(path), "%s/tests/npm/node_modules/openai/package.json", t_sdk_root());
    ck_assert_msg(stat(path, &st) == 0,
                  "%s missing: the OpenAI SDK is not installed; run scripts/sdk-deps.sh "
                  "(make sdk-deps) with GW_ROOT set to the repository root",
                  path);
}

json_t *t_sdk_run(const char *name, const char *kase, const char *arg, const char *url_path,
                  const char *key, const char *const *env)
{
    char script[512];

    t_sdk_need();
    snprintf(script, sizeof(script), "tests/sdk/%s", name);
    return t_node_run(script, kase, arg, url_path, key, env, 20);
}

/*
 * Runs `node <root>/<name> kase [arg]` against t_api with key; asserts it exits 0 within
 * timeout_s (scaled) and printed one JSON object, which it returns (owned). The script's stderr
 * goes to a file in the gateway's temporary directory and is quoted on failure.
 */
json_t *t_node_run(const char *name, const char *kase, const char *arg, const char *url_path,
                   const char *key, const char *const *env, int timeout_s)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    long k = m != NULL ? strtol(m, NULL, 10) : 1;
    char script[512], url[64], errpath[256], buf[8192], *err;
    size_t len = 0;
    int p[2], st = 0, rc;
    long deadline = t_sdk_now_ms() + timeout_s * 1000L * (k > 1 ? k : 1);
    pid_t pid;
    json_t *j;
    json_error_t jerr;

    snprintf(script, sizeof(script), "%s/%s", t_sdk_root(), name);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", t_api.port, url_path);
    snprintf(errpath, sizeof(errpath), "%s/node-%s.err", t_api.dir, kase);
    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        close(p[0]);
        dup2(p[1], STDOUT_FILENO);
        if (efd >= 0)
            dup2(efd, STDERR_FILENO);
        setenv("GW_BASE_URL", url, 1);
        setenv("GW_KEY", key, 1);
        unsetenv("GW_PREFIX");
        unsetenv("GW_AUTH");
        unsetenv("GW_MODEL");
        unsetenv("NODE_OPTIONS");
        for (size_t i = 0; env != NULL && env[i] != NULL; i += 2)
            setenv(env[i], env[i + 1], 1);
        execlp("node", "node", script, kase, arg, (char *)NULL);
        fprintf(stderr, "cannot run node (%s): install Node.js >= 18 (scripts/deps.sh test)\n",
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        long left = deadline - t_sdk_now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        r = read(p[0], buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(buf) - 1)
            break;
    }
    buf[len] = '\0';
    close(p[0]);
    while ((rc = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    err = t_read_file(errpath);
    ck_assert_msg(rc == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "node %s %s: wait status 0x%x (killed after %d s if 0x9);\n"
                  "stdout: %.1000s\nstderr: %.2000s", /* Check caps a message near 4 KB */
                  name, kase, st, timeout_s, buf, err != NULL ? err : "");
    j = json_loads(buf, 0, &jerr);
    ck_assert_msg(json_is_object(j), "node %s %s printed no JSON object: '%.1000s' (%.2000s)", name,
                  kase, buf, err != NULL ? err : "");
    free(err);
    return j;
}
