/*
 * Command line parsing for any-llm-gateway, modelled on the reference's click group: the same
 * commands, options and one-line "Error: ..." messages. One option table drives both the
 * parser and the help text. Files and environment variables are cfg_load()'s business.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define CLI_PROG "any-llm-gateway"
#define CLI_MAX_WORKERS 1024

enum cli_opt_id {
    CLI_O_CONFIG,
    CLI_O_HOST,
    CLI_O_PORT,
    CLI_O_DATABASE_URL,
    CLI_O_MASTER_KEY,
    CLI_O_AUTO_MIGRATE,
    CLI_O_NO_AUTO_MIGRATE,
    CLI_O_WORKERS,
    CLI_O_LOG_LEVEL,
    CLI_O_REVISION,
    CLI_O_HELP,
};

#define CLI_M(cmd) (1u << (cmd))
#define CLI_M_ALL                                                                                  \
    (CLI_M(CLI_SERVE) | CLI_M(CLI_INIT_DB) | CLI_M(CLI_MIGRATE) | CLI_M(CLI_CHECK_CONFIG))
#define CLI_M_SERVE (CLI_M(CLI_SERVE) | CLI_M(CLI_CHECK_CONFIG))

/* One option: names, value placeholder (NULL for flags), the commands that accept it, help. */
struct cli_opt {
    enum cli_opt_id id;
    const char *name;
    char short_name;
    const char *metavar;
    unsigned cmds;
    const char *label; /* left column of the help, when not derived from the names */
    const char *help;  /* NULL: not listed on its own */
};

static const struct cli_opt cli_opts[] = {
    {CLI_O_CONFIG, "--config", 'c', "PATH", CLI_M_ALL, NULL,
     "YAML configuration file (${VAR} references are expanded)."},
    {CLI_O_HOST, "--host", 0, "TEXT", CLI_M_SERVE, NULL, "Host to bind to.  [default: 0.0.0.0]"},
    {CLI_O_PORT, "--port", 0, "INTEGER", CLI_M_SERVE, NULL,
     "Port to bind to, 0 picks a free one.  [default: 8000]"},
    {CLI_O_DATABASE_URL, "--database-url", 0, "TEXT", CLI_M_ALL, NULL,
     "Database URL (sqlite:///path or postgresql://...).  [env var: DATABASE_URL]"},
    {CLI_O_MASTER_KEY, "--master-key", 0, "TEXT", CLI_M_SERVE, NULL,
     "Master key for the management endpoints.  [env var: GATEWAY_MASTER_KEY]"},
    {CLI_O_AUTO_MIGRATE, "--auto-migrate", 0, NULL, CLI_M_SERVE,
     "--auto-migrate / --no-auto-migrate",
     "Apply pending database migrations at startup.  [default: auto-migrate]"},
    {CLI_O_NO_AUTO_MIGRATE, "--no-auto-migrate", 0, NULL, CLI_M_SERVE, NULL, NULL},
    {CLI_O_WORKERS, "--workers", 0, "INTEGER", CLI_M_SERVE, NULL,
     "Event-loop threads, 0 = one per CPU core.  [default: 0]"},
    {CLI_O_LOG_LEVEL, "--log-level", 0, "LEVEL", CLI_M_SERVE, NULL,
     "Log level: 10..50 or debug, info, warning, error, critical.  [default: 20]"},
    {CLI_O_REVISION, "--revision", 0, "TEXT", CLI_M(CLI_MIGRATE), NULL,
     "Revision to upgrade to.  [default: head]"},
    {CLI_O_HELP, "--help", 'h', NULL, CLI_M_ALL, NULL, "Show this message and exit."},
};

#define CLI_NOPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

static const struct {
    const char *name;
    enum cli_cmd cmd;
    const char *help;
} cli_cmds[] = {
    {"serve", CLI_SERVE, "Start the gateway server."},
    {"init-db", CLI_INIT_DB, "Create or upgrade the database schema (all migrations)."},
    {"migrate", CLI_MIGRATE, "Apply database migrations up to a revision."},
    {"check-config", CLI_CHECK_CONFIG, "Validate the configuration and exit."},
};

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const struct cli_opt *cli_opt_long(const char *name, size_t len, enum cli_cmd cmd)
{
    for (size_t i = 0; i < CLI_NOPTS; i++)
        if ((cli_opts[i].cmds & CLI_M(cmd)) && strlen(cli_opts[i].name) == len &&
            strncmp(cli_opts[i].name, name, len) == 0)
            return &cli_opts[i];
    return NULL;
}

static const struct cli_opt *cli_opt_short(char c, enum cli_cmd cmd)
{
    for (size_t i = 0; i < CLI_NOPTS; i++)
        if ((cli_opts[i].cmds & CLI_M(cmd)) && cli_opts[i].short_name == c && c != 0)
            return &cli_opts[i];
    return NULL;
}

