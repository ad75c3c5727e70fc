#ifndef WV_CLI_H
#define WV_CLI_H
/* The command line: argument parsing (getopt_long) and the one-shot
 * commands (import, export, token create). `run` is assembled in main.c.
 *
 * Exit codes, one table for every command (WV_EXIT_*): 0 success, 1
 * validation or runtime error (one line on stderr naming the field and the
 * reason), 2 changes present (apply and plan only, like `terraform plan
 * -detailed-exitcode`), 64 usage error (message and usage on stderr;
 * EX_USAGE of sysexits.h). Secrets are never printed, except the new token
 * of `token create`, printed once on stdout. */
#include "wv/store.h"

#include <stdbool.h>

enum { WV_EXIT_OK = 0, WV_EXIT_FAIL = 1, WV_EXIT_CHANGED = 2, WV_EXIT_USAGE = 64 };

enum wv_cli_cmd {
    WV_CLI_DONE = 0, /* handled while parsing (--help, --version, usage error) */
    WV_CLI_RUN,
    WV_CLI_IMPORT,
    WV_CLI_EXPORT,
    WV_CLI_TOKEN_CREATE, /* token create --name NAME [--expires D] [--scope S] */
    WV_CLI_TOKEN_LIST,   /* token list [--json] */
    WV_CLI_TOKEN_REVOKE, /* token revoke NAME */
    WV_CLI_KEY_GENERATE, /* key generate: a strong random network key on stdout */
    WV_CLI_IDENTITY,     /* identity show|rotate [--api URL] [--token T] (name: show|rotate) */
    WV_CLI_STATUS, /* status [--api URL] [--token T] [--json] */
    WV_CLI_APPLY,  /* apply -f FILE [--dry-run] [--api URL] [--token T]; plan = apply --dry-run */
};

/* Parsed arguments; strings point into argv. */
struct wv_cli {
    enum wv_cli_cmd cmd;
    int exit_code;      /* for WV_CLI_DONE */
    const char *db;     /* --db, default "wovenet.db" */
    const char *config; /* run --config, or import's CONFIG argument */
    const char *api;    /* run --api ADDR:PORT, or NULL */
    const char *format; /* export --format: "json" (default) or "yaml" */
    const char *name;   /* token create --name, token revoke NAME */
    const char *expires; /* token create --expires DURATION ("30d", "12h", "never") */
    const char *scope;   /* token create --scope read|write|metrics (default write) */
    const char *origin;  /* import --origin config|api (default config) */
    const char *url;    /* status/apply --api URL (default $WOVENET_API, else
                           http://127.0.0.1:18080) */
    const char *token;  /* status/apply --token (default $WOVENET_TOKEN) */
    const char *file;   /* apply -f FILE */
    bool json;          /* status --json, token list --json */
    bool dry_run;       /* apply --dry-run */
};

/* Parses argv. Prints help and version on stdout, usage errors on stderr;
 * then cmd is WV_CLI_DONE and exit_code says how to exit. */
void wv_cli_parse(int argc, char **argv, struct wv_cli *out);

/* The one-shot commands; each returns the process exit code. */
int wv_cli_import(const struct wv_cli *cli);
int wv_cli_export(const struct wv_cli *cli);
int wv_cli_token_create(const struct wv_cli *cli);
int wv_cli_token_list(const struct wv_cli *cli);
int wv_cli_token_revoke(const struct wv_cli *cli);
/* Prints a random network key (33 random bytes, base64url: 44 characters)
 * that passes the network-key rule. 0 or 1 (no randomness). */
int wv_cli_key_generate(const struct wv_cli *cli);
/* `identity show` prints the running site's identity key and certificate
 * fingerprint (what peers pin); `identity rotate` asks it for a new key,
 * signed over by the old one, without a restart. 0, or 1 when the API
 * cannot be reached or refuses. */
int wv_cli_identity(const struct wv_cli *cli);

/* The API clients (cli_status.c, cli_apply.c), over HTTP with libcurl.
 * status: peers, channels and apps as a table (or the raw JSON with --json);
 * 0 on success, 1 when the API cannot be read.
 * apply: PUT /api/v1/config (?dryRun=true with --dry-run) with the file (JSON
 * as is; YAML converted with wv_config_from_yaml), prints the plan;
 * 0 nothing to change, 2 changes applied (or planned), 1 error. */
int wv_cli_status(const struct wv_cli *cli);
int wv_cli_apply(const struct wv_cli *cli);

/* Reads the config file at path and makes the store at db equal to it
 * (its config-managed objects; secrets absent from the file keep their
 * stored value). The file is checked as a whole before the DB is touched:
 * an invalid file never creates a DB, and a DB this call created is
 * removed again when the import fails. On failure prints
 * "config: <yaml path>: <reason>" (or a file error) on stderr and returns
 * WV_EXIT_FAIL. With summary, prints "imported <file>: revision N (C
 * created, U changed, D deleted)" on stdout. *plan (may be NULL) receives
 * the store's plan on success (caller decrefs). */
int wv_cli_import_file(const char *db, const char *path, bool summary, json_t **plan);
/* The same with api_managed: the whole store becomes the file and every
 * object is API-managed (wv_store_apply), for a one-time bootstrap. */
int wv_cli_import_file_as(const char *db, const char *path, bool summary, bool api_managed,
                          json_t **plan);

#endif
