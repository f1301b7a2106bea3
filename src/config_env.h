/*
 * Internal to the configuration module: environment helpers shared by config.c - the
 * case-insensitive GATEWAY_* lookup and the .env line parser. cfg_env_subst() (the ${VAR}
 * expansion, public in config.h) lives in config_env.c too.
 */
#ifndef GW_CONFIG_ENV_H
#define GW_CONFIG_ENV_H

#include <stddef.h>

/*
 * Looks up the environment variable name (buffer of size len) ignoring case, the exact
 * upper-case spelling first. On a match the name actually found is copied back to name.
 * Returns the value (borrowed from the environment) or NULL.
 */
const char *cfg_env_get_icase(char *name, size_t len);

/*
 * Parses one .env line in place (python-dotenv's common forms: KEY=VALUE, "export KEY=VALUE",
 * 'single' (literal) or "double" (\n \t \r \\ \" escapes) quoted values, " #" comments after
 * unquoted values). Returns 1 with *key and *val pointing into s, 0 for a blank or comment
 * line, -1 for a malformed one.
 */
int cfg_dotenv_parse_line(char *s, char **key, char **val);

#endif
