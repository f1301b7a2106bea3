/*
 * Internal to the configuration module: a small YAML document tree (built with libyaml,
 * which only config_yaml.c includes) that keeps each node's line and column, plus the
 * scalar typing rules (YAML 1.1 as PyYAML's safe_load applies them) and JSON conversion.
 */
#ifndef GW_CONFIG_YAML_H
#define GW_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum cfg_node_kind { CFG_NODE_SCALAR, CFG_NODE_SEQ, CFG_NODE_MAP };

/*
 * How a scalar's text is typed:
 *   PLAIN  - a plain YAML scalar: null / bool / int / float / string by its text;
 *   QUOTED - quoted, block or !!str: always a string;
 *   LOOSE  - a value from the environment, the command line or a ${VAR} substitution:
 *            bool / int / float are recognised, null never is.
 */
enum cfg_style { CFG_STYLE_PLAIN, CFG_STYLE_QUOTED, CFG_STYLE_LOOSE };

struct cfg_node {
    enum cfg_node_kind kind;
    enum cfg_style style; /* scalars only */
    bool subst;           /* scalars: text came from a ${VAR} substitution */
    int line, col;        /* 1-based position in the file; 0 when not from a file */
    char *text;           /* scalars: the value (owned) */
    size_t n;             /* seq: number of items; map: 2 x number of pairs */
    size_t cap;
    struct cfg_node **kids; /* seq: items; map: key0, value0, key1, value1, ... (owned) */
};

#define CFG_MAP_KEY(m, i) ((m)->kids[2 * (i)])
#define CFG_MAP_VAL(m, i) ((m)->kids[2 * (i) + 1])
#define CFG_MAP_LEN(m) ((m)->n / 2)

/* The type a scalar resolves to. */
enum cfg_sval { CFG_SV_NULL, CFG_SV_BOOL, CFG_SV_INT, CFG_SV_FLOAT, CFG_SV_STR };

struct cfg_scalar {
    enum cfg_sval type;
    bool b;
    long long i;
    double d; /* also set for CFG_SV_INT */
};

/*
 * Parses the YAML file at path into a tree (aliases expanded, "<<" merge keys applied).
 * An empty document (or a bare null) gives an empty mapping; any other non-mapping top level
 * is an error. Returns owned tree (free with cfg_node_free()), or NULL with one line in err:
 * "<path>: cannot read config file: <strerror>" or "<path>:<line>:<col>: <problem>".
 */
struct cfg_node *cfg_yaml_load(const char *path, char *err, size_t errlen);

/* Returns a new scalar (text copied), or NULL when out of memory. */
struct cfg_node *cfg_node_new_scalar(const char *text, enum cfg_style style);

/*
 * Converts a JSON value to a tree (strings become QUOTED scalars, numbers / booleans / null
 * PLAIN ones). Returns owned tree, or NULL when out of memory.
 */
struct cfg_node *cfg_node_from_json(const json_t *j);

/* Frees a tree; NULL-safe. */
void cfg_node_free(struct cfg_node *n);

/* Resolves the type and value of a scalar node according to its style. */
void cfg_scalar_resolve(const struct cfg_node *n, struct cfg_scalar *out);

/*
 * Converts a tree to JSON with the same typing (map keys are the keys' text).
 * Returns a new reference, or NULL when out of memory.
 */
json_t *cfg_node_to_json(const struct cfg_node *n);

#endif
