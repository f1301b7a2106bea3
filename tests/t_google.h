/*
 * Google service-account material for tests: RSA key pairs made by the openssl command in a
 * temporary directory, and service-account key files signed by them (prov_google.h,
 * fake_google.c).
 */
#ifndef T_GOOGLE_H
#define T_GOOGLE_H

#include <jansson.h>

#include "providers/prov_conf.h"

/* A temporary directory with two RSA key pairs: key (pub is its public half) and key2. */
struct t_gkeys {
    char dir[64];
    char key[128], pub[128], key2[128];
};

/* Makes the directory and the keys (fails the test when openssl does). */
void t_gkeys_init(struct t_gkeys *k);

/* Removes the directory. */
void t_gkeys_free(struct t_gkeys *k);

/* A service-account key object (owned) whose private_key is the PEM file key, client_email
 * gw@proj.iam.gserviceaccount.com, private_key_id kid123; token_uri, project_id may be NULL. */
json_t *t_gsa_json(const char *key, const char *token_uri, const char *project_id);

/* Writes j (stolen) into path. */
void t_gsa_write(json_t *j, const char *path);

/* prov_confs_new(providers) (providers stolen, may be NULL); fails the test when NULL. */
struct prov_confs *t_gconfs(json_t *providers);

/* The settings of provider id. */
const struct prov_conf *t_gconf(const struct prov_confs *pc, const char *id);

/* Unsets GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION. */
void t_gclear_env(void);

#endif
