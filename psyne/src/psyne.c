/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "channel.h"
#include "common/string-util.h"
#include "log.h"

/* One line per transport. */
/* clang-format off */
static const struct psyne_transport *const transports[] = {
	&psyne__transport_memory,
	&psyne__transport_ipc,
	&psyne__transport_tcp,
	&psyne__transport_tls,
	&psyne__transport_unix,
	&psyne__transport_udp,
};
/* clang-format on */

PSYNE_API int psyne_open(const char *uri, struct psyne_channel **ret_channel)
{
	struct psyne_channel *ch = NULL;
	struct psyne_uri u;
	int r;

	if (!uri || !ret_channel)
		return -EINVAL;
	r = psyne__uri_parse(uri, &u);
	if (r < 0)
		return r;

	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		if (!streq(transports[i]->scheme, u.scheme))
			continue;
		r = transports[i]->open(&u, &ch);
		if (r < 0)
			return r;
		r = psyne__uri_check_used(&u);
		if (r < 0) {
			transports[i]->close(ch);
			return r;
		}
		*ret_channel = ch;
		return 0;
	}
	psyne__log_error("'%s': unknown scheme '%s' (memory, ipc, unix, tcp, tls, udp)", uri,
			 u.scheme);
	return -EPROTONOSUPPORT;
}

PSYNE_API void psyne_close(struct psyne_channel *channel)
{
	if (channel)
		channel->ops->close(channel);
}

PSYNE_API int psyne_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
			    struct psyne_msg *ret_msg)
{
	if (!ch || !ret_msg)
		return -EINVAL;
	return ch->ops->reserve(ch, size, timeout_ms, ret_msg);
}

PSYNE_API int psyne_commit(struct psyne_channel *ch, struct psyne_msg *msg)
{
	if (!ch || !msg)
		return -EINVAL;
	return ch->ops->commit(ch, msg);
}

PSYNE_API void psyne_cancel(struct psyne_channel *ch, struct psyne_msg *msg)
{
	if (ch && msg)
		ch->ops->cancel(ch, msg);
}

PSYNE_API int psyne_receive(struct psyne_channel *ch, int timeout_ms, struct psyne_msg *ret_msg)
{
	if (!ch || !ret_msg)
		return -EINVAL;
	return ch->ops->receive(ch, timeout_ms, SIZE_MAX, ret_msg);
}

PSYNE_API void psyne_release(struct psyne_channel *ch, struct psyne_msg *msg)
{
	if (ch && msg)
		ch->ops->release(ch, msg);
}

PSYNE_API int psyne_send(struct psyne_channel *ch, const void *data, size_t size, uint32_t type,
			 int timeout_ms)
{
	struct psyne_msg msg;
	int r;

	if (!ch || (!data && size > 0))
		return -EINVAL;
	r = ch->ops->reserve(ch, size, timeout_ms, &msg);
	if (r < 0)
		return r;
	if (size > 0)
		memcpy(msg.data, data, size);
	msg.type = type;
	r = ch->ops->commit(ch, &msg);
	if (r < 0)
		ch->ops->cancel(ch, &msg);
	return r;
}

PSYNE_API int psyne_recv(struct psyne_channel *ch, void *buf, size_t cap, uint32_t *ret_type,
			 int timeout_ms)
{
	struct psyne_msg msg;
	int r;

	if (!ch || (!buf && cap > 0))
		return -EINVAL;
	/* The size comes back as an int: larger messages than INT_MAX cannot exist anyway. */
	r = ch->ops->receive(ch, timeout_ms, cap > INT_MAX ? (size_t)INT_MAX : cap, &msg);
	if (r < 0)
		return r;
	if (msg.size > 0)
		memcpy(buf, msg.data, msg.size);
	if (ret_type)
		*ret_type = msg.type;
	r = (int)msg.size;
	ch->ops->release(ch, &msg);
	return r;
}

PSYNE_API int psyne_channel_stats(struct psyne_channel *ch, struct psyne_stats *ret_stats)
{
	if (!ch || !ret_stats)
		return -EINVAL;
	return ch->ops->stats(ch, ret_stats);
}

PSYNE_API const char *psyne_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case EEXIST:
		return "Channel exists with another mode or capacity";
	case EBUSY:
		return "Channel already has its single producer or consumer";
	case EMSGSIZE:
		return "Message too large for the channel or buffer";
	case EPIPE:
		return "Every peer on the other side has closed or died";
	case EPROTO:
		return "Corrupt shared segment or peer frame";
	case EBADMSG:
		return "Peer frame failed its checksum";
	case ECONNRESET:
		return "Peer lost and not back in time";
	case EACCES:
		return "Peer refused, or failed authentication";
	case EPROTONOSUPPORT:
		return "Unknown URI scheme, or unsupported segment or protocol version";
	case EUSERS:
		return "Too many handles on one channel";
	default:
		return strerror(err);
	}
}
