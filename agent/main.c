/* wovenet: parses the command line, builds the objects, runs, tears down. */
#include "wv/agent.h"
#include "wv/cli.h"
#include "wv/base.h"
#include "wv/store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <uv.h>

struct run_ctx {
    wv_agent *agent;
    uv_signal_t sigint, sigterm, sighup;
    wv_log *log;
    bool stopping;
};

static void on_agent_stopped(wv_agent *agent, void *user) {
    struct run_ctx *ctx = user;
    uv_close((uv_handle_t *)&ctx->sigint, NULL);
    uv_close((uv_handle_t *)&ctx->sigterm, NULL);
    uv_close((uv_handle_t *)&ctx->sighup, NULL);
}

/* SIGHUP: reopen the log file (after rotation). */
static void on_sighup(uv_signal_t *h, int signum) {
    struct run_ctx *ctx = h->data;
    if (wv_log_reopen(ctx->log))
        WV_ERROR(ctx->log, "main", "cannot reopen the log file: %s", strerror(errno));
    else
        WV_INFO(ctx->log, "main", "log file reopened");
}

static void on_signal(uv_signal_t *h, int signum) {
    struct run_ctx *ctx = h->data;
    if (ctx->stopping)
        return;
    ctx->stopping = true;
    wv_agent_stop(ctx->agent, on_agent_stopped, ctx);
}

/* The site's own logger, from its stored settings. WOVENET_LOG_FORMAT
 * ("text" or "json"), when set, replaces the stored logger.format for this
 * process only (the container image sets json); another value is refused. */
static wv_log *site_logger(wv_store *st) {
    const char *env_format = getenv("WOVENET_LOG_FORMAT");
    if (env_format && *env_format && wv_log_format_parse(env_format) < 0) {
        fprintf(stderr, "wovenet: WOVENET_LOG_FORMAT=\"%.32s\": not text or json\n", env_format);
        return NULL;
    }
    json_t *site = NULL;
    int rc = wv_store_get_site(st, &site);
    if (rc == WV_ERR_NOTFOUND) /* first run: the site comes later, through the API */
        return wv_log_new(WV_LOG_INFO, WV_LOG_TEXT, NULL);
    if (rc) {
        fprintf(stderr, "wovenet: cannot read the site: %s\n", wv_strerror(rc));
        return NULL;
    }
    json_t *l = json_object_get(site, "logger");
    int level = wv_log_level_parse(json_string_value(json_object_get(l, "level")));
    const char *stored = json_string_value(json_object_get(l, "format"));
    int format = wv_log_format_parse(env_format && *env_format ? env_format : stored);
    const char *file = json_string_value(json_object_get(l, "file"));
    wv_log *log =
        wv_log_new(level < 0 ? WV_LOG_INFO : level, format < 0 ? WV_LOG_TEXT : format, file);
    if (!log)
        fprintf(stderr, "config: logger.file: cannot open %s: %s\n", file, strerror(errno));
    json_decref(site);
    return log;
}

/* Logs what the import of the config file changed, through the site's
 * own logger (which the import may just have set). */
static void log_import(wv_log *log, const char *path, json_t *plan) {
    static const char *const lists[] = {"created", "changed", "deleted"};
    for (size_t l = 0; l < WV_COUNTOF(lists); l++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(plan, lists[l]), i, e) {
            WV_INFO(log, "config", "%s: %s %s %s", path, lists[l],
                    json_string_value(json_object_get(e, "kind")),
                    json_string_value(json_object_get(e, "name")));
        }
    }
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(plan, "warnings"), i, w)
        WV_WARN(log, "config", "%s: %s", path, json_string_value(w));
}

/* Imports --config if given, then opens the store with the site's logger.
 * Without --config and without a store, the store is made (0600) for a
 * first run: the API and the dashboard wait for the site (PUT /site). */
