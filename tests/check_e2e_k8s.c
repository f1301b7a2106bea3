/*
 * The Kubernetes manifests (docker/k8s/): each file parses (with the gateway's own YAML
 * reader), names no namespace and is listed in kustomization.yaml; the Deployment's
 * references (Secret, ConfigMap, ports, Service and PodDisruptionBudget selectors) agree; the
 * grace period covers preStop + the ConfigMap's shutdown_timeout; and the real binary, started
 * with the ConfigMap's configuration, answers 200 on every probe path (on both backends).
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_yaml.h"
#include "t_gw.h"

#define K8S_DIR "docker/k8s"

/* docker/k8s/<file> as JSON (owned); fails the test when it does not parse. */
static json_t *k8s_load(const char *file)
{
    const char *root = getenv("GW_ROOT");
    char path[512], err[512];
    struct cfg_node *n;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s/%s", root ? root : ".", K8S_DIR, file);
    n = cfg_yaml_load(path, err, sizeof(err));
    ck_assert_msg(n != NULL, "%s", err);
    j = cfg_node_to_json(n);
    cfg_node_free(n);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* The value at a dotted path ("spec.template.spec.containers.0.ports"), or NULL. */
static json_t *jp(json_t *j, const char *path)
{
    char buf[256], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok != NULL && j != NULL;
         tok = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, strtoul(tok, NULL, 10)) : json_object_get(j, tok);
    return j;
}

static const char *js(json_t *j, const char *path)
{
    const char *s = json_string_value(jp(j, path));

    ck_assert_msg(s != NULL, "%s: not a string", path);
    return s;
}

static long long ji(json_t *j, const char *path)
{
    json_t *v = jp(j, path);

    ck_assert_msg(json_is_integer(v), "%s: not an integer", path);
    return json_integer_value(v);
}

/* The ConfigMap's config.yaml (a key with a dot, out of jp()'s reach). */
static const char *cm_config(json_t *cm)
{
    const char *s = json_string_value(json_object_get(jp(cm, "data"), "config.yaml"));

    ck_assert_msg(s != NULL, "configmap.yaml: no data config.yaml");
    return s;
}

/* Every label of sel is on labels. */
static void labels_match(json_t *sel, json_t *labels, const char *what)
{
    const char *k;
    json_t *v;

    ck_assert_msg(json_object_size(sel) > 0, "%s: empty selector", what);
    json_object_foreach(sel, k, v)
    {
        ck_assert_msg(json_equal(v, json_object_get(labels, k)), "%s: label %s", what, k);
    }
}

/* The container's port number for a probe's or Service's port (a name or a number). */
static long long port_of(json_t *container, json_t *port)
{
    size_t i;
    json_t *p;

    if (json_is_integer(port))
        return json_integer_value(port);
    ck_assert_msg(json_is_string(port), "a port is neither a number nor a name");
    json_array_foreach(json_object_get(container, "ports"), i, p)
    {
        if (json_equal(json_object_get(p, "name"), port))
            return ji(p, "containerPort");
    }
    ck_abort_msg("port name %s is not a container port", json_string_value(port));
    return -1;
}

