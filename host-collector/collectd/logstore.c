/* Append-only per-instance log store; see logstore.h. */
#include "logstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

enum { RECOVER_CHUNK = 1 << 16 };

void (*logstore_durable_hook)(const char *lines, size_t len);

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
}

void logpos_apply(struct logpos *p, json_t *rec)
{
    const char *boot = json_string_value(json_object_get(rec, "boot_id"));
    const char *src = json_string_value(json_object_get(rec, "source"));

    if (boot && strcmp(boot, p->boot_id)) {
        uint64_t size = p->store_size;
        memset(p, 0, sizeof(*p));
        p->store_size = size;
        snprintf(p->boot_id, sizeof(p->boot_id), "%s", boot);
    }
    if (!src)
        return;
    if (!strcmp(src, "klog")) {
        if (json_object_get(rec, "lost")) {
            uint64_t from = jint(rec, "from_seq"), n = jint(rec, "lost");
            p->klog_lost += n;
            if (from + n > p->klog_next)
                p->klog_next = from + n;
        } else {
            p->klog_records++;
            if (jint(rec, "seq") + 1 > p->klog_next)
                p->klog_next = jint(rec, "seq") + 1;
        }
    } else if (!strcmp(src, "console")) {
        p->console_seq = jint(rec, "seq") + 1;
        p->console_off = jint(rec, "off_end");
    }
}

static void load_pos(struct logstore *s)
{
    char path[4200];
    json_t *o;

    snprintf(path, sizeof(path), "%s/pos.json", s->dir);
    o = json_load_file(path, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    snprintf(s->pos.boot_id, sizeof(s->pos.boot_id), "%s",
             json_string_value(json_object_get(o, "boot_id")) ?: "");
    s->pos.klog_next = jint(o, "klog_next");
    s->pos.klog_records = jint(o, "klog_records");
    s->pos.klog_lost = jint(o, "klog_lost");
    s->pos.console_off = jint(o, "console_off");
    s->pos.console_seq = jint(o, "console_seq");
    s->pos.store_size = jint(o, "store_size");
    json_decref(o);
}

/* Replay the records after pos.store_size; cut a partial last line. */
static int recover(struct logstore *s)
{
    uint64_t from = s->pos.store_size <= s->size ? s->pos.store_size : 0, good = from;
    char *chunk = malloc(RECOVER_CHUNK + 1), *line = NULL;
    size_t llen = 0, lcap = 0;

    if (!chunk)
        return -1;
    for (uint64_t off = from; off < s->size;) {
        ssize_t n = pread(s->fd, chunk, RECOVER_CHUNK, (off_t)off);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (llen + 1 >= lcap) {
                    char *nl = realloc(line, lcap ? lcap * 2 : 1024);
                    if (!nl)
                        goto out;
                    line = nl;
                    lcap = lcap ? lcap * 2 : 1024;
                }
                line[llen++] = chunk[i];
                continue;
            }
            json_t *rec = json_loadb(line ? line : "", llen, 0, NULL);
            if (rec) {
                logpos_apply(&s->pos, rec);
                s->recovered++;
                if (logstore_durable_hook && line) {
                    line[llen] = '\n';
                    logstore_durable_hook(line, llen + 1);
                }
            } else {
                cd_log(CD_WARN, "%s/log.jsonl: unparsable line at byte %llu skipped", s->dir,
                       (unsigned long long)good);
            }
            json_decref(rec);
            llen = 0;
            good = off + (uint64_t)i + 1;
        }
        off += (uint64_t)n;
    }
out:
    free(chunk);
    free(line);
    if (good < s->size) {
        cd_log(CD_WARN, "%s/log.jsonl: partial last line cut (%llu bytes)", s->dir,
               (unsigned long long)(s->size - good));
        if (ftruncate(s->fd, (off_t)good) < 0)
            return -1;
        s->size = good;
    }
    s->pos.store_size = s->size;
    return 0;
}

