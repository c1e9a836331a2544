/*
 * The crash store for the console (GET, read-only; docs/postmortem.md has
 * the store's layout), read only through crash/store.c's functions:
 *
 *   /api/v1/crashes            {"dir", "groups":[...by signature], "bundles":[...]}
 *   /api/v1/crashes/ID         the bundle's report.json
 *   /api/v1/crashes/ID/core    its minimal ELF core (application/octet-stream);
 *                              bearer token required (guest memory)
 *
 * The crash dir is `ukctl`'s (crash_default_dir() in crash/store.c):
 * $UKSCOPE_CRASH_DIR, $XDG_STATE_HOME/ukscope/crashes,
 * ~/.local/state/ukscope/crashes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cd.h"
#include "crash/crash_bundle.h"
#include "dash.h"
#include "dashparse.h"

/* The crash library's dir; "off" (bundles disabled) has none. */
static int crash_dir(char *buf, size_t len)
{
    return crash_default_dir(buf, len) == 0 && strcmp(buf, "off") ? 0 : -1;
}

/* index.json, re-read when its mtime or size changes. */
static json_t *index_cached(void)
{
    static json_t *ix;
    static struct timespec mt;
    static off_t size = -1;
    static int64_t checked; /* one stat per 500 ms: a fleet reply asks once per row */
    char dir[4096], p[4200];
    struct stat st;

    if (checked && cd_now() - checked < 500)
        return ix;
    checked = cd_now();
    if (crash_dir(dir, sizeof(dir)) < 0)
        return NULL;
    snprintf(p, sizeof(p), "%s/index.json", dir);
    if (stat(p, &st) < 0) {
        json_decref(ix);
        ix = NULL;
        size = -1;
        return NULL;
    }
    if (!ix || st.st_size != size || st.st_mtim.tv_sec != mt.tv_sec ||
        st.st_mtim.tv_nsec != mt.tv_nsec) {
        json_decref(ix);
        ix = crash_store_index(dir);
        mt = st.st_mtim;
        size = st.st_size;
    }
    return ix;
}

const char *crash_last_signature(const char *instance)
{
    json_t *groups = json_object_get(index_cached(), "groups"), *g, *n;
    const char *sig, *best = "", *best_t = "";
    size_t i;

    json_object_foreach(groups, sig, g) {
        const char *t = json_string_value(json_object_get(g, "last_seen"));
        bool mine = false;
        json_array_foreach(json_object_get(g, "instances"), i, n)
            mine |= json_is_string(n) && !strcmp(json_string_value(n), instance);
        if (mine && t && strcmp(t, best_t) > 0) {
            best = sig;
            best_t = t;
        }
    }
    return best;
}

static enum MHD_Result list(struct MHD_Connection *c, const char *dir)
{
    json_t *ix = index_cached(), *groups = json_array(), *g, *b, *bundles;
    const char *sig;
    size_t i;

    json_object_foreach(json_object_get(ix, "groups"), sig, g) {
        json_t *x = json_deep_copy(g);
        json_object_set_new(x, "signature", json_string(sig));
        json_array_append_new(groups, x);
    }
    bundles = crash_store_bundles(dir);
    json_array_foreach(bundles, i, b)
        json_object_del(b, "path"); /* the host's paths stay on the host */
    return api_reply_json(c, MHD_HTTP_OK,
                          json_pack("{s:s,s:o,s:o}", "dir", dir, "groups", groups, "bundles",
                                    bundles));
}

/* A bundle file as a download: the core (guest memory) or the guest+host
 * timeline (a Perfetto trace). */
static enum MHD_Result bundle_file(struct MHD_Connection *c, const char *path, const char *id,
                                   const char *ext)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    struct MHD_Response *r;
    char disp[300];
    enum MHD_Result ret;

    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return api_reply_err(c, MHD_HTTP_NOT_FOUND, strcmp(ext, "core")
                                                        ? "no timeline in this bundle"
                                                        : "no core in this bundle");
    }
    r = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* closes fd */
    if (!r)
        return MHD_NO;
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"", id, ext);
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r, "Content-Disposition", disp);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

bool crash_route(struct MHD_Connection *c, const char *url, enum MHD_Result *ret)
{
    char dir[4096], id[256] = "", what[16] = "", p[4600];

    if (strncmp(url, "/api/v1/crashes", 15) || (url[15] && url[15] != '/'))
        return false;
    if (crash_dir(dir, sizeof(dir)) < 0) {
        *ret = api_reply_err(c, MHD_HTTP_NOT_FOUND, "no crash dir (UKSCOPE_CRASH_DIR=off?)");
        return true;
    }
    if (!url[15] || !url[16]) {
        *ret = list(c, dir);
        return true;
    }
    if (sscanf(url + 16, "%255[^/]/%15s", id, what) < 1 || !dash_bundle_id_ok(id) ||
        (what[0] && strcmp(what, "core") && strcmp(what, "timeline"))) {
        *ret = api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such crash bundle");
        return true;
    }
    if (!strcmp(what, "timeline")) { /* trace events, like GET .../trace: no token */
        snprintf(p, sizeof(p), "%s/%s/timeline.perfetto-trace", dir, id);
        *ret = bundle_file(c, p, id, "perfetto-trace");
        return true;
    }
    snprintf(p, sizeof(p), "%s/%s/%s", dir, id, what[0] ? "core" : "report.json");
    if (what[0]) {
        if (api_authorized(c, ret)) /* guest memory: the token, like a POST */
            *ret = bundle_file(c, p, id, "core");
        return true;
    }
    json_t *rep = json_load_file(p, 0, NULL);
    *ret = json_is_object(rep) ? api_reply_json(c, MHD_HTTP_OK, rep)
                               : (json_decref(rep),
                                  api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such crash bundle"));
    return true;
}