static int prepare(const struct wv_cli *cli, wv_log **log, wv_store **st) {
    json_t *plan = NULL;
    if (!cli->config && access(cli->db, F_OK) != 0)
        fprintf(stderr, "wovenet: %s: a new store, with no site yet: configure it through the "
                        "API or the dashboard, or import a config\n", cli->db);
    if (cli->config && wv_cli_import_file(cli->db, cli->config, false, &plan) != WV_EXIT_OK)
        return WV_EXIT_FAIL;
    wv_log *boot = wv_log_new(WV_LOG_INFO, WV_LOG_TEXT, NULL);
    wv_store *bst = NULL;
    int code = WV_EXIT_OK;
    int rc = wv_store_open(cli->db, boot, &bst);
    if (rc) {
        fprintf(stderr, "wovenet: cannot open store %s: %s\n", cli->db, wv_strerror(rc));
        code = WV_EXIT_FAIL;
    }
    if (!code && !(*log = site_logger(bst)))
        code = WV_EXIT_FAIL;
    wv_store_close(bst);
    wv_log_free(boot);
    if (code) {
        json_decref(plan);
        return code;
    }
    if ((rc = wv_store_open(cli->db, *log, st))) {
        fprintf(stderr, "wovenet: cannot open store %s: %s\n", cli->db, wv_strerror(rc));
        wv_log_free(*log);
        json_decref(plan);
        return WV_EXIT_FAIL;
    }
    if (plan)
        log_import(*log, cli->config, plan);
    json_decref(plan);
    return WV_EXIT_OK;
}

static int run(const struct wv_cli *cli) {
    wv_log *log = NULL;
    wv_store *st = NULL;
    int code = prepare(cli, &log, &st);
    if (code)
        return code;

    uv_loop_t loop;
    /* A local client that resets its connection must cost an EPIPE on the
     * next write, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Use every descriptor we may (the soft limit is often 1024 while the
     * hard one is far higher); the mesh keeps app connections below it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    uv_loop_init(&loop);
    struct run_ctx ctx = {0};
    struct wv_agent_opts opts = {.api_listen = cli->api};
    int rc = wv_agent_new(&loop, st, log, &opts, &ctx.agent);
    if (!rc)
        rc = wv_agent_start(ctx.agent);
    if (!rc) {
        uv_signal_init(&loop, &ctx.sigint);
        uv_signal_init(&loop, &ctx.sigterm);
        uv_signal_init(&loop, &ctx.sighup);
        ctx.sigint.data = ctx.sigterm.data = ctx.sighup.data = &ctx;
        ctx.log = log;
        uv_signal_start(&ctx.sigint, on_signal, SIGINT);
        uv_signal_start(&ctx.sigterm, on_signal, SIGTERM);
        uv_signal_start(&ctx.sighup, on_sighup, SIGHUP);
        uv_run(&loop, UV_RUN_DEFAULT);
    } else {
        const char *why = ctx.agent ? wv_agent_error(ctx.agent) : "";
        fprintf(stderr, "wovenet: cannot start: %s\n", why[0] ? why : wv_strerror(rc));
        code = WV_EXIT_FAIL;
    }
    wv_agent_free(ctx.agent);
    uv_run(&loop, UV_RUN_DEFAULT); /* let any pending close callbacks run */
    if (uv_loop_close(&loop) != 0)
        WV_WARN(log, "main", "event loop closed with handles still open");
    wv_store_close(st);
    wv_log_free(log);
    return code;
}

int main(int argc, char **argv) {
    static int (*const commands[])(const struct wv_cli *) = {
        [WV_CLI_RUN] = run,
        [WV_CLI_IMPORT] = wv_cli_import,
        [WV_CLI_EXPORT] = wv_cli_export,
        [WV_CLI_TOKEN_CREATE] = wv_cli_token_create,
        [WV_CLI_TOKEN_LIST] = wv_cli_token_list,
        [WV_CLI_TOKEN_REVOKE] = wv_cli_token_revoke,
        [WV_CLI_KEY_GENERATE] = wv_cli_key_generate,
        [WV_CLI_IDENTITY] = wv_cli_identity,
        [WV_CLI_STATUS] = wv_cli_status,
        [WV_CLI_APPLY] = wv_cli_apply,
    };
    struct wv_cli cli;
    wv_cli_parse(argc, argv, &cli);
    /* WV_CLI_DONE: handled while parsing (help, version, usage error). */
    if ((size_t)cli.cmd < WV_COUNTOF(commands) && commands[cli.cmd])
        return commands[cli.cmd](&cli);
    return cli.exit_code;
}
