/*
 * flb_proxy.h: the part of Fluent Bit's proxy plugin ABI that defender-bridge uses.
 *
 * Written for this project from the facts in docs/FLUENT-BIT.md (Fluent Bit 5.x:
 * include/fluent-bit/flb_plugin_proxy.h, include/fluent-bit/flb_api.h, src/proxy/go/go.h).
 * Only layouts and constants are described here; nothing of Fluent Bit is linked.
 * ffi/src/bindings.rs is generated from this file with bindgen (see ffi/tests/bindings.rs).
 *
 * Ownership, once for the whole ABI:
 *  - flb_plugin_proxy_def: filled by the plugin in FLBPluginRegister. The host strdup()s `name`
 *    and keeps `description` by pointer, so both must be static strings.
 *  - flb_api: owned by the host, valid until the plugin is unregistered. Strings returned by the
 *    get_property functions are owned by the host; copy them, never free them.
 *  - flbgo_input_plugin: one per loaded .so, owned by the host. Its i_ins and context fields are
 *    overwritten before each instance's FLBPluginInit, so copy what you need during Init.
 *  - flb_plugin_input_proxy_context: calloc()ed by the host per instance and freed by it after
 *    FLBPluginExit. `remote_context` belongs to the plugin: it is set in FLBPluginInit and handed
 *    back as the first argument of the *Ctx callbacks; the plugin frees what it points to.
 *  - Collected data: the buffer returned by FLBPluginInputCallbackCtx is allocated by the plugin
 *    with malloc(); the host copies it, then hands it to FLBPluginInputCleanupCallbackCtx, which
 *    frees it. When *size is 0, or the callback returns -1, the host never calls the cleanup.
 */
#ifndef DEFENDER_BRIDGE_FLB_PROXY_H
#define DEFENDER_BRIDGE_FLB_PROXY_H

#include <stddef.h>

/* Return codes (flb_macros.h) */
#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2

/* Plugin types */
#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_CUSTOM_PLUGIN 3

/* The only proxy kind: the one Go plugins use */
#define FLB_PROXY_GOLANG 11

/* Log levels taken by flb_api.log_print */
#define FLB_LOG_ERROR 1
#define FLB_LOG_WARN 2
#define FLB_LOG_INFO 3
#define FLB_LOG_DEBUG 4
#define FLB_LOG_TRACE 5

/* Event types for flb_plugin_proxy_def.event_type (0 also means logs for inputs) */
#define FLB_PROXY_EVENT_LOGS 0

/* Opaque host types */
struct flb_config_map;
struct flb_input_instance;
struct flb_output_instance;
struct flb_custom_instance;

/* Passed to FLBPluginRegister; filled by the plugin. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    struct flb_config_map *config_map;
};

/* The host's function table. */
struct flb_api {
    const char *(*output_get_property)(const char *key, struct flb_output_instance *o_ins);
    const char *(*input_get_property)(const char *key, struct flb_input_instance *i_ins);
    void *(*output_get_cmt_instance)(struct flb_output_instance *o_ins);
    void *(*input_get_cmt_instance)(struct flb_input_instance *i_ins);
    void (*log_print)(int level, const char *file, int line, const char *fmt, ...);
    int (*input_log_check)(struct flb_input_instance *i_ins, int level);
    int (*output_log_check)(struct flb_output_instance *o_ins, int level);
    const char *(*custom_get_property)(const char *key, struct flb_custom_instance *c_ins);
    int (*custom_log_check)(struct flb_custom_instance *c_ins, int level);
};

/* Per-instance context of a proxy input: note coll_fd before remote_context. */
struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

/* The argument of FLBPluginInit for an input plugin. */
struct flbgo_input_plugin {
    char *name;
    struct flb_api *api;
    struct flb_input_instance *i_ins;
    struct flb_plugin_input_proxy_context *context;

    int (*cb_init)(struct flbgo_input_plugin *plugin);
    int (*cb_collect)(void **data, size_t *size);
    int (*cb_collect_ctx)(void *remote_ctx, void **data, size_t *size);
    int (*cb_cleanup)(void *data);
    int (*cb_cleanup_ctx)(void *remote_ctx, void *data);
    int (*cb_exit)(void);
};

/* The symbols an input plugin exports (all but FLBPluginRegister, FLBPluginInit and one
 * collect callback are optional). */
int FLBPluginRegister(struct flb_plugin_proxy_def *def);
void FLBPluginUnregister(struct flb_plugin_proxy_def *def);
int FLBPluginInit(void *plugin);
int FLBPluginInputCallbackCtx(void *remote_ctx, void **data, size_t *size);
int FLBPluginInputCleanupCallbackCtx(void *remote_ctx, void *data);
void FLBPluginInputPreExit(int hot_reloading);
int FLBPluginExit(void);

#endif
