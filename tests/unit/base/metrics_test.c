#include "wvunit.h"

#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

static void families_grouped_and_labels_escaped(void **state) {
    wv_metrics *m = wv_metrics_new();
    char l1[128] = "", l2[128] = "";
    wv_metrics_label(l1, sizeof(l1), "site", "a\"b\\c");
    wv_metrics_label(l1, sizeof(l1), "channel", "1");
    wv_metrics_label(l2, sizeof(l2), "site", "x");
    wv_metrics_add(m, "wv_bytes_total", WV_COUNTER, "Bytes.", l1, 10);
    wv_metrics_add(m, "wv_peers", WV_GAUGE, "Peers.", NULL, 2);
    wv_metrics_add(m, "wv_bytes_total", WV_COUNTER, "ignored", l2, 5);
    char *t = wv_metrics_render(m);
    const char *want = "# HELP wv_bytes_total Bytes.\n# TYPE wv_bytes_total counter\n"
                       "wv_bytes_total{site=\"a\\\"b\\\\c\",channel=\"1\"} 10\n"
                       "wv_bytes_total{site=\"x\"} 5\n"
                       "# HELP wv_peers Peers.\n# TYPE wv_peers gauge\nwv_peers 2\n";
    assert_string_equal(t, want);
    free(t);
    wv_metrics_free(m);
}

static void label_buffer_bounded(void **state) {
    char b[16] = "";
    wv_metrics_label(b, sizeof(b), "k", "a very long value that does not fit");
    assert_true(strlen(b) < sizeof(b));
}

/* Counters as integers, fractions without float noise, exact 64-bit counts. */
static void values_as_people_read_them(void **state) {
    wv_metrics *m = wv_metrics_new();
    wv_metrics_add(m, "a_total", WV_COUNTER, "A.", NULL, 123456789012.0);
    wv_metrics_add(m, "b", WV_GAUGE, "B.", NULL, 0.001234);
    wv_metrics_add_u64(m, "c_total", WV_COUNTER, "C.", NULL, 18446744073709551615ull);
    wv_metrics_process(m);
    char *t = wv_metrics_render(m);
    wvu_has(t, "\na_total 123456789012\n", "\nb 0.001234\n", "\nc_total 18446744073709551615\n",
            "\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
            "# TYPE process_cpu_seconds_total counter\n");
    free(t);
    wv_metrics_free(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(families_grouped_and_labels_escaped),
    cmocka_unit_test(label_buffer_bounded),
    cmocka_unit_test(values_as_people_read_them),
};
WVU_MAIN(tests)
