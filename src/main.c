/*
 * any-llm-gateway: parse the command line, load the configuration, open storage, then run
 * the requested command (serve, init-db, migrate, check-config). Kept thin on purpose.
 * Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "acct/acct_boot.h"
#include "acct/acct_index.h"
#include "acct/acct_sync.h"
#include "acct/acct_usage.h"
#include "cli.h"
#include "config.h"
#include "db/db.h"
#include "gateway/http/gw_server.h"
#include "httpc.h"
#include "log.h"
#include "providers/prov_conf.h"

/*
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked in every thread and taken by one thread
 * (sig_main) for the whole run, in every phase: a stop interrupts a migration's wait for
 * another replica's lock (db_interrupt), drains the server, and a second stop cuts the drain
 * short; SIGHUP re-reads the log level. SIGUSR2 only ends the thread at exit.
 */
static struct {
    pthread_mutex_t mu;
    pthread_t thread;
    bool started;
    int stops;                      /* SIGTERM/SIGINT received */
    struct gw_server *srv;          /* serving: where stops go */
    struct db *db;                  /* its migrations stop waiting on a stop */
    const struct cfg_overrides *ov; /* SIGHUP reloads the configuration with them */
} sigs = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* SIGHUP: the log level is re-read from the configuration; nothing else changes live. */
static void sig_reload(void)
{
    struct cfg cfg = {0};
    char err[1024];

    if (cfg_load(&cfg, sigs.ov, err, sizeof(err)) < 0) {
        LOG_WARN("SIGHUP: configuration not reloaded: %s", err);
    } else {
        log_threshold = cfg.log_level;
        LOG_WARN("SIGHUP: log level is now %d; other settings take effect at the next restart",
                 cfg.log_level);
    }
    cfg_free(&cfg);
}

/* Hands a stop to what is running now (called with sigs.mu held). */
static void sig_stop_locked(void)
{
    if (sigs.db != NULL)
        db_interrupt(sigs.db);
    if (sigs.srv != NULL)
        gw_server_stop(sigs.srv, sigs.stops > 1);
}

static void *sig_main(void *arg)
{
    const sigset_t *set = arg;
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGUSR2)
            return NULL;
        if (sig == SIGHUP) {
            sig_reload();
            continue;
        }
        pthread_mutex_lock(&sigs.mu);
        sigs.stops++;
        if (sigs.stops == 1)
            LOG_INFO("received %s: %s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                     sigs.srv != NULL ? "draining in-flight requests" : "stopping");
        else
            LOG_WARN("received %s again: stopping now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        sig_stop_locked();
        pthread_mutex_unlock(&sigs.mu);
    }
}

/* Registers what a stop reaches (NULL to forget); a stop that came earlier applies at once. */
static void sig_attach(struct db *db, struct gw_server *srv)
{
    pthread_mutex_lock(&sigs.mu);
    sigs.db = db;
    sigs.srv = srv;
    if (sigs.stops > 0)
        sig_stop_locked();
    pthread_mutex_unlock(&sigs.mu);
}

/* What becomes live once start-up over the database is done (acct_boot_start()'s ready). */
struct serve_ctx {
    struct gw_server *srv;
    struct acct_index *ix;
    struct db *db;
    struct acct_sync *sync; /* PostgreSQL: written by ready(), read after acct_boot_stop() */
    bool sync_failed;
};

static void serve_ready(void *arg)
{
    struct serve_ctx *sc = arg;

    /* PostgreSQL may be shared by several replicas: keep memory coherent with it. */
    if (strcmp(db_backend_name(sc->db), "postgresql") == 0 &&
        (sc->sync = acct_sync_start(sc->ix, sc->db, 0)) == NULL) {
        LOG_ERR("start-up failed: cannot start the replica sync");
        sc->sync_failed = true;
        return;
    }
    gw_server_set_sync(sc->srv, sc->sync);
    gw_server_set_ready(sc->srv);
}

/* init-db and migrate: apply the migrations (up to revision) and exit. */
static int run_migrate(const struct cfg *cfg, const char *revision)
{
    char err[512], redacted[512];
    struct db *db = db_open(cfg->database_url, err, sizeof(err));
    int rc = 1;

    if (db == NULL) {
        LOG_ERR("cannot open database %s: %s",
                log_redact(redacted, sizeof(redacted), cfg->database_url), err);
        return 1;
    }
    sig_attach(db, NULL);
    if (db_migrate_to(db, revision, err, sizeof(err)) < 0) {
        LOG_ERR("%s", err);
    } else {
        LOG_INFO("database migrated to %s", revision != NULL ? revision : "head");
        rc = 0;
    }
    sig_attach(NULL, NULL);
    db_close(db);
    return rc;
}

