/*
 * plat_signal.h - shutdown signals.
 *
 * The handlers only set a flag (async-signal-safe); the work loop notices
 * it between batches, commits what it has and stops. A second SIGINT (a
 * person pressing Ctrl-C twice) exits at once with status 130: SQLite's
 * journal keeps the store consistent even then.
 */
#ifndef PLAT_SIGNAL_H
#define PLAT_SIGNAL_H

/* Install handlers for SIGINT and SIGTERM (and ignore SIGPIPE, which a
 * dropped connection would otherwise turn into a silent death). */
int plat_signal_install(void);

/* The flag the handlers set: non-zero once a shutdown was asked for.
 * Borrowed, valid for the life of the process. */
volatile int *plat_signal_shutdown_flag(void);

/* The number of SIGHUPs received so far (config reload, log reopen);
 * 0 until plat_signal_install_hup() was called. */
int plat_signal_install_hup(void);
int plat_signal_hup_count(void);

#endif
