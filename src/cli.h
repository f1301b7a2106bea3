/*
 * Command line of any-llm-gateway (the reference's click CLI, spec §9.6):
 *   serve [--config/-c FILE] [--host H] [--port N] [--database-url URL] [--master-key K]
 *         [--auto-migrate/--no-auto-migrate] [--workers N] [--log-level L]
 *   init-db [--config FILE] [--database-url URL]
 *   migrate [--config FILE] [--database-url URL] [--revision REV]
 *   check-config [--config FILE] [serve's options]
 *   --version, --help (also "<command> --help")
 * Option values may be given as "--opt value" or "--opt=value".
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <stddef.h>

#include "config.h"

enum cli_cmd { CLI_SERVE, CLI_INIT_DB, CLI_MIGRATE, CLI_CHECK_CONFIG, CLI_VERSION, CLI_HELP };

struct cli {
    enum cli_cmd cmd;
    struct cfg_overrides ov;  /* strings borrowed from argv */
    const char *revision;     /* migrate --revision (default "head") */
    const char *help_command; /* command whose help was asked, NULL for the top level */
};

/*
 * Parses argv into *cli (environment variables are cfg_load()'s business, not the CLI's).
 * Returns 0, or -1 with a one-line message in err (the caller prints it and exits 2).
 */
int cli_parse(struct cli *cli, int argc, char **argv, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writes the usage text for cmd (CLI_HELP = top level) to f (a FILE *). */
void cli_usage(void *f, const struct cli *cli);

#endif
