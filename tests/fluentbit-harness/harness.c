/*
 * A host harness that drives a proxy input plugin (.so) the way Fluent Bit 5.x does
 * (src/flb_plugin_proxy.c, src/proxy/go/go.c, src/flb_input_thread.c), without Fluent Bit.
 *
 * The host-side structs are declared here independently of ffi/include/flb_proxy.h, from the
 * host's own layout, so that a mistake in our header shows up as a failure here.
 *
 *   harness PLUGIN.so OUT_PREFIX MAX_SECONDS  -i EXPECT key=value ...  [-i EXPECT key=value ...]
 *
 * One thread per `-i` instance, like Fluent Bit's threaded inputs: Init (serialised, as the host
 * starts instances one after another), then the collect callback every second until EXPECT
 * events arrived (EXPECT 0: until MAX_SECONDS), then FLBPluginInputPreExit and FLBPluginExit in
 * that thread. Then FLBPluginUnregister and dlclose. Every buffer handed over is validated as a
 * sequence of Fluent Bit events ([[ext0(8), {}], {}] or [ts, {}]) and appended (copied) to
 * OUT_PREFIX.N.msgpack; the buffer then goes to the cleanup callback, as the host does.
 * Log lines go to stderr as "[harness] [level] message".
 * Exit status: 0 ok; 1 usage or load error; 2 an instance failed Init; 3 a buffer was invalid
 * or the callback failed; 4 fewer events than expected.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- the host's side of the ABI (include/fluent-bit/flb_plugin_proxy.h, flb_api.h, go.h) ---- */

struct host_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

struct host_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

struct host_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

struct host_go_input_plugin {
    char *name;
    void *api;
    void *i_ins;
    struct host_input_proxy_context *context;

    int (*cb_init)(struct host_go_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_collect_ctx)(void *, void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_cleanup_ctx)(void *, void *);
    int (*cb_exit)();
};

_Static_assert(sizeof(struct host_proxy_def) == 48, "flb_plugin_proxy_def layout");
_Static_assert(offsetof(struct host_input_proxy_context, remote_context) == 8, "remote_context at 8");
_Static_assert(offsetof(struct host_api, log_print) == 32, "log_print at 32");
_Static_assert(offsetof(struct host_go_input_plugin, cb_init) == 32, "cb_init at 32");

/* ---- the host's instances ---- */

#define MAX_INSTANCES 8
#define MAX_PROPS 64

struct instance {
    int id;
    long expect;
    int nprops;
    char *keys[MAX_PROPS];
    char *values[MAX_PROPS];
    int log_level;
    /* results */
    long events;
    long buffers;
    int status;
    pthread_t thread;
};

static struct host_go_input_plugin *plugin;
static void (*pre_exit_cb)(int);
static const char *out_prefix;
static int max_seconds;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* HARNESS_BENCH_PACE=1 (the benchmark, bench/): collect again at once after a collect that gave
 * events, 1 ms later after an empty one, until MAX_SECONDS of wall time; instead of the host's
 * fixed 1 s timer, which would cap throughput at batch_max_records per second. */
static int bench_pace;
static struct timespec started;

