/*
 * kobo_attach.h - attachments of Kobo submissions (photos, documents,
 * audio answering the form's media questions): noted in the store when a
 * submission is imported, downloaded with the token by the stream
 * "attachments", size-capped, kept as blobs in the store
 * (store_attachments.h through sync_ctx.h). Late attachments (a media
 * answer whose file the submission does not list yet) are noted
 * "missing" and looked for again on later syncs.
 *
 * Where a file is fetched from:
 *   - its download_url when that is on the kpi host ([kobo] url): the new
 *     /api/v2/assets/{uid}/data/{_id}/attachments/{att_uid}/ and the old
 *     kc /media/original?media_file=... served by the kpi host;
 *   - else, when the attachment has a uid (or the old numeric id), the
 *     /api/v2/.../attachments/{uid}/ path on the kpi host;
 *   - else its download_url on a host of [kobo] attachment_hosts.
 * Redirects (object storage) are followed by hand: to the kpi host with
 * the token; to a host of attachment_hosts WITHOUT the token (a client of
 * its own with no auth hook); anywhere else not at all (the row fails with
 * the host named). The token never leaves the kpi host.
 *
 * Errors: plat_err.h. Messages name the submission and the question,
 * never a file name or an answer.
 */
#ifndef KOBO_ATTACH_H
#define KOBO_ATTACH_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct sync_ctx;
struct kobo_mapping;

#define KOBO_ATT_MAX_DEFAULT ((size_t)10 << 20)  /* 10 MiB per file */
#define KOBO_ATT_MAX_ATTEMPTS 5                  /* failed tries per file */

/* [kobo] attachment settings. */
struct kobo_att_conf {
    int on;                  /* attachments = true (default)            */
    size_t max_bytes;        /* attachment_max_bytes                    */
    char *hosts;             /* attachment_hosts: "host[:port],..." or NULL */
    char *base_url;          /* [kobo] url                              */
};

/* The cleaned names (kobo_clean_key) of the form's media questions
 * (image, audio, video, file, background-audio, background-video). */
struct kobo_media {
    char **keys;
    size_t n;
};

/* Read [kobo] attachments, attachment_max_bytes, attachment_hosts, url.
 * ERR_CONFIG for a bad value. */
int kobo_att_conf_load(struct sync_ctx *ctx, struct kobo_att_conf *c);
void kobo_att_conf_free(struct kobo_att_conf *c);

/* The media questions of the stored form `asset` (state form.<asset>);
 * none when the form is not stored. */
int kobo_media_load(struct sync_ctx *ctx, const char *asset,
                    struct kobo_media *out);
void kobo_media_free(struct kobo_media *m);

/* kobo_prune that also keeps the answers of media questions. */
void kobo_att_prune(const struct kobo_mapping *map,
                    const struct kobo_media *media, struct cJSON *sub);

/* Inside the open batch: note every answered media question of `sub`
 * (record `key` "<asset>:<_id>", registration `ref`): "pending" with the
 * listed attachment, or "missing" when the submission does not list it
 * yet. *missing_out (may be NULL): how many are missing. */
int kobo_att_record(struct sync_ctx *ctx, const struct kobo_media *media,
                    const char *key, const char *ref, const struct cJSON *sub,
                    int *missing_out);

/* _ids of form `asset` with missing attachments (at most `max`); *n_out
 * how many. */
int kobo_att_missing_ids(struct sync_ctx *ctx, const char *asset,
                         int64_t *ids, size_t max, size_t *n_out);

/* Download the pending (and failed, under KOBO_ATT_MAX_ATTEMPTS) files of
 * form `asset`, one batch each. ERR_RETRY / ERR_AUTH stop the walk (the
 * row stays to be tried again); a refused or oversized file is marked and
 * the walk goes on. *stored_out (may be NULL): files stored. */
int kobo_att_download(struct sync_ctx *ctx, const struct kobo_att_conf *c,
                      const char *asset, int64_t *stored_out);

#endif
