/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

_Atomic int psyne__log_max_level = -1;

/*
 * The function and its argument change together under the lock; a message takes a copy of
 * both and calls the function outside it, so a function that is slow, or that sets another
 * function, never holds up or deadlocks another thread's message.
 */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static psyne_log_func sink_func;
static void *sink_userdata;

PSYNE_API void psyne_set_log_func(psyne_log_func func, int max_level, void *userdata)
{
	pthread_mutex_lock(&sink_lock);
	sink_func = func;
	sink_userdata = userdata;
	atomic_store(&psyne__log_max_level, func ? max_level : -1);
	pthread_mutex_unlock(&sink_lock);
}

void psyne__log_internal(int level, const char *format, ...)
{
	int saved_errno = errno;
	psyne_log_func func;
	void *userdata;
	char buf[1024];
	va_list ap;

	pthread_mutex_lock(&sink_lock);
	func = sink_func;
	userdata = sink_userdata;
	pthread_mutex_unlock(&sink_lock);
	if (!func)
		return;

	va_start(ap, format);
	(void)vsnprintf(buf, sizeof(buf), format, ap);
	va_end(ap);
	func(level, buf, userdata);
	errno = saved_errno;
}