START_TEST(manifests_parse)
{
    json_t *kus = k8s_load("kustomization.yaml"), *res = json_object_get(kus, "resources"), *m;
    const char *root = getenv("GW_ROOT");
    char dirpath[512];
    struct dirent *de;
    size_t i, files = 0;
    DIR *d;

    ck_assert_int_ge(json_array_size(res), 5);
    json_array_foreach(res, i, m)
    {
        json_t *j = k8s_load(json_string_value(m));

        ck_assert_ptr_nonnull(json_string_value(jp(j, "apiVersion")));
        ck_assert_ptr_nonnull(json_string_value(jp(j, "kind")));
        ck_assert_str_eq(js(j, "metadata.name"), "any-llm-gateway");
        ck_assert_msg(jp(j, "metadata.namespace") == NULL, "%s sets a namespace",
                      json_string_value(m));
        json_decref(j);
    }
    /* Every manifest in the folder is applied by kubectl apply -k. */
    snprintf(dirpath, sizeof(dirpath), "%s/%s", root ? root : ".", K8S_DIR);
    ck_assert_ptr_nonnull(d = opendir(dirpath));
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        bool listed = false;

        if (n < 5 || strcmp(de->d_name + n - 5, ".yaml") != 0 ||
            strcmp(de->d_name, "kustomization.yaml") == 0)
            continue;
        files++;
        json_array_foreach(res, i, m)
        {
            listed |= strcmp(json_string_value(m), de->d_name) == 0;
        }
        ck_assert_msg(listed, "%s is not in kustomization.yaml", de->d_name);
    }
    closedir(d);
    ck_assert_uint_eq(files, json_array_size(res));
    json_decref(kus);
}
END_TEST

