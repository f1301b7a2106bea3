/*
 * Shared by the configuration fuzz targets: the input is written to an in-memory file (memfd)
 * that cfg_load() reads through /proc/self/fd/N, the way it reads config.yaml or .env.
 */
#ifndef FUZZ_CONFIG_H
#define FUZZ_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fz.h"
#include "log.h"

/* Writes data to a fresh memfd; path gets its /proc name. Returns the fd (close it after). */
static inline int fz_memfile(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    int fd = memfd_create("fuzz", 0);
    size_t off = 0;

    FZ_CHECK(fd >= 0);
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        FZ_CHECK(w > 0);
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

/*
 * Loads a configuration from the given YAML and .env paths (NULL / "" for none) and checks
 * cfg_load()'s contract: 0, or -1 with exactly one non-empty line in err.
 */
static inline void fz_cfg_load(const char *yaml, const char *dotenv)
{
    struct cfg_overrides ov;
    struct cfg cfg;
    char err[1024];
    int rc;

    cfg_overrides_init(&ov);
    ov.config_path = yaml;
    ov.dotenv_path = dotenv;
    rc = cfg_load(&cfg, &ov, err, sizeof(err));
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc < 0) {
        FZ_CHECK(err[0] != '\0');
        FZ_CHECK(strchr(err, '\n') == NULL);
    }
    cfg_free(&cfg);
}

/* Quiet logs (unknown keys warn) and a variable for ${FUZZ_VAR} substitutions. */
static inline void fz_cfg_init(void)
{
    log_threshold = LOG_LVL_CRIT + 1;
    setenv("FUZZ_VAR", "from-env", 1);
    unsetenv("DATABASE_URL");
    unsetenv("GATEWAY_MASTER_KEY");
}

#endif
