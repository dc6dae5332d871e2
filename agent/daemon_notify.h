/*
 * daemon_notify.h - the systemd notification protocol without libsystemd:
 * one datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or an abstract name written with a leading '@').
 *
 * Without $NOTIFY_SOCKET every call does nothing, so the daemon runs the
 * same under systemd, another supervisor or a terminal. Sending is best
 * effort: a lost notification is not an error of the daemon (systemd then
 * times out or restarts it, which is the right outcome).
 */
#ifndef AGENT_DAEMON_NOTIFY_H
#define AGENT_DAEMON_NOTIFY_H

#include <stdint.h>

struct agent_notify {
    int fd;                 /* datagram socket; -1 when not under systemd */
    char addr[128];         /* sockaddr_un bytes                          */
    unsigned addr_len;
    int64_t watchdog_ms;    /* ping every this often; 0: no watchdog      */
};

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC (honoured only when
 * $WATCHDOG_PID is unset or is this process). Never fails: a bad value
 * just turns notifications off (with a warning in the log). */
void agent_notify_open(struct agent_notify *n);
void agent_notify_close(struct agent_notify *n);

/* Send `msg`, e.g. "READY=1\nSTATUS=idle" (no personal data). */
void agent_notify_send(struct agent_notify *n, const char *msg);

#endif
