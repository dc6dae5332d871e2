/*
 * sync_report.h - the result of one sync as scripts and people see it, the
 * same whether the CLI ran the sync itself or a daemon ran it: exit code,
 * summary object (the `agent sync --json` output, also sent over the
 * daemon's control socket) and the text lines.
 *
 * Exit codes: 0 ok, 3 server unreachable (ERR_RETRY), 4 done but open
 * conflicts, rejected outbox entries or rejected kobo submissions, 5
 * authentication (ERR_AUTH), 1 other.
 */
#ifndef AGENT_SYNC_REPORT_H
#define AGENT_SYNC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "sync_engine.h"

struct cJSON;

/* store_counts plus `held`: the kobo submissions on the rejected list
 * (connector state kobo.rejected). PLAT_OK or the store's error. */
int agent_sync_counts(struct store *s, struct store_counts *out);

/* The exit code of a sync that returned `rc` and left `after` behind. */
int agent_sync_exit_code(int rc, const struct store_counts *after);

/* "ok", "offline", "attention", "auth" or "error" (static). */
const char *agent_sync_result_name(int code);

/* The error code standing for an exit code (ERR_RETRY for 3, ERR_AUTH for
 * 5, ERR_GENERIC for 1 and 2, PLAT_OK otherwise), for a result that came
 * over the control socket. */
int agent_sync_code_err(int code);

/* The summary object: result, exit_code, the total counts, bytes,
 * seconds, error, daemon_pid (`daemon_pid` 0 gives null: the CLI ran the
 * sync), and "sources": one object per source that ran (source, result,
 * pulled, events, pushed, sent, conflicts, rejected, gone, requests,
 * bytes_wire, bytes_body, seconds, error). NULL when out of memory. The
 * caller owns it (cJSON_Delete). */
struct cJSON *agent_sync_summary_json(const struct sync_report *rep,
                                      const struct store_counts *after,
                                      int code, long daemon_pid);

/* Read back what agent_sync_summary_json wrote; missing numbers are 0.
 * ERR_INVALID when `o` has no exit_code. */
int agent_sync_summary_parse(const struct cJSON *o, struct sync_report *rep,
                             struct store_counts *after, int *code);

/* "12.3 MB", "4.5 kB", "17 B" into `out`. */
void agent_human_bytes(int64_t n, char *out, size_t size);

/* The summary lines on stdout, as `agent sync` prints them: the total,
 * then one line per source ("  121: ..."); nothing for a failure other
 * than ERR_RETRY (`rc` as for agent_sync_exit_code). */
void agent_sync_print_text(int rc, const struct sync_report *rep,
                           const struct store_counts *after);

/* The same in one line (`agent -q sync`): "sync ok: pulled ..., pending
 * N; 1.2 MB, 3.4 s"; nothing for a failure other than ERR_RETRY. */
void agent_sync_print_oneline(int rc, const struct sync_report *rep,
                              const struct store_counts *after);

/* For a failed sync, its one-line reason on stderr ("agent: ..."). */
void agent_sync_print_reason(int rc, const struct sync_report *rep,
                             const struct store_counts *after);

#endif
