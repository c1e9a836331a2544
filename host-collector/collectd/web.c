/*
 * The web console's files at / (dashboards/web/, copied with uPlot into
 * the build's web/ directory by make, each also precompressed as FILE.gz).
 *
 * Found in $UKCOLLECTD_WEB, else next to the binary: BIN/../web (the build
 * tree) or BIN/../share/ukscope/web (installed).  Only plain file names
 * from that one directory are served (no subdirectories, no dot files).
 *
 * Headers: the content type by extension; FILE.gz with Content-Encoding:
 * gzip when the client accepts gzip (Vary: Accept-Encoding); an ETag from
 * size and mtime with Cache-Control: no-cache, so a browser revalidates
 * (304) instead of running a stale console after an upgrade; a
 * Content-Security-Policy allowing scripts from this origin only, so a
 * string that slipped into the page as markup still could not run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cd.h"
#include "dash.h"
#include "dashparse.h"

static const char *web_dir(void)
{
    static char dir[PATH_MAX];
    static bool done;
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    struct stat st;

    if (done)
        return dir[0] ? dir : NULL;
    done = true;
    const char *e = getenv("UKCOLLECTD_WEB");
    if (e && *e) {
        snprintf(dir, sizeof(dir), "%s", e);
        return dir;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    const char *bin = dirname(exe);
    static const char *const rel[] = {"../web", "../share/ukscope/web"};
    for (unsigned i = 0; i < 2; i++) {
        snprintf(cand, sizeof(cand), "%s/%s/index.html", bin, rel[i]);
        if (stat(cand, &st) == 0) {
            snprintf(dir, sizeof(dir), "%s/%s", bin, rel[i]);
            return dir;
        }
    }
    return NULL;
}

bool web_route(struct MHD_Connection *c, const char *url, enum MHD_Result *ret)
{
    const char *dir, *name, *type;
    char path[PATH_MAX + 300], etag[64];
    struct stat st;
    bool gz = false;
    int fd = -1;

    if (url[0] != '/' || strchr(url + 1, '/'))
        return false;
    name = url[1] ? url + 1 : "index.html";
    if (!(type = dash_content_type(name)))
        return false;
    if (!(dir = web_dir())) {
        if (strcmp(name, "index.html"))
            return false;
        *ret = api_reply_err(c, MHD_HTTP_NOT_FOUND,
                             "no web console files (make builds them into web/ next to bin/; "
                             "or set UKCOLLECTD_WEB)");
        return true;
    }
    if (dash_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"))) {
        snprintf(path, sizeof(path), "%s/%s.gz", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        gz = fd >= 0;
    }
    if (fd < 0) {
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec,
             gz ? "-gz" : "");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    bool fresh = inm && !strcmp(inm, etag);
    struct MHD_Response *r =
        fresh ? MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (fresh)
        close(fd);
    if (!r) {
        if (!fresh)
            close(fd);
        *ret = MHD_NO;
        return true;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; object-src 'none'; "
                            "base-uri 'none'; frame-ancestors 'none'; img-src 'self' data: blob:; "
                            "style-src 'self' 'unsafe-inline'");
    if (gz && !fresh)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    *ret = MHD_queue_response(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return true;
}