/*
 * A server holds a descriptor per client, upstream and database connection: the soft limit
 * (often 1024) goes up to the hard one, which needs no privilege.
 */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        LOG_WARN("cannot raise the file-descriptor limit from %llu to %llu: %s",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * Providers that are usable but cannot be called as configured (unreadable credentials, no
 * project, ...). check-config prints each and fails (2); serve logs a warning for each and starts
 * (those providers answer 502 naming the problem). Returns 0, 1 when out of memory, 2.
 */
static int report_providers(const struct prov_confs *provs, bool to_stderr)
{
    const struct prov_conf *c;
    int rc = 0;

    for (size_t i = 0; (c = prov_confs_at(provs, i)) != NULL; i++) {
        if (!c->usable || c->problem == NULL)
            continue;
        if (to_stderr)
            fprintf(stderr, "Error: providers.%s: %s\n", c->info->id, c->problem);
        else
            LOG_WARN("provider '%s' is misconfigured: %s", c->info->id, c->problem);
        rc = 2;
    }
    return rc;
}

static int check_providers(const struct cfg *cfg)
{
    struct prov_confs *provs = prov_confs_new(cfg->providers);
    int rc;

    if (provs == NULL) {
        fprintf(stderr, "Error: out of memory\n");
        return 1;
    }
    rc = report_providers(provs, true);
    prov_confs_free(provs);
    return rc;
}

/*
 * serve: the listeners come up at once; start-up over the database (migrations, bootstrap key,
 * pricing, index) completes before, or, while the database is away, later in the background,
 * the API answering 503 meanwhile.
 */
static int run_serve(const struct cfg *cfg)
{
    char err[512], redacted[512];
    struct serve_ctx sc = {0};
    struct db *db;
    struct acct_index *ix = NULL;
    struct prov_confs *provs = NULL;
    struct acct_usage *usage = NULL;
    struct acct_boot_run *boot = NULL;
    int rc = 1;

    if (acct_boot_check(cfg, err, sizeof(err)) < 0) {
        LOG_ERR("start-up failed: %s", err);
        return 2;
    }
    raise_fd_limit();
    if ((db = db_open(cfg->database_url, err, sizeof(err))) == NULL) {
        LOG_ERR("cannot open database %s: %s",
                log_redact(redacted, sizeof(redacted), cfg->database_url), err);
        return 1;
    }
    sig_attach(db, NULL);
    if (cfg->master_key == NULL)
        LOG_WARN("No master key configured. Key management endpoints will be unavailable.");
    ix = acct_index_new();
    provs = prov_confs_new(cfg->providers);
    usage = acct_usage_new(db, cfg->usage_flush_ms, 0);
    if (ix == NULL || provs == NULL || usage == NULL) {
        LOG_ERR("start-up failed: out of memory");
        goto out;
    }
    (void)report_providers(provs, false);
    if (strcmp(db_backend_name(db), "postgresql") == 0)
        acct_usage_on_written(usage, acct_index_spend_written, ix);
    if (acct_usage_start(usage) < 0) {
        LOG_ERR("start-up failed: cannot start the usage writer");
        goto out;
    }
    if ((sc.srv = gw_server_new(cfg, db, ix, provs, usage)) == NULL)
        goto out;
    sc.ix = ix;
    sc.db = db;
    sig_attach(db, sc.srv);
    if ((boot = acct_boot_start(cfg, db, ix, serve_ready, &sc)) == NULL)
        goto out;
    if (!sc.sync_failed && gw_server_run(sc.srv) == 0)
        rc = 0;
out:
    sig_attach(NULL, NULL);
    db_interrupt(db);     /* a start-up retry waiting for the migration lock ends now */
    acct_boot_stop(boot); /* after it, sc.sync is stable */
    acct_sync_stop(sc.sync);
    if (usage != NULL)
        acct_usage_stop(usage); /* every queued usage row is written before the database closes */
    db_close(db); /* finishes every queued operation while the event bases still exist */
    gw_server_free(sc.srv);
    acct_usage_free(usage);
    prov_confs_free(provs);
    acct_index_free(ix);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli cli;
    struct cfg cfg = {0};
    sigset_t set;
    char err[1024];
    int rc;

    signal(SIGPIPE, SIG_IGN);
    /*
     * Block the signals before any thread exists (the SQLite thread starts with the database):
     * every thread inherits the mask and only sig_main takes them, so no signal kills the
     * process half-way (SIGHUP's default action would, without flushing).
     */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (cli_parse(&cli, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\nTry 'any-llm-gateway --help' for help.\n", err);
        return 2;
    }
    if (cli.cmd == CLI_HELP) {
        cli_usage(stdout, &cli);
        return 0;
    }
    if (cli.cmd == CLI_VERSION) {
        printf("any-llm-gateway %s\n", GW_VERSION);
        return 0;
    }
    if (cli.ov.log_level != NULL)
        (void)log_set_level(cli.ov.log_level);
    if (cfg_load(&cfg, &cli.ov, err, sizeof(err)) < 0) {
        fprintf(stderr, "Error: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    log_threshold = cfg.log_level;
    sigs.ov = &cli.ov;
    sigs.started = pthread_create(&sigs.thread, NULL, sig_main, &set) == 0;
    if (!sigs.started)
        LOG_WARN("cannot start the signal thread: SIGTERM/SIGINT/SIGHUP are ignored");
    if (evthread_use_pthreads() < 0 || httpc_global_init() < 0) {
        LOG_ERR("libevent threading support or libcurl is unavailable");
        rc = 1;
        goto out;
    }
    switch (cli.cmd) {
    case CLI_CHECK_CONFIG:
        if (!db_url_supported(cfg.database_url)) {
            fprintf(stderr, "Error: database_url: unsupported scheme\n");
            rc = 2;
            break;
        }
        rc = check_providers(&cfg);
        if (rc == 0)
            printf("Configuration OK\n");
        break;
    case CLI_INIT_DB:
    case CLI_MIGRATE:
        rc = run_migrate(&cfg, cli.cmd == CLI_MIGRATE ? cli.revision : NULL);
        break;
    default:
        /* Log lines go through the writer thread while serving: a stalled stderr never
         * holds up an event loop; every queued line is written before the process exits. */
        if (log_start(0) < 0)
            LOG_WARN("cannot start the log writer thread: logging directly");
        rc = run_serve(&cfg);
        log_stop();
        break;
    }
    httpc_global_cleanup();
out:
    if (sigs.started) {
        pthread_kill(sigs.thread, SIGUSR2);
        pthread_join(sigs.thread, NULL);
    }
    cfg_free(&cfg);
    libevent_global_shutdown();
    return rc;
}
