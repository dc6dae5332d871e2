/*
 * daemon_notify.c - sd_notify-compatible datagrams (see daemon_notify.h).
 */
#include "daemon_notify.h"

#include "plat_log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void agent_notify_open(struct agent_notify *n)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *usec = getenv("WATCHDOG_USEC");
    const char *wpid = getenv("WATCHDOG_PID");
    struct sockaddr_un sa;
    size_t len;

    memset(n, 0, sizeof(*n));
    n->fd = -1;
    if (usec && *usec && (!wpid || !*wpid || atol(wpid) == (long)getpid())) {
        long long us = atoll(usec);

        /* Half the watchdog period, as sd_watchdog_enabled(3) advises. */
        if (us > 0)
            n->watchdog_ms = us / 2000 > 0 ? us / 2000 : 1;
    }
    if (!path || !*path)
        return;
    len = strlen(path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path) ||
        sizeof(sa) > sizeof(n->addr)) {
        log_warn("NOTIFY_SOCKET is not a socket path or @name: systemd "
                 "notifications are off");
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        log_warn("cannot create the systemd notification socket: %s",
                 strerror(errno));
        return;
    }
    memcpy(n->addr, &sa, sizeof(sa));
    n->addr_len = (unsigned)(offsetof(struct sockaddr_un, sun_path) + len);
}

void agent_notify_close(struct agent_notify *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}

void agent_notify_send(struct agent_notify *n, const char *msg)
{
    ssize_t sent;

    if (n->fd < 0)
        return;
    do {
        sent = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
                      (const struct sockaddr *)n->addr,
                      (socklen_t)n->addr_len);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        log_debug("systemd notification not sent: %s", strerror(errno));
}
