/*
 * store_bundle.h - bundles for sites that never get a link: the outbox
 * entries a device has not sent (and, from an office agent that syncs,
 * the server copies it pulled) in one compressed, encrypted, signed file
 * that a USB stick carries to another agent, which applies it.
 *
 * File: a sealed stream (store_seal.h, magic "AGENTBN1", key kind 2: a
 * recipient key file shared by the office and the site) followed by an
 * ECDSA P-256 signature (store_sign.h). Inside, JSON:
 *   {"format": "agent-bundle/1", "exporter": DEVICE-ID, "seq": N,
 *    "since": LAST, "bundle_id": UUID, "created_at": ISO,
 *    "entries": [{"op_id", "reference_id", "program_id", "kind",
 *                 "payload", "base", "created_at", "origin", "target"}],
 *    "programs": [GET /api/programs/{id} bodies],
 *    "registrations": [server copies], "done": [op_ids],
 *    "payments": [{"program_id", "payment", "transactions": [...]}]}
 *
 * Numbering. A store's device id is a random UUID made at its first export
 * (agent state "bundle.device_id"). Its bundles are numbered 1, 2, ... in
 * the order it writes them (table bundle_exports). Bundle N "since LAST"
 * carries the outbox entries (pending or in flight) appended after bundle
 * LAST was written, and with_server the server copies pulled after it;
 * With with_server it also lists the op_ids of the entries done (taken by
 * the server) after bundle LAST, so that the site, where they were made,
 * marks them done too (it never syncs: nothing else would).
 * LAST is by default the previous bundle (N - 1), and 0 means from the
 * start. So `--since` is a bundle number of the exporter: when a stick is
 * lost, the site exports again since the last bundle the office got.
 *
 * Import, per exporter (table bundle_imports: the last bundle number and
 * its id): bundle N since LAST is applied when LAST <= last imported < N;
 * N equal to the last one (same bundle id) is a no-op (*repeat = 1);
 * anything else is refused (ERR_CONFLICT, one line naming both numbers)
 * before anything is written. Applying is ONE transaction: programs,
 * server copies (one older than the stored copy by its "updated" time is
 * skipped), then each entry whose op_id the store does not have yet: its
 * change is made to the local view the way the device made it (create,
 * edit, status; other kinds, and a change the view cannot take, are only
 * queued) and it is queued for its target with its original op_id,
 * payload, base and time, so the server sees it once, whoever sends it;
 * then payments and their transactions, and the done op_ids (entries
 * still pending or in flight here with those op_ids become done).
 * Entries already here (same op_id) are skipped: importing twice changes
 * nothing.
 *
 * Errors: those of store_seal.h / store_sign.h (ERR_AUTH: wrong key file
 * or a signer not pinned; ERR_CORRUPT: changed, cut short, not a bundle),
 * ERR_CONFLICT (out of order), ERR_INVALID (a bundle from this store
 * itself; --since a bundle never made; malformed content), ERR_VERSION, and
 * the store's.
 */
#ifndef STORE_BUNDLE_H
#define STORE_BUNDLE_H

#include "store_crypt.h"
#include "store_sign.h"

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_bundle_info {
    char exporter[64];       /* the exporting store's device id          */
    int64_t seq, since;      /* the bundle's number and the one it follows */
    int64_t entries;         /* outbox entries in the bundle              */
    int64_t registrations;   /* server copies in it                       */
    int64_t programs;        /* program definitions in it                 */
    int64_t done;            /* op_ids of entries the server took         */
    int64_t payments;        /* payments (with their transactions) in it  */
    int64_t applied;         /* import: entries queued here               */
    int64_t skipped;         /* import: entries that were here already    */
    int64_t queued_only;     /* import: queued without a local view change */
    int64_t regs_applied;    /* import: server copies stored              */
    int64_t marked_done;     /* import: entries waiting here, now done    */
    int64_t payments_stored; /* import: payments stored                   */
    int repeat;              /* import: the same bundle again: nothing done */
    size_t bytes;            /* size of the file                          */
    char signer[STORE_SIGN_FP_HEX]; /* fingerprint of the signing key     */
};

/* Write the bundle of `s` since bundle `since` (-1: the last one this
 * store wrote; 0: from the start) to `out_path` (mode 0600, atomically),
 * encrypted with `key` and signed with the private key file
 * `signing_key`; with_server adds programs, server copies, done op_ids
 * and payments with their transactions (not voucher images). The export
 * is recorded in the same transaction (no record: no file). */
int store_bundle_export(struct store *s, int64_t since, int with_server,
                        const uint8_t key[STORE_KEY_LEN],
                        const char *signing_key, const char *out_path,
                        struct store_bundle_info *info);

/* Check the bundle at `in_path` (signature against the public key files
 * in `trusted_keys`, ';'-separated; then decrypt with `key`) and apply
 * it in one transaction. */
int store_bundle_import(struct store *s, const char *in_path,
                        const uint8_t key[STORE_KEY_LEN],
                        const char *trusted_keys,
                        struct store_bundle_info *info);

/* This store's device id (made and stored when missing) into `out`. */
int store_bundle_device_id(struct store *s, char out[64]);

#endif
