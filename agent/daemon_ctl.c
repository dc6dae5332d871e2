/*
 * daemon_ctl.c - the daemon's control socket: a Unix stream socket next to
 * the store, mode 0600, for `agent sync --now` and `agent status` (the
 * protocol is in daemon.h).
 *
 * Everything here runs on the main thread and never blocks: the sockets
 * are non-blocking, answers wait in a per-client buffer until ppoll says
 * the client can take them, and a client that does not send its request
 * within CLIENT_READ_MS, or stops reading a stream of answers, is dropped.
 */
#define _GNU_SOURCE /* struct ucred (SO_PEERCRED) */

#include "daemon.h"
#include "cli.h"
#include "sync_report.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_connector.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_READ_MS 10000
#define CLIENT_OUT_CAP (1024 * 1024)
#define LISTEN_BACKLOG 128 /* the kernel caps it at somaxconn */

/* ---- the listening socket --------------------------------------------- */

int agent_ctl_open(struct agent_daemon *d)
{
    struct sockaddr_un sa;
    struct stat st;
    size_t len = strlen(d->socket_path);
    int fd = -1, rc = PLAT_OK;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (len == 0 || len >= sizeof(sa.sun_path))
        return plat_err_set(ERR_CONFIG, "control socket path %s is too long "
                            "(at most %zu bytes): set daemon.socket",
                            d->socket_path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, d->socket_path, len);
    /* We hold the store lock, so a socket file here belongs to a daemon
     * that died without cleaning up: replace it. Anything else is not
     * ours to delete. */
    if (lstat(d->socket_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return plat_err_set(ERR_EXISTS, "%s exists and is not a socket: "
                                "remove it or set daemon.socket",
                                d->socket_path);
        if (unlink(d->socket_path) != 0)
            return plat_err_set(ERR_IO, "cannot remove the stale socket %s: "
                                "%s", d->socket_path, strerror(errno));
        log_info("replaced the stale control socket %s", d->socket_path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return plat_err_set(ERR_IO, "cannot create the control socket: %s",
                            strerror(errno));
    /* The umask (077, set by the CLI) already keeps others out between
     * bind and chmod. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rc = plat_err_set(ERR_IO, "cannot create the control socket %s: %s",
                          d->socket_path, strerror(errno));
        goto done;
    }
    if (chmod(d->socket_path, 0600) != 0 || stat(d->socket_path, &st) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        rc = plat_err_set(ERR_IO, "cannot set up the control socket %s: %s",
                          d->socket_path, strerror(errno));
        unlink(d->socket_path);
        goto done;
    }
    d->sock_dev = st.st_dev;
    d->sock_ino = st.st_ino;
    d->listen_fd = fd;
    fd = -1;
done:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void client_close(struct agent_ctl_client *c)
{
    char drain[512];
    int rounds = 0;

    if (c->state == AGENT_CTL_FREE)
        return;
    /* Closing with unread input makes the kernel reset the connection,
     * which can destroy our last answer before the client reads it: read
     * away what it sent (bounded; the socket is non-blocking). */
    while (rounds++ < 64 && recv(c->fd, drain, sizeof(drain), 0) > 0)
        ;
    close(c->fd);
    plat_buf_dispose(&c->out);
    plat_free(c->in);
    c->in = NULL;
    c->fd = -1;
    c->state = AGENT_CTL_FREE;
    c->in_len = 0;
}

void agent_ctl_close(struct agent_daemon *d)
{
    struct stat st;

    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++)
        client_close(&d->clients[i]);
    if (d->listen_fd < 0)
        return;
    close(d->listen_fd);
    d->listen_fd = -1;
    /* Only our own file: after a replacement by someone else, theirs. */
    if (lstat(d->socket_path, &st) == 0 && st.st_dev == d->sock_dev &&
        st.st_ino == d->sock_ino)
        unlink(d->socket_path);
}

/* ---- answers ---------------------------------------------------------- */

/* Write what the client can take now; 0, or -1 when it is gone. */
static int client_flush(struct agent_ctl_client *c)
{
    while (c->out.len > 0) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
        c->out.len -= (size_t)n;
        c->out.data[c->out.len] = '\0';
    }
    return 0;
}

/* Queue `ev` as one line and write what can be written. A client that
 * lets CLIENT_OUT_CAP pile up (it stopped reading) is dropped. */
static void client_send(struct agent_ctl_client *c, const cJSON *ev)
{
    char *line = cJSON_PrintUnformatted(ev);
    int rc;

    if (!line) {
        log_warn("control socket: out of memory for an answer");
        client_close(c);
        return;
    }
    rc = plat_buf_puts(&c->out, line);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&c->out, "\n");
    plat_free(line);
    if (rc < 0 || client_flush(c) < 0) {
        log_debug("control socket: dropped a client (%s)",
                  rc < 0 ? "not reading" : "gone");
        client_close(c);
    }
}

