/*
 * kobo_media.h - jobs of kind "media" (`agent kobo validation-csv ASSET
 * --upload`, store_jobs.h): replace the form's media file and redeploy
 * the form, exactly once per request (kobo_media.c).
 *
 * Job payload: {"filename": "ValidationDataFrom121.csv", "description":
 * "... <request key>"}; body: the file. Result: {"file_uid", "version_id"}.
 */
#ifndef KOBO_MEDIA_H
#define KOBO_MEDIA_H

#include <stddef.h>

struct sync_ctx;
struct plat_buf;

/* Run this source's open media jobs. ERR_RETRY: no answer (the job stays
 * and the next sync goes on from its last step); ERR_AUTH: token refused;
 * a 4xx refusal rejects the job and returns PLAT_OK. */
int kobo_push_media(struct sync_ctx *ctx);

/* The multipart/form-data body of kpi's POST /api/v2/assets/{uid}/files/:
 * the file part "content" (filename, text/csv), then the text fields
 * file_type=form_media, description, metadata={"filename": ...}.
 * `content_type` (96 bytes) receives the header value. Pure: unit-testable.
 * ERR_INVALID (a name with a quote, slash or line break), ERR_NOMEM. */
int kobo_media_multipart(struct plat_buf *out, char content_type[96],
                         const char *filename, const char *description,
                         const void *file, size_t len);

#endif
