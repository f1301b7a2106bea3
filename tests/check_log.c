/*
 * Unit tests of the logging helpers: level parsing, secret redaction, control-byte escaping and
 * the writer thread's bounded queue.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031 /* Linux; the feature macros in use hide it */
#endif

START_TEST(levels)
{
    ck_assert_int_eq(log_parse_level("10"), 10);
    ck_assert_int_eq(log_parse_level("debug"), LOG_LVL_DEBUG);
    ck_assert_int_eq(log_parse_level("WARNING"), LOG_LVL_WARN);
    ck_assert_int_eq(log_parse_level("critical"), LOG_LVL_CRIT);
    ck_assert_int_eq(log_parse_level("loud"), -1);
    ck_assert_int_eq(log_parse_level(""), -1);
    ck_assert_int_eq(log_parse_level(NULL), -1);
    ck_assert_int_eq(log_set_level("error"), 0);
    ck_assert_int_eq(log_threshold, LOG_LVL_ERROR);
    ck_assert_int_eq(log_set_level("nope"), -1);
    ck_assert_int_eq(log_threshold, LOG_LVL_ERROR);
}
END_TEST

START_TEST(redact_secrets)
{
    char out[256];

    ck_assert_str_eq(log_redact(out, sizeof(out), "postgresql://gw:s3cret@db:5432/gw"),
                     "postgresql://gw:***@db:5432/gw");
    /* Found by fuzzing: a URL without a port, or after another URL, kept its password. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "postgresql://gw:s3cret@db/gw"),
                     "postgresql://gw:***@db/gw");
    ck_assert_str_eq(log_redact(out, sizeof(out), "see https://a/b then postgresql://u:pw@h/d"),
                     "see https://a/b then postgresql://u:***@h/d");
    ck_assert_str_eq(log_redact(out, sizeof(out), "https://h:443/p x://u:a:b/c@h"),
                     "https://h:443/p x://u:***@h");
    ck_assert_str_eq(log_redact(out, sizeof(out), "sqlite:///./any-llm-gateway.db"),
                     "sqlite:///./any-llm-gateway.db");
    ck_assert_str_eq(log_redact(out, sizeof(out), "key gw-AbC_d-123 used"), "key gw-*** used");
    ck_assert_str_eq(log_redact(out, sizeof(out), "Authorization: Bearer abc.def"),
                     "Authorization: Bearer ***");
    ck_assert_str_eq(log_redact(out, sizeof(out), "upstream said sk-proj-XYZ is invalid"),
                     "upstream said sk-*** is invalid");
    ck_assert_str_eq(log_redact(out, sizeof(out), "host=db password=hunter2 user=x"),
                     "host=db password=*** user=x");
    /* Words that merely contain the prefixes are left alone. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "risk-free task-list"), "risk-free task-list");
    /* Control characters cannot forge a second log line. */
    ck_assert_str_eq(log_redact(out, sizeof(out), "a\nb\rc\x1b[0m\x7f"), "a\\nb\\rc\\x1b[0m\\x7f");
    ck_assert_str_eq(log_redact(out, sizeof(out), NULL), "");
}
END_TEST

START_TEST(redact_truncates_safely)
{
    char out[8];

    log_redact(out, sizeof(out), "0123456789abcdef");
    ck_assert_str_eq(out, "0123456");
    log_redact(out, sizeof(out), "xx gw-secretsecret");
    ck_assert_uint_lt(strlen(out), sizeof(out));
    ck_assert_ptr_null(strstr(out, "secret"));
}
END_TEST

/* Every URL and DSN shape keeps its password out (regression: no port, query, IPv6, quotes). */
START_TEST(redact_dsn_shapes)
{
    static const char *const cases[][2] = {
        {"postgresql://u:pw1234@host/db", "postgresql://u:***@host/db"},
        {"postgres://u:pw1234@host/db", "postgres://u:***@host/db"},
        {"postgresql://u:pw1234@host:5432/db", "postgresql://u:***@host:5432/db"},
        {"postgresql://u:pw1234@host", "postgresql://u:***@host"},
        {"cannot open postgresql://u:pw1234@host/db: refused",
         "cannot open postgresql://u:***@host/db: refused"},
        {"postgresql://u@host/db", "postgresql://u@host/db"},
        {"postgresql://host:5432/db", "postgresql://host:5432/db"},
        {"postgresql://u:pw1234@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"},
        {"postgresql://u:pw1234@[2001:db8::1]/db", "postgresql://u:***@[2001:db8::1]/db"},
        {"postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db"},
        {"postgresql://u:p%40ss%2Fw@host/db", "postgresql://u:***@host/db"},
        {"postgresql://u:p@ss/w:x@host/db", "postgresql://u:***@host/db"},
        {"postgresql://host/db?user=u&password=pw1234&sslmode=require",
         "postgresql://host/db?user=u&password=***&sslmode=require"},
        {"postgresql:///db?host=/tmp&password=p%20w", "postgresql:///db?host=/tmp&password=***"},
        {"password=pw1234 host=h", "password=*** host=h"},
        {"host=h password = pw1234 dbname=d", "host=h password = *** dbname=d"},
        {"host=h password='p w\\'x' dbname=d", "host=h password=*** dbname=d"},
        {"host=h PASSWORD=p%40ss!#x dbname=d", "host=h PASSWORD=*** dbname=d"},
        {"PGPASSWORD=pw1234", "PGPASSWORD=***"},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_redact(out, sizeof(out), cases[i][0]);
        ck_assert_msg(strcmp(out, cases[i][1]) == 0, "%s -> %s (want %s)", cases[i][0], out,
                      cases[i][1]);
        ck_assert_ptr_null(strstr(out, "pw1234"));
    }
}
END_TEST