/* The last answer is queued: close once it is written (or the client
 * has had CLIENT_READ_MS to take it). */
static void client_closing(struct agent_ctl_client *c)
{
    if (c->state == AGENT_CTL_FREE)
        return;
    c->state = AGENT_CTL_CLOSING;
    c->deadline_ms = plat_time_mono_ms() + CLIENT_READ_MS;
    if (c->out.len == 0)
        client_close(c);
}

static void client_send_close(struct agent_ctl_client *c, cJSON *ev)
{
    if (!ev) {
        client_close(c);
        return;
    }
    client_send(c, ev);
    cJSON_Delete(ev);
    client_closing(c);
}

static void client_error(struct agent_ctl_client *c, const char *msg)
{
    cJSON *ev = cJSON_CreateObject();

    if (ev && (!cJSON_AddStringToObject(ev, "event", "error") ||
               !cJSON_AddStringToObject(ev, "message", msg))) {
        cJSON_Delete(ev);
        ev = NULL;
    }
    client_send_close(c, ev);
}

void agent_ctl_broadcast(struct agent_daemon *d, uint64_t gen,
                         const cJSON *ev, int last)
{
    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        struct agent_ctl_client *c = &d->clients[i];

        if (c->state != AGENT_CTL_WAITING || c->wait_gen != gen)
            continue;
        client_send(c, ev);
        if (last)
            client_closing(c);
    }
}

/* ---- requests --------------------------------------------------------- */

/* The "sources" of a sync request: names of compiled-in connectors. */
static int parse_sources(const cJSON *req, struct agent_job_opts *o)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, "sources");
    const cJSON *n;

    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    cJSON_ArrayForEach(n, arr) {
        if (!cJSON_IsString(n) || !sync_connector_find(n->valuestring) ||
            o->n_only >= SYNC_MAX_SOURCES ||
            strlen(n->valuestring) >= AGENT_SOURCE_NAME_MAX)
            return -1;
        snprintf(o->only[o->n_only++], AGENT_SOURCE_NAME_MAX, "%s",
                 n->valuestring);
    }
    return 0;
}

static int parse_sync_opts(const cJSON *req, struct agent_job_opts *o)
{
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(req, "direction");

    memset(o, 0, sizeof(*o));
    if (parse_sources(req, o) < 0)
        return -1;
    o->full = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "full"));
    o->vouchers = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req,
                                                                "vouchers"));
    o->watch = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "watch"));
    if (!dir || (cJSON_IsString(dir) && strcmp(dir->valuestring, "both") == 0))
        o->direction = SYNC_BOTH;
    else if (cJSON_IsString(dir) && strcmp(dir->valuestring, "pull") == 0)
        o->direction = SYNC_PULL_ONLY;
    else if (cJSON_IsString(dir) && strcmp(dir->valuestring, "push") == 0)
        o->direction = SYNC_PUSH_ONLY;
    else
        return -1;
    return 0;
}

/* The answer to a sync request that cannot be run: exit code 3 (nothing
 * lost, try later), as `agent sync` reports an unreachable server. */
