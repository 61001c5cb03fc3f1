/* Crash points for tests: the resume and durability tests need a process
 * to die at a known moment (after the K-th shard, in the save of step K,
 * before the join's rename) exactly as a `kill -9` would, with nothing
 * flushed or cleaned up. Production code marks those moments with
 * lr_crash_point(); the environment variable arms one of them:
 *
 *   LR_TEST_DIE_AT=<point>:<k>   die when <point> is reached with count k
 *   LR_TEST_DIE_AT=<point>       (points without a count, k < 0)
 *
 * Points: shard:K (sampling: after a rank's K-th shard), chunk:K (eval:
 * after a rank's K-th persisted chunk), step:K (train: after step K),
 * save:K (train: the save of step K, after the new file is written and
 * before it replaces the old one), join (sample: the joined file is
 * written, not yet renamed into place). Unset (always, outside tests):
 * a getenv and nothing else. The SIGTERM counterpart (a stop signal at a
 * known point) is lr_signal_test_hook in signals.h. */
#ifndef LR_COMMON_CRASH_POINT_H
#define LR_COMMON_CRASH_POINT_H

/* 1 when LR_TEST_DIE_AT names this point and count (for work that must
 * happen before the crash, such as a flush that makes it realistic). */
int lr_crash_point_armed(const char *point, long k);

/* SIGKILLs the process, after one line on stderr, when armed. */
void lr_crash_point(const char *point, long k);

#endif
