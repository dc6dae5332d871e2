/*
 * term.c - terminal detection and the status line (see term.h).
 */
#include "term.h"

#include "plat_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define STATUS_MAX 512

static struct {
    int active;             /* between begin and end                 */
    int drawn;              /* the line is on screen                 */
    char text[STATUS_MAX];
    size_t len;
} status;

int agent_term_is_tty(int fd)
{
    return isatty(fd) == 1;
}

int agent_term_colour(int fd)
{
    const char *no = getenv("NO_COLOR");
    const char *term = getenv("TERM");

    if (no && *no)
        return 0;
    if (term && strcmp(term, "dumb") == 0)
        return 0;
    return agent_term_is_tty(fd);
}

int agent_term_columns(int fd)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");

    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (env && atoi(env) > 0)
        return atoi(env);
    return 80;
}

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void clear_line(void)
{
    if (status.drawn)
        put("\r\033[K", 4);
    status.drawn = 0;
}

static void draw(void)
{
    char line[STATUS_MAX + 8];
    size_t width = (size_t)agent_term_columns(STDERR_FILENO);
    size_t n = status.len;

    if (!status.len)
        return;
    /* One column short: writing the last column makes some terminals
     * wrap, and the next \r would then redraw on a new row. */
    if (width > 1 && n > width - 1)
        n = width - 1;
    line[0] = '\r';
    memcpy(line + 1, status.text, n);
    memcpy(line + 1 + n, "\033[K", 3);
    put(line, n + 4);
    status.drawn = 1;
}

static void before_log(void *payload)
{
    (void)payload;
    clear_line();
}

static void after_log(void *payload)
{
    (void)payload;
    draw();
}

void agent_status_begin(void)
{
    memset(&status, 0, sizeof(status));
    status.active = 1;
    plat_log_set_hooks(before_log, after_log, NULL);
}

void agent_status_set(const char *text)
{
    size_t n = strlen(text);

    if (!status.active)
        return;
    if (n >= STATUS_MAX)
        n = STATUS_MAX - 1;
    /* Only printable ASCII reaches the terminal. */
    for (size_t i = 0; i < n; i++)
        status.text[i] = (unsigned char)text[i] >= 0x20 &&
                         (unsigned char)text[i] < 0x7f ? text[i] : ' ';
    status.text[n] = '\0';
    status.len = n;
    draw();
}

void agent_status_end(void)
{
    if (!status.active)
        return;
    clear_line();
    plat_log_set_hooks(NULL, NULL, NULL);
    memset(&status, 0, sizeof(status));
}