static double elapsed_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double) (now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

/* Keys that flb_input_set_property consumes as core properties of every input: they never reach
 * the instance's property list, so the plugin cannot read them with input_get_property. */
static int is_core_property(const char *key)
{
    static const char *exact[] = {
        "tag", "log_level", "log_suppress_interval", "routable", "alias", "mem_buf_limit",
        "listen", "host", "port", "ipv6", "tls", "threaded", NULL
    };
    static const char *prefixes[] = {"net.", "oauth2", "tls.", "storage.", "thread.", "rate_", NULL};
    int i;
    for (i = 0; exact[i]; i++) {
        if (strcasecmp(key, exact[i]) == 0) return 1;
    }
    for (i = 0; prefixes[i]; i++) {
        if (strncasecmp(key, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    }
    return 0;
}

/* flb_input_get_property: case-insensitive, NULL when absent, host-owned string. */
static const char *host_input_get_property(const char *key, void *i_ins)
{
    struct instance *ins = i_ins;
    int i;
    for (i = 0; i < ins->nprops; i++) {
        if (strcasecmp(ins->keys[i], key) == 0 && !is_core_property(ins->keys[i])) {
            return ins->values[i];
        }
    }
    return NULL;
}

static const char *host_output_get_property(const char *key, void *o_ins)
{
    (void) key;
    (void) o_ins;
    return NULL;
}

static void *host_get_cmt(void *ins)
{
    (void) ins;
    return NULL;
}

static const char *level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

/* flb_log_print */
static void host_log_print(int level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    (void) file;
    (void) line;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "[harness] [%s] ", (level >= 1 && level <= 5) ? level_names[level] : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

/* flb_input_log_check */
static int host_input_log_check(void *i_ins, int level)
{
    struct instance *ins = i_ins;
    return level <= ins->log_level;
}

static int host_output_log_check(void *o_ins, int level)
{
    (void) o_ins;
    (void) level;
    return 0;
}

static struct host_api api = {
    host_output_get_property, host_input_get_property, host_get_cmt, host_get_cmt,
    host_log_print, host_input_log_check, host_output_log_check,
    host_output_get_property, host_output_log_check,
};

/* ---- a msgpack walker: enough to validate events as flb_input_log_append would ---- */

struct reader {
    const unsigned char *p;
    const unsigned char *end;
};

static int need(struct reader *r, size_t n)
{
    return (size_t) (r->end - r->p) >= n;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Reads one object's header. kind: 'm' map, 'a' array, 'e' ext, 's' scalar (skipped).
 * For maps/arrays *len is the element count; for ext *len is the data size and *ext the type. */
static int read_head(struct reader *r, char *kind, uint64_t *len, int *ext)
{
    unsigned char b;
    size_t skip = 0;
    if (!need(r, 1)) {
        return -1;
    }
    b = *r->p++;
    *kind = 's';
    *len = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return 0;
    }
    if ((b & 0xf0) == 0x80) { *kind = 'm'; *len = b & 0x0f; return 0; }
    if ((b & 0xf0) == 0x90) { *kind = 'a'; *len = b & 0x0f; return 0; }
    if ((b & 0xe0) == 0xa0) { skip = b & 0x1f; goto skip_bytes; }
    switch (b) {
    case 0xcc: case 0xd0: skip = 1; goto skip_bytes;
    case 0xcd: case 0xd1: skip = 2; goto skip_bytes;
    case 0xce: case 0xd2: case 0xca: skip = 4; goto skip_bytes;
    case 0xcf: case 0xd3: case 0xcb: skip = 8; goto skip_bytes;
    case 0xd9: case 0xc4: if (!need(r, 1)) return -1; skip = be(r->p, 1); r->p += 1; goto skip_bytes;
    case 0xda: case 0xc5: if (!need(r, 2)) return -1; skip = be(r->p, 2); r->p += 2; goto skip_bytes;
    case 0xdb: case 0xc6: if (!need(r, 4)) return -1; skip = be(r->p, 4); r->p += 4; goto skip_bytes;
    case 0xdc: if (!need(r, 2)) return -1; *kind = 'a'; *len = be(r->p, 2); r->p += 2; return 0;
    case 0xdd: if (!need(r, 4)) return -1; *kind = 'a'; *len = be(r->p, 4); r->p += 4; return 0;
    case 0xde: if (!need(r, 2)) return -1; *kind = 'm'; *len = be(r->p, 2); r->p += 2; return 0;
    case 0xdf: if (!need(r, 4)) return -1; *kind = 'm'; *len = be(r->p, 4); r->p += 4; return 0;
    case 0xd4: *len = 1; goto ext_fixed;
    case 0xd5: *len = 2; goto ext_fixed;
    case 0xd6: *len = 4; goto ext_fixed;
    case 0xd7: *len = 8; goto ext_fixed;
    case 0xd8: *len = 16; goto ext_fixed;
    case 0xc7: if (!need(r, 1)) return -1; *len = be(r->p, 1); r->p += 1; goto ext_fixed;
    case 0xc8: if (!need(r, 2)) return -1; *len = be(r->p, 2); r->p += 2; goto ext_fixed;
    case 0xc9: if (!need(r, 4)) return -1; *len = be(r->p, 4); r->p += 4; goto ext_fixed;
    default: return -1;
    }
ext_fixed:
    if (!need(r, 1 + *len)) return -1;
    *kind = 'e';
    *ext = (signed char) *r->p;
    r->p += 1 + *len;
    return 0;
skip_bytes:
    if (!need(r, skip)) return -1;
    r->p += skip;
    return 0;
}

static int skip_value(struct reader *r, int depth)
{
    char kind;
    uint64_t len, i;
    int ext;
    if (depth > 64 || read_head(r, &kind, &len, &ext) != 0) {
        return -1;
    }
    if (kind == 'a' || kind == 'm') {
        uint64_t n = kind == 'm' ? len * 2 : len;
        for (i = 0; i < n; i++) {
            if (skip_value(r, depth + 1) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* One event: [[ts, {meta}], {body}] or [ts, {body}]; ts an ext 0 of 8 bytes, or a non-negative
 * int, or a float. Returns 0 when valid. */
static int read_event(struct reader *r)
{
    char kind;
    uint64_t len;
    int ext;
    const unsigned char *at;

    if (read_head(r, &kind, &len, &ext) != 0 || kind != 'a' || len != 2) return -1;
    at = r->p;
    if (read_head(r, &kind, &len, &ext) != 0) return -1;
    if (kind == 'a') {
        if (len != 2) return -1;
        at = r->p;
        if (read_head(r, &kind, &len, &ext) != 0) return -1;
        if (kind == 'e' && !(ext == 0 && len == 8)) return -1;
        if (kind == 's' && (*at >= 0xe0 || (*at >= 0xd0 && *at <= 0xd3))) return -1;
        if (kind != 'e' && kind != 's') return -1;
        at = r->p;
        if (read_head(r, &kind, &len, &ext) != 0 || kind != 'm') return -1;
        r->p = at;
        if (skip_value(r, 0) != 0) return -1;
    }
    else if (kind == 'e') {
        if (!(ext == 0 && len == 8)) return -1;
    }
    else if (kind != 's') {
        return -1;
    }
    at = r->p;
    if (read_head(r, &kind, &len, &ext) != 0 || kind != 'm') return -1;
    r->p = at;
    return skip_value(r, 0);
}

static long count_events(const void *data, size_t size)
{
    struct reader r = {data, (const unsigned char *) data + size};
    long n = 0;
    while (r.p < r.end) {
        if (read_event(&r) != 0) {
            return -1;
        }
        n++;
    }
    return n;
}

/* ---- one instance's thread: init, collect every second, pre-exit, exit ---- */

static void *run_instance(void *arg)
{
    struct instance *ins = arg;
    struct host_input_proxy_context *ctx;
    char path[4096];
    FILE *out;
    int ret, second, idle = 0;

    snprintf(path, sizeof(path), "%s.%d.msgpack", out_prefix, ins->id);
    out = fopen(path, "wb");
    if (!out) {
        perror(path);
        ins->status = 1;
        return NULL;
    }

    /* flb_proxy_input: the context is calloc'd per instance; proxy_go_input_init sets the
     * plugin's api, i_ins and context, then calls FLBPluginInit. */
    ctx = calloc(1, sizeof(*ctx));
    ctx->proxy = plugin;
    pthread_mutex_lock(&init_lock);
    plugin->api = &api;
    plugin->i_ins = ins;
    plugin->context = ctx;
    ret = plugin->cb_init(plugin);
    pthread_mutex_unlock(&init_lock);
    if (ret <= 0) {
        fprintf(stderr, "[harness] instance %d: plugin failed to initialize (%d)\n", ins->id, ret);
        free(ctx);
        fclose(out);
        ins->status = 2;
        return NULL;
    }
    ctx->coll_fd = 3 + ins->id; /* set only after Init returns, as the host does */

    for (second = 0; bench_pace ? elapsed_seconds() < max_seconds : second < max_seconds; second++) {
        void *data = NULL;
        size_t len = 0;
        long n;

        if (!bench_pace) {
            sleep(1);
        }
        else if (idle) {
            usleep(1000);
        }
        if (plugin->cb_collect_ctx) {
            ret = plugin->cb_collect_ctx(ctx->remote_context, &data, &len);
        }
        else {
            ret = plugin->cb_collect(&data, &len);
        }
        idle = len == 0;
        if (len == 0) {
            /* nothing ingested, no cleanup */
            if (ins->expect > 0 && ins->events >= ins->expect) break;
            continue;
        }
        if (ret == -1) {
            fprintf(stderr, "[harness] instance %d: collect returned -1 with %zu bytes\n", ins->id, len);
            ins->status = 3;
            break;
        }
        n = count_events(data, len);
        if (n < 0) {
            fprintf(stderr, "[harness] instance %d: invalid event buffer (%zu bytes)\n", ins->id, len);
            ins->status = 3;
        }
        else {
            /* flb_input_log_append copies the bytes */
            fwrite(data, 1, len, out);
            ins->events += n;
            ins->buffers++;
        }
        if (plugin->cb_cleanup_ctx) {
            ret = plugin->cb_cleanup_ctx(ctx->remote_context, data);
        }
        else if (plugin->cb_cleanup) {
            ret = plugin->cb_cleanup(data);
        }
        else {
            free(data);
        }
        if (ins->status != 0) break;
        if (ins->expect > 0 && ins->events >= ins->expect) break;
    }
    fclose(out);

    /* flb_proxy_input_cb_exit, in the instance's thread */
    if (pre_exit_cb) {
        pre_exit_cb(0);
    }
    if (plugin->cb_exit) {
        plugin->cb_exit();
    }
    free(ctx);
    if (ins->status == 0 && ins->expect > 0 && ins->events < ins->expect) {
        ins->status = 4;
    }
    fprintf(stderr, "[harness] instance %d: %ld events in %ld buffers, status %d\n",
            ins->id, ins->events, ins->buffers, ins->status);
    return NULL;
}

int main(int argc, char **argv)
{
    struct instance instances[MAX_INSTANCES];
    struct host_proxy_def *def;
    int (*register_cb)(struct host_proxy_def *);
    void (*unregister_cb)(struct host_proxy_def *);
    void *dso;
    int n = 0, i, status = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: %s PLUGIN.so OUT_PREFIX MAX_SECONDS -i EXPECT key=value ... [-i ...]\n", argv[0]);
        return 1;
    }
    out_prefix = argv[2];
    bench_pace = getenv("HARNESS_BENCH_PACE") != NULL;
    clock_gettime(CLOCK_MONOTONIC, &started);
    max_seconds = atoi(argv[3]);
    memset(instances, 0, sizeof(instances));
    for (i = 4; i < argc; i++) {
        if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            if (n == MAX_INSTANCES) return 1;
            instances[n].id = n;
            instances[n].expect = atol(argv[++i]);
            instances[n].log_level = 3;
            n++;
        }
        else if (n > 0 && strchr(argv[i], '=')) {
            struct instance *ins = &instances[n - 1];
            char *eq = strchr(argv[i], '=');
            if (ins->nprops == MAX_PROPS) return 1;
            ins->keys[ins->nprops] = strndup(argv[i], eq - argv[i]);
            ins->values[ins->nprops] = strdup(eq + 1);
            /* log_level is a core property: the host keeps it, the plugin sees it only
             * through input_log_check */
            if (strcasecmp(ins->keys[ins->nprops], "log_level") == 0) {
                const char *v = eq + 1;
                ins->log_level = !strcmp(v, "error") ? 1 : !strcmp(v, "warn") ? 2 :
                                 !strcmp(v, "debug") ? 4 : !strcmp(v, "trace") ? 5 : 3;
            }
            ins->nprops++;
        }
        else {
            fprintf(stderr, "unexpected argument: %s\n", argv[i]);
            return 1;
        }
    }

    /* flb_plugin_proxy_create + flb_plugin_proxy_register */
    dso = dlopen(argv[1], RTLD_LAZY);
    if (!dso) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    register_cb = (int (*)(struct host_proxy_def *)) dlsym(dso, "FLBPluginRegister");
    if (!register_cb) {
        fprintf(stderr, "no FLBPluginRegister\n");
        return 1;
    }
    def = calloc(1, sizeof(*def)); /* type 0: the host does not preset it */
    if (register_cb(def) == -1) {
        fprintf(stderr, "FLBPluginRegister returned -1\n");
        return 1;
    }
    if (def->type != 1 || def->proxy != 11 || !def->name) {
        fprintf(stderr, "bad registration: type %d proxy %d\n", def->type, def->proxy);
        return 1;
    }
    fprintf(stderr, "[harness] registered input '%s' (%s), event_type %d, flags %d\n",
            def->name, def->description ? def->description : "", def->event_type, def->flags);

    /* proxy_go_input_register */
    plugin = malloc(sizeof(*plugin));
    plugin->cb_init = (int (*)(struct host_go_input_plugin *)) dlsym(dso, "FLBPluginInit");
    if (!plugin->cb_init) {
        fprintf(stderr, "no FLBPluginInit\n");
        return 1;
    }
    plugin->cb_collect = (int (*)(void **, size_t *)) dlsym(dso, "FLBPluginInputCallback");
    plugin->cb_collect_ctx = (int (*)(void *, void **, size_t *)) dlsym(dso, "FLBPluginInputCallbackCtx");
    plugin->cb_cleanup = (int (*)(void *)) dlsym(dso, "FLBPluginInputCleanupCallback");
    plugin->cb_cleanup_ctx = (int (*)(void *, void *)) dlsym(dso, "FLBPluginInputCleanupCallbackCtx");
    plugin->cb_exit = (int (*)()) dlsym(dso, "FLBPluginExit");
    plugin->name = strdup(def->name);
    pre_exit_cb = (void (*)(int)) dlsym(dso, "FLBPluginInputPreExit");
    unregister_cb = (void (*)(struct host_proxy_def *)) dlsym(dso, "FLBPluginUnregister");
    if (!plugin->cb_collect && !plugin->cb_collect_ctx) {
        fprintf(stderr, "no collect callback\n");
        return 1;
    }

    for (i = 0; i < n; i++) {
        pthread_create(&instances[i].thread, NULL, run_instance, &instances[i]);
    }
    for (i = 0; i < n; i++) {
        pthread_join(instances[i].thread, NULL);
        if (instances[i].status > status) {
            status = instances[i].status;
        }
    }

    /* flb_proxy_input_cb_destroy + proxy_go_input_unregister */
    if (unregister_cb) {
        unregister_cb(def);
    }
    free(plugin->name);
    free(plugin);
    free(def);
    for (i = 0; i < n; i++) {
        int k;
        for (k = 0; k < instances[i].nprops; k++) {
            free(instances[i].keys[k]);
            free(instances[i].values[k]);
        }
    }
    if (!getenv("HARNESS_KEEP_DSO")) dlclose(dso);
    fprintf(stderr, "[harness] done, status %d\n", status);
    return status;
}