START_TEST(deployment_wiring)
{
    json_t *dep = k8s_load("deployment.yaml"), *svc = k8s_load("service.yaml");
    json_t *pdb = k8s_load("pdb.yaml"), *sec = k8s_load("secret.yaml");
    json_t *cm = k8s_load("configmap.yaml"), *pod = jp(dep, "spec.template.spec");
    json_t *c = jp(pod, "containers.0"), *labels = jp(dep, "spec.template.metadata.labels");
    json_t *args = json_object_get(c, "args"), *v;
    const char *cfgpath = json_string_value(json_array_get(args, json_array_size(args) - 1));
    char cfgfile[256], *cfgtext = NULL;
    long long drain = -1;
    size_t i;
    bool cfg_mounted = false, tmp_mounted = false;

    ck_assert_str_eq(js(dep, "kind"), "Deployment");
    ck_assert_int_eq(ji(dep, "spec.replicas"), 2);
    labels_match(jp(dep, "spec.selector.matchLabels"), labels, "Deployment selector");
    labels_match(jp(svc, "spec.selector"), labels, "Service selector");
    labels_match(jp(pdb, "spec.selector.matchLabels"), labels, "PodDisruptionBudget selector");
    ck_assert_int_ge(ji(pdb, "spec.minAvailable"), 1);
    /* The image listens on 8000 (GATEWAY_PORT in docker/Dockerfile); the Service reaches it. */
    ck_assert_int_eq(port_of(c, jp(svc, "spec.ports.0.targetPort")), 8000);
    /* Non-root, read-only root filesystem, limits. */
    ck_assert(json_is_true(jp(pod, "securityContext.runAsNonRoot")));
    ck_assert_int_eq(ji(pod, "securityContext.runAsUser"), 1000);
    ck_assert(json_is_true(jp(c, "securityContext.readOnlyRootFilesystem")));
    ck_assert(json_is_false(jp(c, "securityContext.allowPrivilegeEscalation")));
    ck_assert_ptr_nonnull(json_string_value(jp(c, "resources.requests.memory")));
    ck_assert_ptr_nonnull(json_string_value(jp(c, "resources.limits.memory")));
    ck_assert_ptr_nonnull(json_string_value(jp(c, "resources.requests.cpu")));
    /* Master key and database URL from the Secret. */
    ck_assert_str_eq(js(c, "envFrom.0.secretRef.name"), js(sec, "metadata.name"));
    ck_assert_ptr_nonnull(json_string_value(jp(sec, "stringData.GATEWAY_MASTER_KEY")));
    ck_assert_str_eq(js(sec, "stringData.DATABASE_URL"),
                     "postgresql://gateway:change-me@postgres:5432/gateway");
    /* The config file the container is started with is the ConfigMap's, mounted read-only. */
    ck_assert_ptr_nonnull(cfgpath);
    json_array_foreach(json_object_get(c, "volumeMounts"), i, v)
    {
        const char *mp = js(v, "mountPath"), *name = js(v, "name");
        json_t *vol = NULL, *x;
        size_t k;

        json_array_foreach(json_object_get(pod, "volumes"), k, x)
        {
            if (strcmp(js(x, "name"), name) == 0)
                vol = x;
        }
        ck_assert_msg(vol != NULL, "volumeMount %s has no volume", name);
        if (jp(vol, "configMap.name") != NULL) {
            ck_assert_str_eq(js(vol, "configMap.name"), js(cm, "metadata.name"));
            snprintf(cfgfile, sizeof(cfgfile), "%s/config.yaml", mp);
            ck_assert_str_eq(cfgpath, cfgfile);
            cfg_mounted = true;
        } else if (strcmp(mp, "/tmp") == 0 && jp(vol, "emptyDir") != NULL) {
            tmp_mounted = true;
        }
    }
    ck_assert_msg(cfg_mounted && tmp_mounted, "config or /tmp not mounted");
    /* The grace period covers preStop, the drain (shutdown_timeout) and the flush. */
    ck_assert_str_eq(js(c, "lifecycle.preStop.exec.command.0"), "sleep");
    cfgtext = strdup(cm_config(cm));
    for (char *line = strtok(cfgtext, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (sscanf(line, "shutdown_timeout: %lld", &drain) == 1)
            break;
    ck_assert_int_gt(drain, 0);
    ck_assert_int_ge(ji(pod, "terminationGracePeriodSeconds"),
                     atoll(js(c, "lifecycle.preStop.exec.command.1")) + drain + 5);
    free(cfgtext);
    json_decref(dep);
    json_decref(svc);
    json_decref(pdb);
    json_decref(sec);
    json_decref(cm);
}
END_TEST

/* The real binary with the ConfigMap's configuration: every probe path answers 200. */
START_TEST(probes_served)
{
    json_t *dep = k8s_load("deployment.yaml"), *cm = k8s_load("configmap.yaml");
    json_t *c = jp(dep, "spec.template.spec.containers.0");
    const char *envs[] = {"OPENAI_API_KEY=sk-test", NULL};
    const char *probes[] = {"startupProbe", "livenessProbe", "readinessProbe"};
    char *cfg = strdup(cm_config(cm)), *w;
    struct t_gw gw;

    /* t_gw_start sets host, port, database_url and workers itself: the ConfigMap must not set
     * the first three (the image's and the Secret's apply); its workers line is left out. */
    ck_assert_ptr_null(strstr(cfg, "\nhost:"));
    ck_assert_ptr_null(strstr(cfg, "\nport:"));
    ck_assert_ptr_null(strstr(cfg, "\ndatabase_url:"));
    if ((w = strstr(cfg, "\nworkers:")) != NULL)
        memset(w + 1, ' ', strcspn(w + 1, "\n"));
    ck_assert_int_eq(t_gw_start(&gw, cfg, NULL, envs), 0);
    free(cfg);
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        json_t *p = json_object_get(c, probes[i]);
        struct t_resp r;

        ck_assert_msg(p != NULL, "no %s", probes[i]);
        ck_assert_int_eq(port_of(c, jp(p, "httpGet.port")), 8000);
        ck_assert_int_eq(t_http(gw.port, "GET", js(p, "httpGet.path"), NULL, NULL, &r), 0);
        ck_assert_msg(r.status == 200, "%s %s: %d", probes[i], js(p, "httpGet.path"), r.status);
        t_resp_free(&r);
    }
    ck_assert_int_eq(t_gw_stop(&gw, SIGTERM, 10000), 0);
    json_decref(dep);
    json_decref(cm);
}
END_TEST

Suite *e2e_k8s_suite(void)
{
    Suite *s = suite_create("e2e_k8s");
    TCase *tc = tcase_create("manifests");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, manifests_parse);
    tcase_add_test(tc, deployment_wiring);
    tcase_add_test(tc, probes_served);
    suite_add_tcase(s, tc);
    return s;
}
