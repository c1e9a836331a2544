/* Minimal HTTP client for the ukcollectd API; see cdclient.h. */
#define _GNU_SOURCE
#include "cdclient.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

const char *cdc_addr(void)
{
    const char *a = getenv("UKCOLLECTD_ADDR");
    return a && *a ? a : CDC_DEFAULT_ADDR;
}

static int dial(const char *addr, int timeout_ms)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    char err[128];
    int fd;

    if (netaddr_parse(addr, &sa, &salen, err, sizeof(err)) < 0) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (timeout_ms > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int send_req(int fd, const char *method, const char *path, const char *token,
                    const char *body)
{
    char *req = NULL;
    int n = asprintf(&req,
                     "%s %s HTTP/1.0\r\nHost: ukcollectd\r\n%s%s%sContent-Length: %zu\r\n"
                     "Content-Type: application/json\r\n\r\n%s",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
    if (n < 0)
        return -1;
    for (int done = 0; done < n;) {
        ssize_t w = send(fd, req + done, (size_t)(n - done), MSG_NOSIGNAL);
        if (w <= 0) {
            free(req);
            return -1;
        }
        done += (int)w;
    }
    free(req);
    return 0;
}

int cdc_request(const char *addr, const char *method, const char *path, const char *token,
                const char *body, int timeout_ms, int *status, char **reply, size_t *len)
{
    int fd = dial(addr, timeout_ms);
    char *buf = NULL, *hdr_end;
    size_t n = 0, cap = 0;

    if (fd < 0)
        return -1;
    if (send_req(fd, method, path, token, body) < 0)
        goto fail;
    for (;;) {
        if (n + 4097 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > CDC_MAX_REPLY) {
                errno = EFBIG;
                goto fail;
            }
            char *nb = realloc(buf, cap);
            if (!nb)
                goto fail;
            buf = nb;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (!buf)
        goto bad;
    buf[n] = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 || !(hdr_end = strstr(buf, "\r\n\r\n")))
        goto bad;
    *len = n - (size_t)(hdr_end + 4 - buf);
    memmove(buf, hdr_end + 4, *len + 1);
    *reply = buf;
    return 0;
bad:
    errno = EPROTO;
fail:
    if (fd >= 0)
        close(fd);
    free(buf);
    return -1;
}

int cdc_sse(const char *addr, const char *path, int (*fn)(void *arg, const char *data),
            void *arg)
{
    int fd = dial(addr, 3000);
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0, rc = 0;

    if (fd < 0)
        return -1;
    struct timeval tv = {0, 0}; /* a follower waits as long as it takes */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (send_req(fd, "GET", path, NULL, NULL) < 0 || !(f = fdopen(fd, "r"))) {
        close(fd);
        return -1;
    }
    if ((n = getline(&line, &cap, f)) <= 0 || sscanf(line, "HTTP/1.%*d %d", &status) != 1 ||
        status != 200) {
        errno = EPROTO;
        rc = -1;
        goto out;
    }
    while ((n = getline(&line, &cap, f)) > 0 && strcmp(line, "\r\n"))
        ;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (strncmp(line, "data: ", 6))
            continue;
        if (line[n - 1] == '\n')
            line[n - 1] = 0;
        if (fn(arg, line + 6))
            break;
    }
out:
    free(line);
    fclose(f);
    return rc;
}

int cdc_read_token(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = 0;
    return buf[0] ? 0 : -1;
}

int cdc_default_token_path(char *buf, size_t len)
{
    return util_state_path(buf, len, "ukcollectd/token");
}
