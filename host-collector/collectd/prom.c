/*
 * GET /metrics: the collector's own series, then every instance's registry
 * read from its shared metrics page in RAM (no guest network needed), with
 * `instance` and `build_id` labels added to each sample.  Families are
 * grouped across instances (one HELP/TYPE each), as the text format wants.
 * A guest's own `instance`/`build_id` labels become exported_instance /
 * exported_build_id (Prometheus' convention), and guest families named
 * ukcollectd_*, ukscope_host_* or ukscope_collector_* are dropped, so a guest
 * cannot forge the collector's series (host view: hostview_glue.c).
 *
 * GET /sd/prometheus: http_sd targets, one per running instance with a
 * host port forwarded to the guest agent (guest port 8080).
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd.h"
#include "common/metrics_page.h"
#include "host/metrics_read.h"

enum { AGENT_PORT = 8080, SCAN_STEP = 4096, MAX_FAMILIES = 4096 };

struct family {
    char *name;
    char *head; /* HELP + TYPE lines */
    char *samples;
    size_t slen;
    FILE *sf;
};

static struct family *fam_get(struct family *f, unsigned *n, const char *name, size_t nlen)
{
    for (unsigned i = 0; i < *n; i++)
        if (strlen(f[i].name) == nlen && !memcmp(f[i].name, name, nlen))
            return &f[i];
    if (*n == MAX_FAMILIES)
        return NULL;
    struct family *x = &f[(*n)++];
    memset(x, 0, sizeof(*x));
    x->name = strndup(name, nlen);
    x->sf = open_memstream(&x->samples, &x->slen);
    return x;
}

/* Write one sample line with our labels added and guest ones renamed. */
static void relabel(FILE *o, const char *line, size_t len, const struct inst *in)
{
    size_t i = 0;
    while (i < len && line[i] != '{' && line[i] != ' ')
        i++;
    fwrite(line, 1, i, o);
    fprintf(o, "{instance=\"%s\",build_id=\"%s\"", in->name, in->build_id);
    if (i < len && line[i] == '{') {
        i++;
        if (i < len && line[i] != '}')
            fputc(',', o);
        bool in_str = false;
        for (; i < len; i++) {
            char c = line[i];
            bool at_name = !in_str && (line[i - 1] == '{' || line[i - 1] == ',');
            if (at_name && (!strncmp(line + i, "instance=", 9) || !strncmp(line + i, "build_id=", 9)))
                fputs("exported_", o);
            fputc(c, o);
            if (in_str && c == '\\' && i + 1 < len)
                fputc(line[++i], o);
            else if (c == '"')
                in_str = !in_str;
        }
    } else {
        fputc('}', o);
        fwrite(line + i, 1, len - i, o);
    }
    fputc('\n', o);
}

static void add_instance(struct family *fams, unsigned *nf, struct inst *in)
{
    unsigned char *buf = malloc(UKM_PAGE_BYTES);
    struct ukm_out out = {.cap = 1 << 20};
    const char *why;
    unsigned count = 0;
    size_t len = 0;
    bool found = false;

    out.p = malloc(out.cap);
    if (!buf || !out.p || !in->ram.base)
        goto done;
    if (RAMVIEW_GUARD()) {
        const unsigned char *map = in->ram.base;
        size_t size = in->ram.size;
        size_t first = in->metrics_off ? in->metrics_off - 1 : 0;
        for (size_t off = first; off + sizeof(struct ukm_header) <= size; off += SCAN_STEP) {
            if (memcmp(map + off, UKM_MAGIC, UKM_MAGIC_LEN))
                continue;
            if (metrics_snapshot(map, size, off, buf, &len, &why) == 0 &&
                ukm_validate(buf, len, &count, &why) == 0) {
                in->metrics_off = off + 1;
                found = true;
                break;
            }
        }
        ramview_unguard();
    }
    if (!found) {
        in->metrics_off = 0;
        in->err[SRC_METRICS]++;
        goto done;
    }
    ukm_render((const struct ukm_entry *)(buf + sizeof(struct ukm_header)), count, false, &out);
    if (out.overflow) {
        in->err[SRC_METRICS]++;
        goto done;
    }
    struct family *cur = NULL;
    for (size_t p = 0; p < out.len;) {
        char *nl = memchr(out.p + p, '\n', out.len - p);
        size_t l = nl ? (size_t)(nl - (out.p + p)) : out.len - p;
        const char *line = out.p + p;
        p += l + 1;
        if (l > 7 && (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7))) {
            const char *nm = line + 7, *sp = memchr(nm, ' ', l - 7);
            size_t nlen = sp ? (size_t)(sp - nm) : l - 7;
            cur = strncmp(nm, "ukcollectd_", 11) && strncmp(nm, "ukscope_host_", 13) &&
                          strncmp(nm, "ukscope_collector_", 18)
                      ? fam_get(fams, nf, nm, nlen)
                      : NULL;
            if (cur && (!cur->head || !strstr(cur->head, line[2] == 'H' ? "# HELP" : "# TYPE"))) {
                char *h;
                if (asprintf(&h, "%s%.*s\n", cur->head ? cur->head : "", (int)l, line) > 0) {
                    free(cur->head);
                    cur->head = h;
                }
            }
            continue;
        }
        if (!l || line[0] == '#' || !cur)
            continue;
        relabel(cur->sf, line, l, in);
    }
