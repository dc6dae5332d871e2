/*
 * cmd_kobo_jobs.h - the queued half of `agent kobo program ASSET --create`
 * and `agent kobo validation-csv ASSET --upload` (cmd_kobo_jobs.c), and
 * how jobs are shown by `agent kobo status`, `agent status` and `agent
 * outbox`. The jobs themselves run in the next sync (121: push kind
 * "program"; kobo: push kind "media"; store_jobs.h).
 */
#ifndef CMD_KOBO_JOBS_H
#define CMD_KOBO_JOBS_H

#include <stddef.h>
#include <stdio.h>

struct agent_ctx;
struct store;
struct cJSON;

/* Queue the creation of the program built from stored form `asset_json`
 * (uid `asset`) and print what was queued. A form 121 would refuse is
 * refused here (ERR_INVALID, one line). A request of the same form that
 * is open, or done, is refused unless `again`. Needs the store open for
 * writing. */
int agent_kobo_program_create(struct agent_ctx *ctx, const char *asset,
                              const struct cJSON *asset_json, int again);

/* Queue the upload of `csv` (len bytes) as form `asset`'s
 * ValidationDataFrom121.csv and its redeploy (an older open upload of the
 * form is superseded), then, unless `no_sync`, run `agent sync --now
 * --source kobo`; offline the job stays queued for the next one. */
int agent_kobo_media_upload(struct agent_ctx *ctx, const char *asset,
                            const char *csv, size_t len, int no_sync);

/* Every job (all states, oldest first) as an array of {id, kind, target,
 * asset, state, step, result, message, attempts, created_at, updated_at}
 * in *out (new). */
int agent_kobo_jobs_json(struct store *s, struct cJSON **out);

/* One line per job of `jobs` (agent_kobo_jobs_json) on `f`, with the
 * new program id and how to point the form at it. */
void agent_kobo_jobs_print(const struct cJSON *jobs, FILE *f);

/* One line per open job on `f` ("" when none): for `agent outbox` and
 * `agent kobo status`. */
int agent_kobo_jobs_print_open(struct store *s, FILE *f);

#endif
