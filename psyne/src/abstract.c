/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "abstract.h"

int psyne__abstract_bind(const char *fmt, ...)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) - 1)
		return -ENAMETOOLONG;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int psyne__abstract_parse_number(const char *s, const char *end, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;

	if (s == end || end - s > 10 || (s[0] == '0' && end - s > 1))
		return -EINVAL;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int psyne__abstract_for_each(int (*f)(const char *path, void *userdata), void *userdata)
{
	_cleanup_fclose_ FILE *file = NULL;
	char line[512];

	file = fopen("/proc/net/unix", "re");
	if (!file)
		return -errno;
	while (fgets(line, sizeof(line), file)) {
		char *path;
		int r;

		line[strcspn(line, "\n")] = 0;
		path = strrchr(line, ' ');
		if (!path || path[1] != '@')
			continue;
		r = f(path + 1, userdata);
		if (r < 0)
			return r;
	}
	return ferror(file) ? -EIO : 0;
}
