#include "wvunit.h"

#include "wv/agent.h"
#include "wv/base.h"
#include "wv/config.h"
#include "wv/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char yaml[] = "siteName: unit\n"
                           "crypto: {key: \"Unit-Test-Key-4a7f\"}\n"
                           "messageChannel:\n"
                           "  mqtt: {brokerServer: \"mqtt://127.0.0.1:1\"}\n"
                           "restfulApi: {listenAddr: \"127.0.0.1:0\"}\n";

struct fixture {
    char dir[64];
    char db[96];
    wv_store *st;
    uv_loop_t loop;
};

static int setup(void **state) {
    struct fixture *f = wv_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wvagentXXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/wovenet.db", f->dir);
    assert_int_equal(wv_store_open(f->db, NULL, &f->st), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    assert_int_equal(uv_loop_close(&f->loop), 0);
    wv_store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void on_stopped(wv_agent *a, void *user) {
    (*(int *)user)++;
}

/* With no site yet the agent serves only the API, so a site can be PUT. */
static void start_without_site_serves_api_and_stop_calls_back(void **state) {
    struct fixture *f = *state;
    wv_agent *a;
    struct wv_agent_opts opts = {.api_listen = "127.0.0.1:0"};
    assert_int_equal(wv_agent_new(&f->loop, f->st, NULL, &opts, &a), 0);
    assert_int_equal(wv_agent_start(a), 0);
    assert_string_equal(wv_agent_site_name(a), "");
    int calls = 0;
    wv_agent_stop(a, on_stopped, &calls);
    assert_int_equal(calls, 0); /* never inline */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(calls, 1);
    wv_agent_free(a);
}

static void runs_the_stored_site_and_stops_cleanly(void **state) {
    struct fixture *f = *state;
    json_t *doc;
    wv_verr err;
    assert_int_equal(wv_config_from_yaml(yaml, strlen(yaml), &doc, &err), 0);
    assert_int_equal(wv_store_apply(f->st, doc, -1, false, NULL, &err), 0);
    wv_config_doc_free(doc);

    wv_agent *a;
    struct wv_agent_opts opts = {.api_listen = "127.0.0.1:0"};
    assert_int_equal(wv_agent_new(&f->loop, f->st, NULL, &opts, &a), 0);
    assert_int_equal(wv_agent_start(a), 0);
    assert_string_equal(wv_agent_site_name(a), "unit");
    assert_string_equal(wv_agent_api_listen(a), "127.0.0.1:0");
    int calls = 0;
    wv_agent_stop(a, on_stopped, &calls);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(calls, 1);
    wv_agent_free(a);

    /* without the override, the stored address */
    assert_int_equal(wv_agent_new(&f->loop, f->st, NULL, NULL, &a), 0);
    assert_int_equal(wv_agent_start(a), 0);
    assert_string_equal(wv_agent_api_listen(a), "127.0.0.1:0");
    wv_agent_stop(a, on_stopped, &calls);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(calls, 2);
    wv_agent_free(a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(start_without_site_serves_api_and_stop_calls_back, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(runs_the_stored_site_and_stops_cleanly, setup, teardown),
};
WVU_MAIN(tests)