/* Parses a whole decimal integer (click's INT accepts a sign). */
static bool cli_int(const char *s, long *v)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return false;
    errno = 0;
    *v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    return errno == 0 && *end == '\0';
}

static bool cli_revision_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '+' && *s != '-')
            return false;
    return true;
}

/* Stores one option value. Returns 0, or -1 with the click-style message in err. */
static int cli_apply(struct cli *cli, const struct cli_opt *o, const char *used, const char *v,
                     char *err, size_t errlen)
{
    long n;
    int lvl;

    switch (o->id) {
    case CLI_O_CONFIG:
        cli->ov.config_path = v;
        return 0;
    case CLI_O_HOST:
        cli->ov.host = v;
        return 0;
    case CLI_O_DATABASE_URL:
        cli->ov.database_url = v;
        return 0;
    case CLI_O_MASTER_KEY:
        cli->ov.master_key = v;
        return 0;
    case CLI_O_AUTO_MIGRATE:
    case CLI_O_NO_AUTO_MIGRATE:
        cli->ov.auto_migrate = o->id == CLI_O_AUTO_MIGRATE;
        return 0;
    case CLI_O_PORT:
    case CLI_O_WORKERS:
        if (!cli_int(v, &n)) {
            snprintf(err, errlen, "Error: Invalid value for '%s': '%s' is not a valid integer.",
                     used, v);
            return -1;
        }
        if (o->id == CLI_O_PORT && (n < 0 || n > 65535)) {
            snprintf(err, errlen,
                     "Error: Invalid value for '%s': %ld is not in the range 0<=x<=65535.", used,
                     n);
            return -1;
        }
        if (o->id == CLI_O_WORKERS && (n < 0 || n > CLI_MAX_WORKERS)) {
            snprintf(err, errlen,
                     "Error: Invalid value for '%s': %ld is not in the range 0<=x<=%d.", used, n,
                     CLI_MAX_WORKERS);
            return -1;
        }
        *(o->id == CLI_O_PORT ? &cli->ov.port : &cli->ov.workers) = (int)n;
        return 0;
    case CLI_O_LOG_LEVEL:
        lvl = log_parse_level(v);
        if (lvl < LOG_LVL_DEBUG || lvl > LOG_LVL_CRIT) {
            snprintf(err, errlen,
                     "Error: Invalid value for '%s': '%s' is not a valid log level (10..50 or "
                     "debug, info, warning, error, critical).",
                     used, v);
            return -1;
        }
        cli->ov.log_level = v;
        return 0;
    case CLI_O_REVISION:
        if (!cli_revision_ok(v)) {
            snprintf(err, errlen,
                     "Error: Invalid value for '%s': '%s' does not match ^[a-zA-Z0-9_+-]+$.", used,
                     v);
            return -1;
        }
        cli->revision = v;
        return 0;
    case CLI_O_HELP:
        return 0;
    }
    return 0;
}

int cli_parse(struct cli *cli, int argc, char **argv, char *err, size_t errlen)
{
    char verr[512] = "", used[64];
    const struct cli_opt *o;
    bool help = false, only_args = false;
    const char *a, *v;
    int i = 1;

    memset(cli, 0, sizeof(*cli));
    cfg_overrides_init(&cli->ov);
    cli->cmd = CLI_HELP;
    cli->revision = "head";
    /* Group options, then the command. No arguments at all: top-level help. */
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 0;
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            cli->cmd = CLI_VERSION;
            return 0;
        }
        snprintf(err, errlen, "Error: No such option: %.*s", (int)strcspn(a, "="), a);
        return -1;
    }
    if (i >= argc)
        return 0;
    for (size_t c = 0; c < CLI_NCMDS; c++)
        if (strcmp(argv[i], cli_cmds[c].name) == 0)
            cli->cmd = cli_cmds[c].cmd;
    if (cli->cmd == CLI_HELP) {
        snprintf(err, errlen, "Error: No such command '%s'.", argv[i]);
        return -1;
    }
    for (i++; i < argc; i++) {
        a = argv[i];
        v = NULL;
        if (only_args || a[0] != '-' || a[1] == '\0') {
            snprintf(err, errlen, "Error: Got unexpected extra argument (%s)", a);
            return -1;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (a[1] == '-') {
            size_t len = strcspn(a, "=");
            snprintf(used, sizeof(used), "%.*s", (int)len, a);
            o = cli_opt_long(a, len, cli->cmd);
            if (a[len] == '=')
                v = a + len + 1;
        } else {
            snprintf(used, sizeof(used), "-%c", a[1]);
            o = cli_opt_short(a[1], cli->cmd);
            if (o != NULL && o->metavar != NULL && a[2] != '\0')
                v = a + 2;
            else if (o != NULL && a[2] != '\0') { /* "-hx": x is another (unknown) flag */
                snprintf(used, sizeof(used), "-%c", a[2]);
                o = NULL;
            }
        }
        if (o == NULL) {
            snprintf(err, errlen, "Error: No such option: %s", used);
            return -1;
        }
        if (o->metavar == NULL && v != NULL) {
            snprintf(err, errlen, "Error: Option '%s' does not take a value.", used);
            return -1;
        }
        if (o->metavar != NULL && v == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "Error: Option '%s' requires an argument.", used);
                return -1;
            }
            v = argv[++i];
        }
        if (o->id == CLI_O_HELP)
            help = true;
        /* Like click's eager --help, a bad value does not hide the help. */
        else if (verr[0] == '\0')
            (void)cli_apply(cli, o, used, v, verr, sizeof(verr));
    }
    if (help) {
        for (size_t c = 0; c < CLI_NCMDS; c++)
            if (cli_cmds[c].cmd == cli->cmd)
                cli->help_command = cli_cmds[c].name;
        cli->cmd = CLI_HELP;
        return 0;
    }
    if (verr[0] != '\0') {
        snprintf(err, errlen, "%s", verr);
        return -1;
    }
    return 0;
}

