#ifndef WV_METRICS_H
#define WV_METRICS_H
/* A writer of the Prometheus text exposition format. Modules add samples in
 * any order; each family's HELP/TYPE is written once and its samples are
 * kept together, as `promtool check metrics` requires.
 *
 *   wv_metrics *m = wv_metrics_new();
 *   wv_metrics_add(m, "wovenet_peers", WV_GAUGE, "Known peer sites.", NULL, 3);
 *   wv_metrics_add(m, "wovenet_channel_bytes_sent_total", WV_COUNTER, "...",
 *                  "site=\"b\",channel=\"1\"", 1234);
 *   char *text = wv_metrics_render(m); ... free(text); wv_metrics_free(m);
 *
 * Counter names must end in _total. Label values are escaped by
 * wv_metrics_label() when built from outside input. */
#include <stddef.h>

typedef struct wv_metrics wv_metrics;
enum wv_metric_type { WV_COUNTER, WV_GAUGE };

wv_metrics *wv_metrics_new(void);
void wv_metrics_free(wv_metrics *m);
/* labels: NULL or the inside of the braces, e.g. `code="200"`. The first
 * call for a name fixes its type and help. */
void wv_metrics_add(wv_metrics *m, const char *name, enum wv_metric_type type, const char *help,
                    const char *labels, double value);
/* Appends `key="escaped value"` (with a leading comma when buf is not
 * empty) to buf of size n. */
void wv_metrics_label(char *buf, size_t n, const char *key, const char *value);
/* The whole exposition text; caller frees. */
char *wv_metrics_render(const wv_metrics *m);

#endif