done:
    free(buf);
    free(out.p);
}

char *prom_render(size_t *len)
{
    char *text = NULL;
    FILE *o = open_memstream(&text, len);
    unsigned by_state[ST_STATE_COUNT] = {0}, nf = 0;
    struct family *fams = calloc(MAX_FAMILIES, sizeof(*fams));

    if (!o || !fams) {
        if (o)
            fclose(o);
        free(text);
        free(fams);
        return NULL;
    }
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used)
            by_state[cd.inst[i].state]++;
    fputs("# HELP ukcollectd_instances Instances known to the collector, by state.\n"
          "# TYPE ukcollectd_instances gauge\n", o);
    for (unsigned s = 0; s < ST_STATE_COUNT; s++)
        fprintf(o, "ukcollectd_instances{state=\"%s\"} %u\n", inst_state_name(s), by_state[s]);
    fprintf(o, "# HELP ukcollectd_collection_duration_seconds Duration of the last collection pass.\n"
               "# TYPE ukcollectd_collection_duration_seconds gauge\n"
               "ukcollectd_collection_duration_seconds %.3f\n"
               "# TYPE ukcollectd_ticks_total counter\nukcollectd_ticks_total %llu\n",
            cd.tick_ms_last / 1000.0, (unsigned long long)cd.ticks);
#define PER_INST(NAME, TYPE, HELP, EXPR)                                                        \
    fputs("# HELP " NAME " " HELP "\n# TYPE " NAME " " TYPE "\n", o);                          \
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {                                          \
        struct inst *in = &cd.inst[i];                                                         \
        if (in->used)                                                                          \
            fprintf(o, NAME "{instance=\"%s\"} %llu\n", in->name, (unsigned long long)(EXPR)); \
    }
    PER_INST("ukcollectd_restarts_total", "counter", "Restarts by the restart policy.", in->restarts);
    PER_INST("ukcollectd_panics_total", "counter", "GUEST_PANICKED events seen.", in->panics);
    PER_INST("ukcollectd_log_records_lost_total", "counter",
             "klog records of the current boot overwritten before they were read (exact).",
             in->ls.pos.klog_lost);
    PER_INST("ukcollectd_log_records_stored", "gauge",
             "klog records of the current boot in the store.", in->ls.pos.klog_records);
    fputs("# HELP ukcollectd_log_records_ingested_total Records stored by this daemon run.\n"
          "# TYPE ukcollectd_log_records_ingested_total counter\n", o);
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used)
            for (unsigned s = 0; s < 2; s++)
                fprintf(o, "ukcollectd_log_records_ingested_total{instance=\"%s\",source=\"%s\"} %llu\n",
                        cd.inst[i].name, s ? "console" : "klog",
                        (unsigned long long)cd.inst[i].ingested[s]);
    fputs("# HELP ukcollectd_read_errors_total Failed reads per instance and source.\n"
          "# TYPE ukcollectd_read_errors_total counter\n", o);
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used)
            for (unsigned s = 0; s < SRC_COUNT; s++)
                fprintf(o, "ukcollectd_read_errors_total{instance=\"%s\",source=\"%s\"} %llu\n",
                        cd.inst[i].name, cd_source_names[s], (unsigned long long)cd.inst[i].err[s]);
    fputs("# TYPE ukcollectd_instance_info gauge\n", o);
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        if (in->used)
            fprintf(o, "ukcollectd_instance_info{instance=\"%s\",build_id=\"%s\",boot_id=\"%s\","
                       "accel=\"%s\",state=\"%s\"} 1\n", in->name, in->build_id, in->boot_id,
                    in->meta.accel, inst_state_name(in->state));
    }
    extern void prom_hostcpu(FILE *o); /* hostcpu.c: the vCPU threads' schedstat */
    prom_hostcpu(o);
    extern void prom_relp(FILE *o);
    extern void prom_trace(FILE *o);
    extern void prom_crash(FILE *o);
    prom_relp(o);
    prom_trace(o);
    prom_crash(o);
    prom_hostview(o);
    prom_hosttrace(o);
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used && cd.inst[i].state != ST_EXITED)
            add_instance(fams, &nf, &cd.inst[i]);
    for (unsigned i = 0; i < nf; i++) {
        fclose(fams[i].sf);
        if (fams[i].slen) {
            fputs(fams[i].head ? fams[i].head : "", o);
            fwrite(fams[i].samples, 1, fams[i].slen, o);
        }
        free(fams[i].name);
        free(fams[i].head);
        free(fams[i].samples);
    }
    free(fams);
    fclose(o);
    return text;
}

char *prom_sd(size_t *len)
{
    json_t *a = json_array();
    char *s;

    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        unsigned port = in->used ? inst_meta_host_port(&in->meta, AGENT_PORT) : 0;
        char target[32];
        if (!port || (in->state != ST_RUNNING && in->state != ST_STARTING))
            continue;
        snprintf(target, sizeof(target), "127.0.0.1:%u", port);
        json_array_append_new(a, json_pack("{s:[s],s:{s:s,s:s,s:s,s:s}}", "targets", target,
                                           "labels", "instance", in->name, "build_id",
                                           in->build_id, "accel", in->meta.accel,
                                           "__metrics_path__", "/metrics"));
    }
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (s)
        *len = strlen(s);
    return s;
}
