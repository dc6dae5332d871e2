/*
 * term.h - the terminal face of the CLI: whether output goes to a person's
 * terminal, whether colour is wanted, the terminal's width, and the one
 * status line at the bottom of the screen that log lines pass above (the
 * line is cleared, the log line written, the status line drawn again), as
 * apt and cargo do.
 *
 * Everything is written with write(2) on stderr, like the log lines, so
 * the two never interleave inside stdio buffers. Nothing here allocates
 * or fails: a terminal that cannot be asked is taken as 80 columns.
 */
#ifndef AGENT_TERM_H
#define AGENT_TERM_H

/* 1 if `fd` is a terminal. */
int agent_term_is_tty(int fd);

/* 1 if colour may be used on `fd`: a terminal, NO_COLOR unset or empty,
 * TERM not "dumb". */
int agent_term_colour(int fd);

/* Columns of the terminal on `fd` (TIOCGWINSZ, else $COLUMNS, else 80). */
int agent_term_columns(int fd);

/* Start showing a status line on stderr (installs the log hooks). */
void agent_status_begin(void);

/* Show `text` as the status line (cut to the terminal's width - 1, so the
 * cursor never wraps to a new row). No-op before agent_status_begin. */
void agent_status_set(const char *text);

/* Clear the status line and stop (removes the log hooks). */
void agent_status_end(void);

#endif
