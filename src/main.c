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

#include "cli.h"
#include "config.h"
#include "db/db.h"
#include "gateway/gw_boot.h"
#include "gateway/gw_index.h"
#include "gateway/gw_server.h"
#include "gateway/gw_sync.h"
#include "gateway/gw_usage.h"
#include "httpc.h"
#include "log.h"
#include "providers/prov_conf.h"

/* What becomes live once start-up over the database is done (gw_boot_start()'s ready). */
struct serve_ctx {
    struct gw_server *srv;
    struct gw_index *ix;
    struct db *db;
    struct gw_sync *sync; /* PostgreSQL: written by ready(), read after gw_boot_stop() */
    bool sync_failed;
};

static void serve_ready(void *arg)
{
    struct serve_ctx *sc = arg;

    /* PostgreSQL may be shared by several replicas: keep memory coherent with it. */
    if (strcmp(db_backend_name(sc->db), "postgresql") == 0 &&
        (sc->sync = gw_sync_start(sc->ix, sc->db, 0)) == NULL) {
        LOG_ERR("start-up failed: cannot start the replica sync");
        sc->sync_failed = true;
        return;
    }
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
    if (db_migrate_to(db, revision, err, sizeof(err)) < 0) {
        LOG_ERR("%s", err);
    } else {
        LOG_INFO("database migrated to %s", revision != NULL ? revision : "head");
        rc = 0;
    }
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
 * serve: the listeners come up at once; start-up over the database (migrations, bootstrap key,
 * pricing, index) completes before, or, while the database is away, later in the background,
 * the API answering 503 meanwhile.
 */
static int run_serve(const struct cfg *cfg)
{
    char err[512], redacted[512];
    struct serve_ctx sc = {0};
    struct db *db;
    struct gw_index *ix = NULL;
    struct prov_confs *provs = NULL;
    struct gw_usage *usage = NULL;
    struct gw_boot_run *boot = NULL;
    int rc = 1;

    if (gw_boot_check(cfg, err, sizeof(err)) < 0) {
        LOG_ERR("start-up failed: %s", err);
        return 2;
    }
    raise_fd_limit();
    if ((db = db_open(cfg->database_url, err, sizeof(err))) == NULL) {
        LOG_ERR("cannot open database %s: %s",
                log_redact(redacted, sizeof(redacted), cfg->database_url), err);
        return 1;
    }
    if (cfg->master_key == NULL)
        LOG_WARN("No master key configured. Key management endpoints will be unavailable.");
    ix = gw_index_new();
    provs = prov_confs_new(cfg->providers);
    usage = gw_usage_new(db, cfg->usage_flush_ms, 0);
    if (ix == NULL || provs == NULL || usage == NULL) {
        LOG_ERR("start-up failed: out of memory");
        goto out;
    }
    if (strcmp(db_backend_name(db), "postgresql") == 0)
        gw_usage_on_written(usage, gw_index_spend_written, ix);
    if (gw_usage_start(usage) < 0) {
        LOG_ERR("start-up failed: cannot start the usage writer");
        goto out;
    }
    if ((sc.srv = gw_server_new(cfg, db, ix, provs, usage)) == NULL)
        goto out;
    sc.ix = ix;
    sc.db = db;
    if ((boot = gw_boot_start(cfg, db, ix, serve_ready, &sc)) == NULL)
        goto out;
    if (!sc.sync_failed && gw_server_run(sc.srv) == 0)
        rc = 0;
out:
    gw_boot_stop(boot); /* after it, sc.sync is stable */
    gw_sync_stop(sc.sync);
    if (usage != NULL)
        gw_usage_stop(usage); /* every queued usage row is written before the database closes */
    db_close(db); /* finishes every queued operation while the event bases still exist */
    gw_server_free(sc.srv);
    gw_usage_free(usage);
    prov_confs_free(provs);
    gw_index_free(ix);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli cli;
    struct cfg cfg = {0};
    sigset_t sigs;
    char err[1024];
    int rc;

    signal(SIGPIPE, SIG_IGN);
    /*
     * Block the shutdown signals before any thread exists (the SQLite thread starts with the
     * database): every thread inherits the mask, and only gw_server_run()'s sigwait() takes
     * them, so a second SIGTERM during the drain cannot kill the process half-way.
     */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
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
    if (evthread_use_pthreads() < 0 || httpc_global_init() < 0) {
        LOG_ERR("libevent threading support or libcurl is unavailable");
        cfg_free(&cfg);
        return 1;
    }
    switch (cli.cmd) {
    case CLI_CHECK_CONFIG:
        if (!db_url_supported(cfg.database_url)) {
            fprintf(stderr, "Error: database_url: unsupported scheme\n");
            rc = 2;
            break;
        }
        printf("Configuration OK\n");
        rc = 0;
        break;
    case CLI_INIT_DB:
    case CLI_MIGRATE:
        rc = run_migrate(&cfg, cli.cmd == CLI_MIGRATE ? cli.revision : NULL);
        break;
    default:
        rc = run_serve(&cfg);
        break;
    }
    cfg_free(&cfg);
    httpc_global_cleanup();
    libevent_global_shutdown();
    return rc;
}
