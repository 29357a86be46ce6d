/* par.h — a parallel for-loop over numbered tasks on a few pthreads.
 *
 * The calling thread works too; tasks are handed out one at a time through
 * an atomic counter, so uneven tasks (slabs with more surface than others)
 * balance by themselves.  No state outlives the call.
 */
#ifndef ISO_PAR_H
#define ISO_PAR_H

#include <stddef.h>

/* Calls fn(ctx, task, worker) for task in [0, n_tasks) on up to `threads`
 * threads; worker is in [0, threads).  Returns once all tasks are done.
 * Falls back to the calling thread alone if threads cannot start. */
void iso_parallel_for(size_t n_tasks, int threads, void (*fn)(void *ctx, size_t task, int worker),
                      void *ctx);

/* The number of threads to use when the user asked for `requested`
 * (0 = one per online CPU). */
int iso_threads(int requested);

#endif
