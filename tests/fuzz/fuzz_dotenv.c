/*
 * Fuzz target: the .env loader (config_env.c's line parser, through cfg_load() and directly).
 * Each line is parsed from its own exact-size buffer: the result is -1, 0 or 1, and on 1 the key
 * and value are NUL-terminated strings inside the line, the key non-empty and free of '=' and
 * whitespace. The whole input, as a .env file, must load or fail with one line of error.
 */
#define _GNU_SOURCE
#include <ctype.h>

#include "config_env.h"
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

static void parse_line(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1), *key = NULL, *val = NULL;
    int r;

    FZ_CHECK(s != NULL);
    memcpy(s, p, n);
    s[n] = '\0';
    r = cfg_dotenv_parse_line(s, &key, &val);
    FZ_CHECK(r >= -1 && r <= 1);
    if (r == 1) {
        FZ_CHECK(key >= s && key < s + n + 1 && val >= s && val < s + n + 1);
        FZ_CHECK(key + strlen(key) <= s + n && val + strlen(val) <= s + n);
        FZ_CHECK(*key != '\0');
        for (const char *k = key; *k != '\0'; k++)
            FZ_CHECK(*k != '=' && !isspace((unsigned char)*k));
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;

    /* Lines as getline() gives them: up to and including each '\n'. */
    for (size_t off = 0; off < size;) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl != NULL ? (size_t)(nl - (data + off)) + 1 : size - off;
        parse_line(data + off, n);
        off += n;
    }
    fd = fz_memfile(data, size, path, sizeof(path));
    fz_cfg_load(NULL, path);
    close(fd);
    return 0;
}
