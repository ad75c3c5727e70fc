#ifndef WV_CLI_H
#define WV_CLI_H
/* The command line: argument parsing (getopt_long) and the one-shot
 * commands (import, export, token create). `run` is assembled in main.c.
 *
 * Exit codes: 0 success, 1 validation or runtime error (one line on stderr
 * naming the field and the reason), 2 usage error (message and usage on
 * stderr). Secrets are never printed, except the new token of
 * `token create`, printed once on stdout. */
#include "store.h"

#include <stdbool.h>

enum { WV_EXIT_OK = 0, WV_EXIT_FAIL = 1, WV_EXIT_USAGE = 2 };

enum wv_cli_cmd {
    WV_CLI_DONE = 0, /* handled while parsing (--help, --version, usage error) */
    WV_CLI_RUN,
    WV_CLI_IMPORT,
    WV_CLI_EXPORT,
    WV_CLI_TOKEN_CREATE,
};

/* Parsed arguments; strings point into argv. */
struct wv_cli {
    enum wv_cli_cmd cmd;
    int exit_code;      /* for WV_CLI_DONE */
    const char *db;     /* --db, default "wovenet.db" */
    const char *config; /* run --config, or import's CONFIG argument */
    const char *api;    /* run --api ADDR:PORT, or NULL */
    const char *format; /* export --format: "json" (default) or "yaml" */
    const char *name;   /* token create --name */
};

/* Parses argv. Prints help and version on stdout, usage errors on stderr;
 * then cmd is WV_CLI_DONE and exit_code says how to exit. */
void wv_cli_parse(int argc, char **argv, struct wv_cli *out);

/* The one-shot commands; each returns the process exit code. */
int wv_cli_import(const struct wv_cli *cli);
int wv_cli_export(const struct wv_cli *cli);
int wv_cli_token_create(const struct wv_cli *cli);

/* Reads the YAML file at path and applies it to the store declaratively
 * (the store then equals the file; secrets absent from the file keep their
 * stored value). On failure prints "config: <yaml path>: <reason>" (or a
 * file error) on stderr and returns WV_EXIT_FAIL. With summary, prints
 * "imported <file>: revision N (C created, U changed, D deleted)" on stdout. */
int wv_cli_apply_file(wv_store *st, const char *path, bool summary);

#endif
