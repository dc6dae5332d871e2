/*
 * daemon_client.c - talking to a running daemon over its control socket
 * (see daemon_client.h).
 */
#include "daemon_client.h"
#include "config.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_signal.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ANSWER_MAX (1024 * 1024)
#define STATUS_TIMEOUT_MS 5000
#define PING_TIMEOUT_MS 1000
/* How long a caller retries while the daemon says it is busy. */
#define BUSY_RETRY_MS 30000

static int connect_socket(const char *path, int *fd_out)
{
    struct sockaddr_un sa;
    size_t len = strlen(path);
    int fd;

    *fd_out = -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    /* A daemon cannot listen on a path that does not fit. */
    if (len == 0 || len >= sizeof(sa.sun_path))
        return plat_err_set(ERR_NOTFOUND, "no agent daemon at %s", path);
    memcpy(sa.sun_path, path, len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return plat_err_set(ERR_IO, "cannot create a socket: %s",
                            strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        *fd_out = fd;
        return PLAT_OK;
    }
    close(fd);
    if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTSOCK)
        return plat_err_set(ERR_NOTFOUND, "no agent daemon at %s", path);
    if (errno == EAGAIN)
        return plat_err_set(ERR_RETRY, "the agent daemon at %s is too busy "
                            "to answer", path);
    return plat_err_set(ERR_IO, "cannot reach the agent daemon at %s: %s",
                        path, strerror(errno));
}

/* Wait until `fd` is ready for `events`. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    volatile int *stop = plat_signal_shutdown_flag();
    struct pollfd p = { fd, events, 0 };

    for (;;) {
        int r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);

        if (r > 0)
            return PLAT_OK;
        if (r == 0)
            return plat_err_set(ERR_RETRY, "the agent daemon did not answer "
                                "within %d s", timeout_ms / 1000);
        if (errno != EINTR)
            return plat_err_set(ERR_IO, "waiting for the agent daemon: %s",
                                strerror(errno));
        if (*stop)
            return plat_err_set(ERR_GENERIC, "interrupted (a sync the "
                                "daemon runs goes on)");
    }
}

static int send_all(int fd, const char *data, size_t len, int timeout_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        int rc;

        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return plat_err_set(ERR_RETRY, "the agent daemon closed the "
                                "connection: %s", strerror(errno));
        if ((rc = wait_fd(fd, POLLOUT, timeout_ms)) < 0)
            return rc;
    }
    return PLAT_OK;
}

/* Hand every complete line in `in` to `cb` and keep the rest. */
static int take_lines(struct plat_buf *in, agent_daemon_event_cb cb,
                      void *payload)
{
    char *nl;
    int rc = 0;

    while (rc == 0 && (nl = memchr(in->data, '\n', in->len)) != NULL) {
        size_t used = (size_t)(nl - in->data) + 1;
        cJSON *ev;

        *nl = '\0';
        ev = cJSON_Parse(in->data);
        if (!cJSON_IsObject(ev)) {
            cJSON_Delete(ev);
            return plat_err_set(ERR_INVALID, "the agent daemon answered "
                                "something that is not a JSON object");
        }
        rc = cb(ev, payload);
        cJSON_Delete(ev);
        memmove(in->data, in->data + used, in->len - used);
        in->len -= used;
        in->data[in->len] = '\0';
    }
    return rc;
}

/* Wraps the caller's callback: notes that the daemon answered and takes
 * a "busy" line (all its client slots taken) for itself. */
struct call_state {
    agent_daemon_event_cb cb;
    void *payload;
    int events;     /* answer lines seen                               */
    int busy;       /* refused for lack of room: worth another try     */
};

static int on_event(const cJSON *ev, void *payload)
{
    struct call_state *st = payload;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");

    if (st->events == 0 && cJSON_IsString(name) &&
        strcmp(name->valuestring, "busy") == 0) {
        st->busy = 1;
        return plat_err_set(ERR_RETRY, "the agent daemon is busy");
    }
    st->events++;
    return st->cb(ev, st->payload);
}

/* One connection: send `line`, read answers until the daemon closes. */
static int call_once(const char *path, const char *line, int timeout_ms,
                     struct call_state *st)
{
    struct plat_buf in;
    char buf[4096];
    int fd = -1, rc;

