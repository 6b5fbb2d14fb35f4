/* SPDX-License-Identifier: MIT */
/*
 * unix://PATH and unix://@NAME (abstract): the stream session engine (net*.c) over a unix
 * stream socket. A listener replaces a stale socket file nobody listens on, and removes
 * the file it made when it closes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "log.h"
#include "net.h"

/* Whether a socket file at `path` is left over: nobody accepts on it. */
static bool stale_socket(const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (const struct sockaddr *)sun, len);
	close(fd);
	return r < 0 && errno == ECONNREFUSED;
}

static int unix_resolve(const char *address, bool listen, struct psyne_net_addr *ret)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&ret->ss;
	size_t n = strlen(address);

	*ret = (struct psyne_net_addr){ 0 };
	if (n == 0 || n >= sizeof(sun->sun_path) || (address[0] == '@' && n == 1)) {
		psyne__log_error("unix://%s: a path or @name of 1 to %zu bytes", address,
				 sizeof(sun->sun_path) - 1);
		return -EINVAL;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, address, n);
	if (address[0] == '@') {
		sun->sun_path[0] = 0; /* abstract: no file, gone with the last socket */
		ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		if (listen) {
			if (stale_socket(sun, ret->len))
				(void)unlink(sun->sun_path); /* bind() says why if this failed */
			ret->unlink_on_close = true;
		}
	}
	snprintf(ret->text, sizeof(ret->text), "unix://%s", address);
	return 0;
}

const struct psyne_transport psyne__transport_unix;

static const struct psyne_net_family unix_family = {
	.transport = &psyne__transport_unix,
	.scheme = PSYNE_NET_UNIX,
	.resolve = unix_resolve,
};

static int unix_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	return psyne__net_open(&unix_family, uri, ret_channel);
}

const struct psyne_transport psyne__transport_unix = {
	.scheme = "unix",
	.open = unix_open,
	PSYNE_NET_CHANNEL_OPS,
};
