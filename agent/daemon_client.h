/*
 * daemon_client.h - the CLI side of the daemon's control socket (protocol
 * in daemon.h): `agent sync --now` hands its sync to a running daemon,
 * `agent status` asks for its live state, write commands ask whether one
 * runs.
 *
 * "No daemon" is not an error of the caller: ERR_NOTFOUND (no socket, or a
 * stale socket file nobody listens on), and the caller works standalone.
 */
#ifndef AGENT_DAEMON_CLIENT_H
#define AGENT_DAEMON_CLIENT_H

struct agent_config;
struct cJSON;

/* Called with each answer object; return 0 to read on, non-zero to stop
 * (agent_daemon_call then returns that value). The object is borrowed. */
typedef int (*agent_daemon_event_cb)(const struct cJSON *ev, void *payload);

/* Connect to the daemon of `cfg`, send `request` as one line and hand
 * every answer line to `cb` until the daemon closes the connection.
 * `timeout_ms` bounds each wait for data (<= 0: no bound; a sync sends
 * progress as it goes). A shutdown signal (plat_signal_shutdown_flag)
 * stops the wait. A daemon with all its client slots taken ("busy", or
 * closing before any answer) is asked again for up to 30 s (at most
 * `timeout_ms` when > 0); then ERR_LOCKED (busy, try again).
 * Errors: ERR_NOTFOUND (no daemon), ERR_RETRY (timed out
 * or the daemon went away mid-answer), ERR_INVALID (not JSON lines),
 * ERR_GENERIC (interrupted), ERR_IO, ERR_NOMEM. */
int agent_daemon_call(const struct agent_config *cfg,
                      const struct cJSON *request, int timeout_ms,
                      agent_daemon_event_cb cb, void *payload);

/* Ask the daemon of `cfg` for its status: *out is the status object
 * (caller deletes). ERR_NOTFOUND when no daemon answers. */
int agent_daemon_status(const struct agent_config *cfg, struct cJSON **out);

/* PLAT_OK (and its pid in *pid, which may be NULL) when a daemon answers
 * a ping within a second, ERR_NOTFOUND otherwise. */
int agent_daemon_ping(const struct agent_config *cfg, long *pid);

#endif