cJSON *agent_ctl_refused_result(const char *why)
{
    struct sync_report sum;
    struct store_counts after;
    cJSON *ev;

    memset(&sum, 0, sizeof(sum));
    memset(&after, 0, sizeof(after));
    snprintf(sum.total.error, sizeof(sum.total.error), "%s", why);
    ev = agent_sync_summary_json(&sum, &after, AGENT_EXIT_OFFLINE,
                                 (long)getpid());
    if (ev && !cJSON_AddStringToObject(ev, "event", "result")) {
        cJSON_Delete(ev);
        ev = NULL;
    }
    return ev;
}

static void request_sync(struct agent_daemon *d, struct agent_ctl_client *c,
                         const cJSON *req)
{
    struct agent_job_opts opts;
    uint64_t gen = 0;
    int attached = 0;
    cJSON *ev;

    if (parse_sync_opts(req, &opts) < 0) {
        client_error(c, "sync: direction must be both, pull or push, and "
                     "sources compiled-in source names");
        return;
    }
    if (d->stopping) {
        client_send_close(c, agent_ctl_refused_result(
            "the daemon is shutting down"));
        return;
    }
    agent_daemon_want_sync(d, &opts, &gen, &attached);
    c->state = AGENT_CTL_WAITING;
    c->wait_gen = gen;
    c->deadline_ms = AGENT_SCHED_NEVER;
    ev = cJSON_CreateObject();
    if (!ev || !cJSON_AddStringToObject(ev, "event", "accepted") ||
        !cJSON_AddBoolToObject(ev, "attached", attached) ||
        !cJSON_AddNumberToObject(ev, "pid", (double)getpid())) {
        cJSON_Delete(ev);
        client_close(c);
        return;
    }
    client_send(c, ev);
    cJSON_Delete(ev);
    log_info("control socket: sync requested (%s)",
             attached ? "attached to the running sync" : "queued");
}

static void handle_request(struct agent_daemon *d, struct agent_ctl_client *c,
                           const char *line)
{
    cJSON *req = cJSON_Parse(line);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
    cJSON *ev = NULL;

    if (!cJSON_IsObject(req) || !cJSON_IsString(cmd)) {
        client_error(c, "expected one JSON object with \"cmd\"");
    } else if (strcmp(cmd->valuestring, "sync") == 0) {
        request_sync(d, c, req);
    } else if (strcmp(cmd->valuestring, "status") == 0) {
        client_send_close(c, agent_daemon_status_json(d));
    } else if (strcmp(cmd->valuestring, "ping") == 0) {
        ev = cJSON_CreateObject();
        if (ev && (!cJSON_AddStringToObject(ev, "event", "pong") ||
                   !cJSON_AddNumberToObject(ev, "pid", (double)getpid()))) {
            cJSON_Delete(ev);
            ev = NULL;
        }
        client_send_close(c, ev);
    } else {
        client_error(c, "unknown cmd (known: ping, status, sync)");
    }
    cJSON_Delete(req);
}

/* ---- clients ---------------------------------------------------------- */

/* Only our own user (or root) may talk to us; the socket's mode says the
 * same, this also holds if someone loosens it. */
static int peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == geteuid() || cred.uid == 0;
}

/* All slots are taken: tell the client so (it retries) instead of
 * closing on it, which it could not tell from a daemon that died. The
 * line fits the socket buffer of a new connection; a failed write only
 * leaves the client to its own retry. */
