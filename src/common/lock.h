/* One writer per output file (run files, eval outputs): an advisory POSIX
 * record lock (fcntl F_SETLK) on "<path>.lock", a small file beside the
 * output that holds the owner's host, PID, command and start time.
 *
 * A lock file, not the output itself, because outputs are replaced by
 * rename (a lock on the old inode would protect nothing) and because HDF5
 * takes its own flock() on the files it opens. The lock lives as long as
 * the process: the kernel (or the NFS/Lustre lock manager) drops it when
 * the process exits or dies, so a kill -9 never leaves a stale lock; the
 * lock file itself stays (harmless: only the lock on it counts). Readers
 * (inspect, h5py, eval --resume's reads) never take it. docs/runfile.md
 * lists the file systems where it works. */
#ifndef LR_LOCK_H
#define LR_LOCK_H

/* Takes the writer lock of path for the rest of the process (idempotent
 * for a path this process already holds). 0 ok; -1 + lr_error
 * "<path>: in use by another writer (host H, PID P, `command` since T)"
 * when another process holds it. Where the file system has no locks
 * (ENOLCK, EOPNOTSUPP) it warns once and returns 0. LR_NO_LOCK=1 skips
 * locking (for file systems whose locks hang). command: what is written
 * into the lock file ("sample", "train", ...). */
int lr_lock_writer(const char *path, const char *command);
/* For commands that only rewrite an existing file (train, select): when
 * path does not exist there is nothing to protect and no lock file is
 * made (the command then fails on its own, "no such file"); otherwise as
 * lr_lock_writer, without creating directories. */
int lr_lock_existing(const char *path, const char *command);

/* "<path>.lock" (malloc'd). */
char *lr_lock_path(const char *path);

#endif
