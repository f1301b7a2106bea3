/*
 * Fuzz target: the YAML configuration loader (config_yaml.c through cfg_load(), so the typing,
 * ${VAR} substitution and key validation of config.c run too). The input is the file's bytes;
 * cfg_load() must return 0 or -1 with one line of error, never crash, hang or leak.
 */
#define _GNU_SOURCE
#include "fuzz_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_cfg_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fz_memfile(data, size, path, sizeof(path));

    fz_cfg_load(path, "");
    close(fd);
    return 0;
}