static void say_busy(int fd)
{
    static const char busy[] = "{\"event\":\"busy\",\"message\":"
        "\"the agent daemon has too many clients at once\"}\n";
    char drain[512];
    int rounds = 0;

    if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return;
    /* Unread input would make close() reset the connection and destroy
     * the line before the client reads it. */
    while (rounds++ < 8 && recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
        ;
}

static void accept_clients(struct agent_daemon *d, int64_t now)
{
    for (;;) {
        struct agent_ctl_client *c = NULL;
        int fd = accept(d->listen_fd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("control socket: accept failed: %s",
                         strerror(errno));
            return;
        }
        for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS && !c; i++) {
            if (d->clients[i].state == AGENT_CTL_FREE)
                c = &d->clients[i];
        }
        if (!c || !peer_allowed(fd) ||
            !(c->in = plat_malloc(AGENT_CTL_LINE_MAX)) ||
            fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            /* Busy callers retry: one line a second is enough. */
            if (c) {
                plat_free(c->in);
                c->in = NULL;
            }
            if (c || now - d->busy_logged_ms >= 1000) {
                log_warn("control socket: refused a client (%s)",
                         c ? "not our user or out of memory"
                           : "too many clients");
                if (!c)
                    d->busy_logged_ms = now;
            }
            if (!c)
                say_busy(fd);
            close(fd);
            continue;
        }
        {
            char *in = c->in;

            memset(c, 0, sizeof(*c));
            c->in = in;
        }
        c->fd = fd;
        c->state = AGENT_CTL_READING;
        c->deadline_ms = now + CLIENT_READ_MS;
        plat_buf_init(&c->out, CLIENT_OUT_CAP);
    }
}

static void client_read(struct agent_daemon *d, struct agent_ctl_client *c)
{
    char buf[512];
    ssize_t n;
    char *nl;

    n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        /* Gone. A waiting client leaving does not stop the sync. */
        client_close(c);
        return;
    }
    if (c->state != AGENT_CTL_READING)
        return; /* one request per connection; the rest is ignored */
    if (c->in_len + (size_t)n >= AGENT_CTL_LINE_MAX) {
        client_error(c, "request line too long");
        return;
    }
    memcpy(c->in + c->in_len, buf, (size_t)n);
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    nl = memchr(c->in, '\n', c->in_len);
    if (!nl)
        return;
    *nl = '\0';
    handle_request(d, c, c->in);
}

static struct agent_ctl_client *client_by_fd(struct agent_daemon *d, int fd)
{
    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        if (d->clients[i].state != AGENT_CTL_FREE && d->clients[i].fd == fd)
            return &d->clients[i];
    }
    return NULL;
}

size_t agent_ctl_pollfds(struct agent_daemon *d, struct pollfd *fds)
{
    size_t n = 0;

    fds[n].fd = d->listen_fd;
    fds[n].events = POLLIN;
    fds[n++].revents = 0;
    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        const struct agent_ctl_client *c = &d->clients[i];

        if (c->state == AGENT_CTL_FREE)
            continue;
        fds[n].fd = c->fd;
        fds[n].events = (short)((c->state != AGENT_CTL_CLOSING ? POLLIN : 0) |
                                (c->out.len > 0 ? POLLOUT : 0));
        fds[n++].revents = 0;
    }
    return n;
}

void agent_ctl_handle(struct agent_daemon *d, const struct pollfd *fds,
                      size_t n, int64_t now)
{
    if (n > 0 && (fds[0].revents & POLLIN))
        accept_clients(d, now);
    for (size_t i = 1; i < n; i++) {
        struct agent_ctl_client *c;

        if (!fds[i].revents)
            continue;
        /* The slot may have been closed (and reused) meanwhile. */
        c = client_by_fd(d, fds[i].fd);
        if (!c)
            continue;
        if ((fds[i].revents & POLLOUT) && client_flush(c) < 0) {
            client_close(c);
            continue;
        }
        if (c->state == AGENT_CTL_CLOSING && c->out.len == 0) {
            client_close(c);
            continue;
        }
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            client_read(d, c);
    }
}

int64_t agent_ctl_deadline(const struct agent_daemon *d)
{
    int64_t t = AGENT_SCHED_NEVER;

    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        const struct agent_ctl_client *c = &d->clients[i];

        if (c->state == AGENT_CTL_READING || c->state == AGENT_CTL_CLOSING)
            if (c->deadline_ms < t)
                t = c->deadline_ms;
    }
    return t;
}

void agent_ctl_expire(struct agent_daemon *d, int64_t now)
{
    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        struct agent_ctl_client *c = &d->clients[i];

        if ((c->state == AGENT_CTL_READING ||
             c->state == AGENT_CTL_CLOSING) && now >= c->deadline_ms) {
            log_debug("control socket: dropped a silent client");
            client_close(c);
        }
    }
}
