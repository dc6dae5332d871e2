/*
 * store_status.h - the 121 registration status model (contract 3.9).
 *
 *   new       -> included, validated, declined, deleted, paused
 *   validated -> included, declined, deleted
 *   included  -> completed, paused, declined, deleted
 *   completed -> included, declined, deleted
 *   paused    -> validated, included, declined, deleted
 *   declined  -> included, deleted
 *   deleted   -> (terminal)
 *
 * `completed` is set only by the 121 system, so the device never requests
 * it. A reason is required for declined, paused and deleted.
 */
#ifndef STORE_STATUS_H
#define STORE_STATUS_H

/* 1 if `s` is one of the seven statuses. */
int store_status_known(const char *s);

/* 1 if the transition is in the table above. */
int store_status_transition_allowed(const char *from, const char *to);

/* 1 if a person on the device may request `to` (not `completed`, not new). */
int store_status_settable(const char *to);

/* 1 if 121 requires a reason for `to`. */
int store_status_reason_required(const char *to);

/* Comma-separated allowed targets of `from` ("" for deleted), static. */
const char *store_status_targets(const char *from);

#endif