/* A provider echoing the key cut short (or any 8+ prefix of it) is masked too (regression). */
START_TEST(scrub_key_prefixes)
{
    char s[256];

    snprintf(s, sizeof(s), "bad key ABCDEFGHIJKLMNOP!");
    log_scrub(s, "ABCDEFGHIJKLMNOP");
    ck_assert_str_eq(s, "bad key ***!");
    snprintf(s, sizeof(s), "Incorrect API key provided: ABCDEFGHIJKLMNO.");
    log_scrub(s, "ABCDEFGHIJKLMNOP");
    ck_assert_str_eq(s, "Incorrect API key provided: ***.");
    snprintf(s, sizeof(s), "key ABCDEFGH... then ABCDEFG and ABCDEFGHABCDEFGHIJ");
    log_scrub(s, "ABCDEFGHIJKLMNOP");
    ck_assert_str_eq(s, "key ***... then ABCDEFG and ******");
    snprintf(s, sizeof(s), "short key abcd and abc");
    log_scrub(s, "abcd");
    ck_assert_str_eq(s, "short key *** and abc");
    snprintf(s, sizeof(s), "untouched");
    log_scrub(s, "abc");
    log_scrub(s, NULL);
    ck_assert_str_eq(s, "untouched");
}
END_TEST

/* Redirects stderr to a pipe; returns the read end (the saved stderr in *saved). */
static int capture_stderr(int *saved, int pipe_size)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    if (pipe_size > 0)
        (void)fcntl(p[1], F_SETPIPE_SZ, pipe_size);
    *saved = dup(STDERR_FILENO);
    ck_assert_int_ge(*saved, 0);
    ck_assert_int_ge(dup2(p[1], STDERR_FILENO), 0);
    close(p[1]);
    return p[0];
}

static void restore_stderr(int saved)
{
    dup2(saved, STDERR_FILENO);
    close(saved);
}

/* Reads fd to EOF into an owned string. */
static char *read_all(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t r;

    ck_assert_ptr_nonnull(buf);
    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    buf[n] = '\0';
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Client text with a newline cannot start a forged line (regression: it reached stderr raw). */
START_TEST(msg_escapes_control_bytes)
{
    int saved, fd = capture_stderr(&saved, 0);
    char *out;

    log_threshold = LOG_LVL_INFO;
    log_msg(LOG_LVL_WARN, "model '%s' user=%s", "m\n2026-01-01T00:00:00.000Z ERROR forged",
            "u\r\x1b[31m\x01");
    restore_stderr(saved);
    out = read_all(fd);
    close(fd);
    ck_assert_uint_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, " WARNING model 'm\\n2026-01-01T00:00:00.000Z ERROR forged' "
                                      "user=u\\r\\x1b[31m\\x01\n"));
    free(out);
}
END_TEST

struct slow_reader {
    int fd;
    char *out;
};

static void *slow_reader_main(void *arg)
{
    struct slow_reader *sr = arg;
    struct timespec ts = {0, 300 * 1000 * 1000};

    nanosleep(&ts, NULL);
    sr->out = read_all(sr->fd);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With the writer thread a stalled stderr never blocks the logger: lines that do not fit are
 * dropped, counted, reported once the queue drains; log_stop() writes everything queued. */
START_TEST(writer_thread_drops_not_blocks)
{
    struct slow_reader sr = {0};
    pthread_t th;
    int saved;
    double t0, spent;
    const char *rep;
    unsigned long dropped;
    size_t written;

    log_threshold = LOG_LVL_INFO;
    sr.fd = capture_stderr(&saved, 4096);
    ck_assert_int_eq(log_start(8192), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, slow_reader_main, &sr), 0);
    t0 = now_s();
    for (int i = 0; i < 3000; i++)
        log_msg(LOG_LVL_INFO, "line %04d padding padding padding padding padding", i);
    spent = now_s() - t0;
    log_stop();
    log_msg(LOG_LVL_INFO, "after stop");
    restore_stderr(saved);
    pthread_join(th, NULL);
    close(sr.fd);
    /* The reader waits 300 ms before reading: direct writes would have blocked that long. */
    ck_assert_msg(spent < 0.2, "logging blocked for %.3f s", spent);
    ck_assert_ptr_nonnull(strstr(sr.out, "line 0000 padding"));
    rep = strstr(sr.out, "WARNING log: ");
    ck_assert_ptr_nonnull(rep);
    dropped = strtoul(rep + strlen("WARNING log: "), NULL, 10);
    ck_assert_uint_gt(dropped, 0);
    written = count_lines(sr.out) - 2; /* the report and "after stop" */
    ck_assert_uint_eq(written + dropped, 3000);
    ck_assert_ptr_nonnull(strstr(sr.out, "after stop\n"));
    free(sr.out);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_test(tc, levels);
    tcase_add_test(tc, redact_secrets);
    tcase_add_test(tc, redact_truncates_safely);
    tcase_add_test(tc, redact_dsn_shapes);
    tcase_add_test(tc, scrub_key_prefixes);
    tcase_add_test(tc, msg_escapes_control_bytes);
    tcase_add_test(tc, writer_thread_drops_not_blocks);
    suite_add_tcase(s, tc);
    return s;
}
