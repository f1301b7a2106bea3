/*
 * Google service-account material for tests (see t_google.h).
 */
#include "t_google.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_registry.h"
#include "t_gw.h"

void t_gkeys_init(struct t_gkeys *k)
{
    char cmd[768];

    snprintf(k->dir, sizeof(k->dir), "/tmp/gwgoog-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(k->dir));
    snprintf(k->key, sizeof(k->key), "%s/key.pem", k->dir);
    snprintf(k->pub, sizeof(k->pub), "%s/pub.pem", k->dir);
    snprintf(k->key2, sizeof(k->key2), "%s/key2.pem", k->dir);
    snprintf(cmd, sizeof(cmd),
             "timeout 60 openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s "
             "2>/dev/null && timeout 60 openssl pkey -in %s -pubout -out %s && timeout 60 "
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s 2>/dev/null",
             k->key, k->key, k->pub, k->key2);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

void t_gkeys_free(struct t_gkeys *k)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", k->dir);
    if (k->dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", k->dir);
}

json_t *t_gsa_json(const char *key, const char *token_uri, const char *project_id)
{
    char *pem = t_read_file(key);
    json_t *j;

    ck_assert_ptr_nonnull(pem);
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s*,s:s*}", "type", "service_account", "client_email",
                  "gw@proj.iam.gserviceaccount.com", "private_key_id", "kid123", "private_key", pem,
                  "client_id", "1", "token_uri", token_uri, "project_id", project_id);
    free(pem);
    ck_assert_ptr_nonnull(j);
    return j;
}

void t_gsa_write(json_t *j, const char *path)
{
    ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2)), 0);
    json_decref(j);
}

struct prov_confs *t_gconfs(json_t *providers)
{
    struct prov_confs *pc = prov_confs_new(providers);

    json_decref(providers);
    ck_assert_ptr_nonnull(pc);
    return pc;
}

const struct prov_conf *t_gconf(const struct prov_confs *pc, const char *id)
{
    return prov_confs_get(pc, prov_find(id));
}

void t_gclear_env(void)
{
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GOOGLE_CLOUD_PROJECT");
    unsetenv("GOOGLE_CLOUD_LOCATION");
}