    plat_buf_init(&in, ANSWER_MAX);
    if ((rc = connect_socket(path, &fd)) < 0) {
        /* Only EAGAIN (a full listen queue) gives ERR_RETRY here. */
        st->busy = rc == ERR_RETRY;
        goto done;
    }
    if ((rc = send_all(fd, line, strlen(line), timeout_ms)) < 0 ||
        (rc = send_all(fd, "\n", 1, timeout_ms)) < 0) {
        /* A daemon that refused us may close before reading. */
        st->busy = rc == ERR_RETRY;
        goto done;
    }
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);

        if (n > 0) {
            if ((rc = plat_buf_append(&in, buf, (size_t)n)) < 0)
                goto done;
            if ((rc = take_lines(&in, on_event, st)) != 0)
                goto done;
            continue;
        }
        if (n == 0) {
            /* Closed before any answer: refused, as a daemon with all
             * client slots taken did before it said "busy". */
            if (st->events == 0 && in.len == 0)
                st->busy = 1;
            rc = in.len == 0 ? PLAT_OK
               : plat_err_set(ERR_RETRY, "the agent daemon's answer was "
                              "cut short");
            goto done;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            st->busy = st->events == 0 && in.len == 0;
            rc = plat_err_set(ERR_RETRY, "lost the connection to the agent "
                              "daemon: %s", strerror(errno));
            goto done;
        }
        if ((rc = wait_fd(fd, POLLIN, timeout_ms)) < 0)
            goto done;
    }
done:
    if (fd >= 0)
        close(fd);
    plat_buf_dispose(&in);
    return rc;
}

/* Sleep `ms` milliseconds unless a shutdown signal comes. */
static int pause_ms(int ms)
{
    volatile int *stop = plat_signal_shutdown_flag();

    if (*stop)
        return -1;
    poll(NULL, 0, ms);
    return *stop ? -1 : 0;
}

int agent_daemon_call(const struct agent_config *cfg,
                      const struct cJSON *request, int timeout_ms,
                      agent_daemon_event_cb cb, void *payload)
{
    struct call_state st = { cb, payload, 0, 0 };
    char *path = agent_config_socket_path(cfg);
    char *line = NULL;
    int budget = timeout_ms > 0 && timeout_ms < BUSY_RETRY_MS ? timeout_ms
               : BUSY_RETRY_MS;
    int64_t start = plat_time_mono_ms();
    int rc, delay = 20;

    if (!path)
        return plat_err_set(ERR_NOMEM, "out of memory");
    line = cJSON_PrintUnformatted(request);
    if (!line) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* A daemon with every client slot taken refuses at once; those slots
     * free up as soon as a sync ends, so try again for a bounded time. */
    for (;;) {
        st.busy = 0;
        st.events = 0;
        rc = call_once(path, line, timeout_ms, &st);
        if (!st.busy || st.events > 0)
            break;
        if (plat_time_mono_ms() - start >= budget ||
            pause_ms(delay / 2 + (int)(plat_time_mono_ms() % (delay / 2 + 1)))
            < 0) {
            rc = plat_err_set(ERR_LOCKED, "the agent daemon at %s is busy "
                              "(too many clients at once); try again in a "
                              "moment", path);
            break;
        }
        if (delay < 500)
            delay *= 2;
    }
done:
    plat_free(line);
    plat_free(path);
    return rc;
}

/* The first answer of event `want` (copied into *(cJSON **)payload). */
struct first_event {
    const char *want;
    cJSON *got;
};

static int take_first(const cJSON *ev, void *payload)
{
    struct first_event *f = payload;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");

    if (!cJSON_IsString(name) || strcmp(name->valuestring, f->want) != 0)
        return 0;
    f->got = cJSON_Duplicate(ev, 1);
    return f->got ? 1 : plat_err_set(ERR_NOMEM, "out of memory");
}

static int ask(const struct agent_config *cfg, const char *cmd,
               const char *want, int timeout_ms, cJSON **out)
{
    struct first_event f = { want, NULL };
    cJSON *req = cJSON_CreateObject();
    int rc;

    *out = NULL;
    if (!req || !cJSON_AddStringToObject(req, "cmd", cmd)) {
        cJSON_Delete(req);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = agent_daemon_call(cfg, req, timeout_ms, take_first, &f);
    cJSON_Delete(req);
    if (rc < 0) {
        cJSON_Delete(f.got);
        return rc;
    }
    if (!f.got)
        return plat_err_set(ERR_INVALID, "the agent daemon did not answer "
                            "the %s request", cmd);
    *out = f.got;
    return PLAT_OK;
}

int agent_daemon_status(const struct agent_config *cfg, cJSON **out)
{
    return ask(cfg, "status", "status", STATUS_TIMEOUT_MS, out);
}

int agent_daemon_ping(const struct agent_config *cfg, long *pid)
{
    const cJSON *p;
    cJSON *pong = NULL;
    int rc = ask(cfg, "ping", "pong", PING_TIMEOUT_MS, &pong);

    if (rc < 0) {
        plat_err_clear();
        return ERR_NOTFOUND;
    }
    p = cJSON_GetObjectItemCaseSensitive(pong, "pid");
    if (pid)
        *pid = cJSON_IsNumber(p) ? (long)p->valuedouble : 0;
    cJSON_Delete(pong);
    return PLAT_OK;
}