int logstore_open(struct logstore *s, const char *dir, uint64_t max_bytes)
{
    char path[4200];
    struct stat st;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->max_bytes = max_bytes;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/log.jsonl", dir);
    s->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->fd < 0 || fstat(s->fd, &st) < 0)
        return -1;
    s->size = (uint64_t)st.st_size;
    load_pos(s);
    if (recover(s) < 0)
        return -1;
    s->committed = s->pos;
    return 0;
}

/* Append one line (without its newline) to the pending batch. */
static int append(struct logstore *s, const char *line, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return -1;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, line, n);
    s->buf[s->len + n] = '\n';
    s->len += n + 1;
    return 0;
}

int logstore_add(struct logstore *s, json_t *rec)
{
    char *line = json_dumps(rec, JSON_COMPACT);
    int rc;

    if (!line)
        return -1;
    rc = append(s, line, strlen(line));
    free(line);
    if (rc == 0)
        logpos_apply(&s->pos, rec);
    return rc;
}

char *logstore_json_str(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

int logstore_add_klog(struct logstore *s, const char *line, size_t n, uint64_t seq)
{
    if (append(s, line, n) < 0)
        return -1;
    s->pos.klog_records++;
    if (seq + 1 > s->pos.klog_next)
        s->pos.klog_next = seq + 1;
    return 0;
}

static int write_pos(struct logstore *s)
{
    char path[4200], tmp[4200];
    json_t *o;
    char *txt;
    int fd, rc = -1;

    snprintf(path, sizeof(path), "%s/pos.json", s->dir);
    snprintf(tmp, sizeof(tmp), "%s/pos.json.tmp", s->dir);
    o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "boot_id", s->pos.boot_id, "klog_next",
                  (json_int_t)s->pos.klog_next, "klog_records", (json_int_t)s->pos.klog_records,
                  "klog_lost", (json_int_t)s->pos.klog_lost, "console_off",
                  (json_int_t)s->pos.console_off, "console_seq", (json_int_t)s->pos.console_seq,
                  "store_size", (json_int_t)s->pos.store_size);
    txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt) && fsync(fd) == 0 &&
        close(fd) == 0) {
        fd = -1;
        rc = rename(tmp, path);
    }
    if (fd >= 0)
        close(fd);
    free(txt);
    return rc;
}

static int rotate(struct logstore *s)
{
    char path[4200], old[4200];
    int fd;

    snprintf(path, sizeof(path), "%s/log.jsonl", s->dir);
    snprintf(old, sizeof(old), "%s/log.jsonl.1", s->dir);
    if (rename(path, old) < 0)
        return -1;
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    close(s->fd);
    s->fd = fd;
    s->size = 0;
    s->pos.store_size = 0;
    return write_pos(s);
}

int logstore_commit(struct logstore *s)
{
    size_t done = 0;

    if (!s->len)
        return 0;
    while (done < s->len) {
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (fsync(s->fd) < 0)
        goto fail;
    s->size += s->len;
    if (logstore_durable_hook)
        logstore_durable_hook(s->buf, s->len);
    s->len = 0;
    s->pos.store_size = s->size;
    if (write_pos(s) < 0)
        cd_log(CD_WARN, "Failed to write %s/pos.json: %s (the store stays the truth)", s->dir,
               strerror(errno));
    s->committed = s->pos;
    if (s->size > s->max_bytes && rotate(s) < 0)
        cd_log(CD_ERR, "Failed to rotate %s/log.jsonl: %s", s->dir, strerror(errno));
    return 0;
fail:
    cd_log(CD_ERR, "Failed to append to %s/log.jsonl: %s", s->dir, strerror(errno));
    /* A partial write: cut it so the store holds whole batches only. */
    if (done && ftruncate(s->fd, (off_t)s->size) < 0)
        cd_log(CD_ERR, "Failed to cut a partial batch in %s/log.jsonl", s->dir);
    s->len = 0;
    s->pos = s->committed;
    return -1;
}

void logstore_close(struct logstore *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}
