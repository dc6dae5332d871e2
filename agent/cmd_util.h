/*
 * cmd_util.h - small helpers shared by the cmd_*.c files: argument arrays,
 * JSON input files, referenceId checks and error prefixes.
 */
#ifndef AGENT_CMD_UTIL_H
#define AGENT_CMD_UTIL_H

struct agent_ctx;
struct agent_opt;
struct cJSON;
struct store;

/* Parse the command's options; *pos_out (plat_free it) gets the
 * positional arguments, *npos their number. `min`/`max` bound npos
 * (max < 0: no bound); `what` describes them for the message, e.g.
 * "REF NEWSTATUS". */
int agent_cmd_args(struct agent_ctx *ctx, int argc, char **argv,
                   const struct agent_opt *opts, int min, int max,
                   const char *what, char ***pos_out, int *npos);

/* Read a JSON file (any JSON value) into a new tree. ERR_INVALID names
 * the file and the byte of a NUL, bad UTF-8 or malformed JSON. */
int agent_read_json_file(const char *path, struct cJSON **out);

/* The longest --reason: 121 keeps it on an event. */
#define AGENT_REASON_MAX 500

/* A --reason: at most AGENT_REASON_MAX bytes of valid UTF-8 without
 * control characters (one line). ERR_INVALID naming --reason. */
int agent_check_reason(const char *reason);

/* ERR_INVALID unless `ref` is 1..200 bytes of UTF-8 without control
 * characters (so it can appear in a one-line message). */
int agent_check_ref(const char *ref);

/* ERR_INVALID unless `s` is valid UTF-8; `what` names it in the message. */
int agent_check_utf8(const char *what, const char *s);

/* Replace the current error message with "<prefix>: <message>", keeping
 * the code; returns `rc`. */
int agent_err_prefix(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The local view of registration `ref`; ERR_NOTFOUND says so by name. */
int agent_get_registration(struct store *s, const char *ref,
                           struct cJSON **out);

/* 1 if `s` is printable ASCII only (safe to quote in a message). */
int agent_printable(const char *s);

/* `path` made absolute against the current directory (a key file or a
 * store named in the config must not depend on where a command ran);
 * *out is allocated. ERR_IO when the current directory is unknown. */
int agent_absolute_path(const char *path, char **out);

/* A string member of `obj`, or NULL. */
const char *agent_json_str(const struct cJSON *obj, const char *key);

#endif