/* One two-column help row, click style: the help column starts after the widest label of the
 * section (at most 30), and help text is wrapped at 79 columns. */
static void cli_row(FILE *f, int width, const char *left, const char *help)
{
    int col = 2 + width + 2, pos;
    const char *p = help;

    if ((int)strlen(left) <= width)
        pos = fprintf(f, "  %-*s  ", width, left);
    else
        pos = fprintf(f, "  %s\n%*s", left, col, "");
    if (pos > col)
        pos = col;
    while (*p != '\0') {
        size_t w = strcspn(p, " ");
        if (pos > col && pos + 1 + (int)w > 79) {
            fprintf(f, "\n%*s", col, "");
            pos = col;
        } else if (pos > col) {
            fputc(' ', f);
            pos++;
        }
        fprintf(f, "%.*s", (int)w, p);
        pos += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

static void cli_usage_top(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTIONS] COMMAND [ARGS]...\n\n"
            "  any-llm-gateway: an OpenAI- and Anthropic-compatible LLM gateway with\n"
            "  virtual API keys, per-user budgets, usage tracking and pricing.\n\n"
            "  This is the C re-implementation of any-llm-gateway (mozilla-ai/any-llm).\n\n"
            "Options:\n",
            CLI_PROG);
    cli_row(f, 13, "-V, --version", "Show the version and exit.");
    cli_row(f, 13, "-h, --help", "Show this message and exit.");
    fprintf(f, "\nCommands:\n");
    for (size_t c = 0; c < CLI_NCMDS; c++)
        cli_row(f, 12, cli_cmds[c].name, cli_cmds[c].help);
    fprintf(f, "\nRun '%s COMMAND --help' for the options of a command.\n", CLI_PROG);
}

void cli_usage(void *fp, const struct cli *cli)
{
    FILE *f = fp;
    const char *name = NULL, *help = NULL;
    enum cli_cmd cmd = CLI_HELP;
    const char *asked = NULL;
    char left[80];

    if (cli != NULL) {
        cmd = cli->cmd;
        asked = cli->help_command;
    }
    for (size_t c = 0; c < CLI_NCMDS; c++) {
        if ((cmd == CLI_HELP && asked != NULL && strcmp(asked, cli_cmds[c].name) == 0) ||
            (cmd != CLI_HELP && cmd == cli_cmds[c].cmd)) {
            name = cli_cmds[c].name;
            help = cli_cmds[c].help;
            cmd = cli_cmds[c].cmd;
        }
    }
    if (name == NULL) {
        cli_usage_top(f);
        return;
    }
    fprintf(f, "Usage: %s %s [OPTIONS]\n\n  %s\n\nOptions:\n", CLI_PROG, name, help);
    for (size_t i = 0; i < CLI_NOPTS; i++) {
        const struct cli_opt *o = &cli_opts[i];
        if (!(o->cmds & CLI_M(cmd)) || o->help == NULL)
            continue;
        if (o->label != NULL)
            snprintf(left, sizeof(left), "%s", o->label);
        else if (o->short_name != 0)
            snprintf(left, sizeof(left), "-%c, %s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof(left), "%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        cli_row(f, 30, left, o->help);
    }
    fprintf(f, "\n  Settings not given here come from the YAML file, GATEWAY_* environment\n"
               "  variables and ./.env (see config.example.yaml).\n");
}
