/* SPDX-License-Identifier: MIT */
/*
 * udp://HOST:PORT: one message per datagram, unicast or multicast.
 *
 * Each datagram is one wire frame (frame.h): the 32-byte header, then the payload. There is
 * no connection, handshake, acknowledgement or retransmission: what the network loses is
 * lost, and the receiver counts it (udp.h explains the sequence numbers).
 *
 * Directions. A dialer sends to HOST:PORT; a unicast dialer's socket is connected, so the
 * kernel lets only HOST:PORT's datagrams in and reports its ICMP errors, while a multicast
 * dialer's is not (replies come from the members' own addresses). A listener receives from
 * anyone and sends to the sender of the last message it handed out, as its own stream per
 * sender: a request/reply pattern needs no second socket, and a sender only ever sees
 * counters of a stream meant for it.
 *
 * Buffers. Send and receive each use a slab of slots of `stride` bytes (the frame header
 * and max_msg, rounded up to 64), anonymous mappings whose pages cost nothing until a
 * direction uses them. reserve() hands out the payload space of a send slot, right behind its
 * header; commit() writes the header in place and the slot goes out as one datagram (sendmmsg()
 * takes several at once when some wait). Datagrams are received by recvmmsg(), in batches,
 * straight into free receive slots, checked there and handed out as views; a slot is free
 * again once it and every slot before it were released. Both slabs are rings of free-running
 * positions, so messages are delivered, and sent, in order.
 *
 * Threads: none. A handle is used by one thread at a time, and its calls do their own
 * system calls; a waiting call sleeps in poll().
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "frame.h"
#include "log.h"
#include "ring.h"
#include "udp.h"

#define UDP_DATAGRAM_MAX 65507u /* an IPv4 datagram's largest payload */
#define UDP_MAX_MSG (UDP_DATAGRAM_MAX - PSYNE_FRAME_HDR_SIZE)
/* No IP fragmentation on a 1500-byte MTU: less the IP and UDP headers and ours. */
#define UDP_DEFAULT_MAX_MSG_V4 (1500u - 20u - 8u - PSYNE_FRAME_HDR_SIZE)
#define UDP_DEFAULT_MAX_MSG_V6 (1500u - 40u - 8u - PSYNE_FRAME_HDR_SIZE)
#define UDP_DEFAULT_CAPACITY (1u << 20)
#define UDP_MAX_CAPACITY (1ull << 30)
#define UDP_MIN_RX_SLOTS 16u
#define UDP_TX_SLOTS 64u
#define UDP_DEFAULT_MAX_SENDERS 64u
#define UDP_BATCH 64u	    /* datagrams per recvmmsg() or sendmmsg() */
#define UDP_LINGER_MS 1000u /* close() waits this long for queued datagrams to go */
#define UDP_SLOT_ALIGN 64u
#define UDP_NO_DEST UINT32_MAX /* a send slot bound for the dialer's HOST:PORT */

enum {
	RX_FREE = 0,
	RX_DATA,     /* a message not handed out yet */
	RX_SKIP,     /* a dropped datagram: nothing for the caller */
	RX_HELD,     /* handed out, not released yet */
	RX_RELEASED, /* released before a slot in front of it */
};

enum {
	TX_RESERVED = 0,
	TX_READY,     /* committed, waiting for the socket */
	TX_CANCELLED, /* never sent */
};

/* Tags in psyne_msg.priv[1]: which of the handle's slabs priv[0] indexes. */
enum {
	TAG_TX = 0x7478,
	TAG_RX = 0x7278,
};

struct rx_slot {
	uint32_t state;
	uint32_t size;	 /* payload bytes */
	uint32_t sender; /* entry in the rx table, and its generation */
	uint32_t gen;
};

struct tx_slot {
	uint32_t state;
	uint32_t reserved; /* payload bytes reserved */
	uint32_t size;	   /* payload bytes committed */
	uint32_t type;
	uint32_t dest; /* entry in the rx table to reply to, or UDP_NO_DEST */
	uint32_t gen;
};

struct udp_opts {
	bool listen;
	uint64_t max_msg; /* 0: the family's default */
	uint64_t capacity;
	uint64_t max_senders;
	const char *iface;
	uint64_t ttl;
	uint64_t loop;
};

struct udp_chan {
	struct psyne_channel base;
	int fd;
	bool listener;
	bool multicast;
	bool connected;
	union psyne_udp_addr addr; /* HOST:PORT */
	char text[128];		   /* "udp://HOST:PORT" for log lines */
	uint32_t max_msg;
	uint32_t stride;

	/* What a dialer sends is its own stream. */
	uint32_t stream;
	uint32_t next;

	/* rx: free <= next <= filled, positions of slots */
	uint8_t *rx_buf;
	size_t rx_map;
	struct rx_slot *rx;
	uint32_t rx_slots;
	uint64_t rx_free;
	uint64_t rx_next;
	uint64_t rx_filled;
	struct psyne_udp_rx acct;
	bool have_reply; /* a listener's reply target: the sender of the last message */
	uint32_t reply;
	uint32_t reply_gen;

	/* tx: sent <= end; slots before `sent` went out or were dropped */
	uint8_t *tx_buf;
	size_t tx_map;
	struct tx_slot tx[UDP_TX_SLOTS];
	uint64_t tx_sent;
	uint64_t tx_end;
	bool tx_nobufs; /* the last send failed for lack of kernel buffers: poll will not say */

	uint64_t sent, sent_bytes, received, received_bytes;
};

const struct psyne_transport psyne__transport_udp;

static struct udp_chan *chan(struct psyne_channel *ch)
{
	return (struct udp_chan *)ch;
}

/* ---- opening ------------------------------------------------------------------------- */

/* Reads option `key` if given: a number (or a size with K/M/G) from min to max. */
static int opt_number(struct psyne_uri *uri, const char *key, bool size, uint64_t min, uint64_t max,
		      uint64_t *v)
{
	const char *s = psyne__uri_get(uri, key);
	uint64_t n;
	int r;

	if (!s)
		return 0;
	r = size ? parse_size(s, &n) : safe_atou64(s, &n);
	if (r < 0 || n < min || n > max) {
		psyne__log_error("udp: option %s=%s: expected %" PRIu64 " to %" PRIu64, key, s, min,
				 max);
		return -EINVAL;
	}
	*v = n;
	return 0;
}

static int parse_options(struct psyne_uri *uri, struct udp_opts *o)
{
	int r;

	*o = (struct udp_opts){
		.capacity = UDP_DEFAULT_CAPACITY,
		.max_senders = UDP_DEFAULT_MAX_SENDERS,
		.ttl = UINT64_MAX,
		.loop = UINT64_MAX,
	};
	o->listen = psyne__uri_get(uri, "listen") != NULL;
	o->iface = psyne__uri_get(uri, "iface");
	if ((r = opt_number(uri, "max_msg", true, 1, UDP_MAX_MSG, &o->max_msg)) < 0 ||
	    (r = opt_number(uri, "capacity", true, 1, UDP_MAX_CAPACITY, &o->capacity)) < 0 ||
	    (r = opt_number(uri, "max_senders", false, 1, PSYNE_UDP_MAX_SENDERS, &o->max_senders)) <
		    0 ||
	    (r = opt_number(uri, "ttl", false, 0, 255, &o->ttl)) < 0 ||
	    (r = opt_number(uri, "loop", false, 0, 1, &o->loop)) < 0)
		return r;
	return 0;
}

/* HOST:PORT, IPv6 as [ADDR]:PORT, into a socket address; `*` binds every address. */
static int udp_resolve(const char *address, bool listen, union psyne_udp_addr *ret)
{
	struct addrinfo *res = NULL;
	int r;

	r = psyne__uri_resolve(address, listen, SOCK_DGRAM, &res);
	if (r < 0)
		return r;
	*ret = (union psyne_udp_addr){ 0 };
	memcpy(ret, res->ai_addr, MIN((size_t)res->ai_addrlen, sizeof(*ret)));
	freeaddrinfo(res);
	return 0;
}

static bool addr_is_multicast(const union psyne_udp_addr *a)
{
	if (a->sa.sa_family == AF_INET)
		return IN_MULTICAST(ntohl(a->in.sin_addr.s_addr));
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_MULTICAST(&a->in6.sin6_addr);
	return false;
}

/* Sets a socket option or says which one failed. */
static int sockopt(struct udp_chan *c, int level, int name, const void *v, socklen_t len,
		   const char *what)
{
	int r;

	if (setsockopt(c->fd, level, name, v, len) >= 0)
		return 0;
	r = -errno;
	psyne__log_error("%s: cannot %s: %s", c->text, what, strerror(-r));
	return r;
}

/* Membership for a listener, and how a member sends: hops, loopback, interface. */
static int multicast_setup(struct udp_chan *c, const struct udp_opts *o, unsigned ifindex)
{
	int ttl = o->ttl == UINT64_MAX ? 1 : (int)o->ttl;
	int loop = o->loop == UINT64_MAX ? 1 : (int)o->loop;
	int r;

	if (c->addr.sa.sa_family == AF_INET) {
		struct ip_mreqn mr = {
			.imr_multiaddr = c->addr.in.sin_addr,
			.imr_ifindex = (int)ifindex,
		};

		if (c->listener && (r = sockopt(c, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr),
						"join the group")) < 0)
			return r;
		if ((r = sockopt(c, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl),
				 "set the multicast ttl")) < 0 ||
		    (r = sockopt(c, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop),
				 "set multicast loop")) < 0)
			return r;
		if (ifindex != 0 && (r = sockopt(c, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr),
						 "send from the interface")) < 0)
			return r;
	} else {
		struct ipv6_mreq mr = {
			.ipv6mr_multiaddr = c->addr.in6.sin6_addr,
			.ipv6mr_interface = ifindex != 0 ? ifindex : c->addr.in6.sin6_scope_id,
		};
		int idx = (int)mr.ipv6mr_interface;

		if (c->listener && (r = sockopt(c, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr),
						"join the group")) < 0)
			return r;
		if ((r = sockopt(c, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl),
				 "set the multicast hops")) < 0 ||
		    (r = sockopt(c, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop),
				 "set multicast loop")) < 0)
			return r;
		if (idx != 0 && (r = sockopt(c, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx),
					     "send from the interface")) < 0)
			return r;
	}
	return 0;
}

static int socket_open(struct udp_chan *c, const struct udp_opts *o)
{
	socklen_t len = psyne__udp_addr_len(&c->addr);
	unsigned ifindex = 0;
	int one = 1, rcvbuf = 0, want = (int)MIN(c->rx_map, (size_t)INT32_MAX / 2);
	socklen_t optlen = sizeof(rcvbuf);
	int r;

	if (o->iface) {
		ifindex = if_nametoindex(o->iface);
		if (ifindex == 0) {
			r = -errno;
			psyne__log_error("%s: no interface '%s'", c->text, o->iface);
			return r;
		}
	}
	/* A link-local group means nothing without its interface. */
	if (c->multicast && c->addr.sa.sa_family == AF_INET6 && c->addr.in6.sin6_scope_id == 0 &&
	    (IN6_IS_ADDR_MC_LINKLOCAL(&c->addr.in6.sin6_addr) ||
	     IN6_IS_ADDR_MC_NODELOCAL(&c->addr.in6.sin6_addr)))
		c->addr.in6.sin6_scope_id = ifindex;

	c->fd = socket(c->addr.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       IPPROTO_UDP);
	if (c->fd < 0)
		return -errno;
	/*
	 * The kernel should hold as much as the slots do while the caller is busy: raise its
	 * buffer (never lower it), best effort, since it is capped at net.core.rmem_max.
	 * getsockopt() reports the size in effect, twice what setsockopt() asks for.
	 */
	if (getsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen) >= 0 && rcvbuf / 2 < want)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	if (c->listener) {
		if (c->multicast && (r = sockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one),
						 "share the group's port")) < 0)
			return r;
		if (bind(c->fd, &c->addr.sa, len) < 0) {
			r = -errno;
			psyne__log_error("cannot bind %s: %s", c->text, strerror(-r));
			return r;
		}
	} else if (!c->multicast) {
		if (connect(c->fd, &c->addr.sa, len) < 0) {
			r = -errno;
			psyne__log_error("cannot send to %s: %s", c->text, strerror(-r));
			return r;
		}
		c->connected = true;
	}
	if (c->multicast)
		return multicast_setup(c, o, ifindex);
	return 0;
}

static void *slab_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void udp_free(struct udp_chan *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->rx_buf)
		(void)munmap(c->rx_buf, c->rx_map); /* nothing to do if it fails */
	if (c->tx_buf)
		(void)munmap(c->tx_buf, c->tx_map);
	free(c->rx);
	psyne__udp_rx_done(&c->acct);
	free(c);
}

static int udp_open(struct psyne_uri *uri, struct psyne_channel **ret_channel)
{
	struct udp_chan *c;
	struct udp_opts o;
	uint32_t reply_base;
	uint64_t slots;
	int r;

	r = parse_options(uri, &o);
	if (r >= 0)
		r = psyne__uri_check_used(uri); /* before anything is bound */
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &psyne__transport_udp;
	c->fd = -1;
	c->listener = o.listen;
	snprintf(c->text, sizeof(c->text), "udp://%s", uri->address);
	r = udp_resolve(uri->address, c->listener, &c->addr);
	if (r < 0)
		goto fail;
	c->multicast = addr_is_multicast(&c->addr);
	if (!c->multicast && (o.iface || o.ttl != UINT64_MAX || o.loop != UINT64_MAX)) {
		psyne__log_error("%s: iface, ttl and loop apply to multicast groups only", c->text);
		r = -EINVAL;
		goto fail;
	}
	if (o.max_msg == 0)
		o.max_msg = c->addr.sa.sa_family == AF_INET6 ? UDP_DEFAULT_MAX_MSG_V6 :
							       UDP_DEFAULT_MAX_MSG_V4;
	c->max_msg = (uint32_t)o.max_msg;
	c->stride = ALIGN_TO(PSYNE_FRAME_HDR_SIZE + c->max_msg, UDP_SLOT_ALIGN);
	slots = MAX(o.capacity / c->stride, (uint64_t)UDP_MIN_RX_SLOTS);
	c->rx_slots = (uint32_t)slots;
	c->rx_map = (size_t)slots * c->stride;
	c->tx_map = (size_t)UDP_TX_SLOTS * c->stride;
	c->rx = calloc(slots, sizeof(*c->rx));
	c->rx_buf = slab_map(c->rx_map);
	c->tx_buf = slab_map(c->tx_map);
	if (!c->rx || !c->rx_buf || !c->tx_buf) {
		r = -ENOMEM;
		goto fail;
	}
	if (getrandom(&c->stream, sizeof(c->stream), 0) != sizeof(c->stream) ||
	    getrandom(&reply_base, sizeof(reply_base), 0) != sizeof(reply_base)) {
		r = -errno;
		goto fail;
	}
	r = psyne__udp_rx_init(&c->acct, c->text, c->max_msg, (uint32_t)o.max_senders, reply_base);
	if (r < 0)
		goto fail;
	r = socket_open(c, &o);
	if (r < 0)
		goto fail;
	*ret_channel = &c->base;
	return 0;
fail:
	udp_free(c);
	return r;
}

/* ---- waiting ------------------------------------------------------------------------- */

static bool tx_queued(const struct udp_chan *c)
{
	for (uint64_t pos = c->tx_sent; pos < c->tx_end; pos++)
		if (c->tx[pos % UDP_TX_SLOTS].state == TX_READY)
			return true;
	return false;
}

static int tx_flush(struct udp_chan *c, uint64_t mine);

/*
 * Sleeps until the socket has a datagram (when `in`), has room for queued ones, or the
 * deadline passes (-ETIMEDOUT). Sends what it can on the way out. After ENOBUFS the socket
 * looks writable while the device queue is full, so then it sleeps a millisecond at most.
 */
static int udp_wait(struct udp_chan *c, bool in, uint64_t deadline)
{
	bool out = tx_queued(c);
	struct pollfd pfd = {
		.fd = c->fd,
		.events = (short)((in ? POLLIN : 0) | (out && !c->tx_nobufs ? POLLOUT : 0)),
	};
	int timeout = timeout_ms_left(deadline), k;

	if (timeout == 0)
		return -ETIMEDOUT;
	if (out && c->tx_nobufs && (timeout < 0 || timeout > 1))
		timeout = 1;
	k = poll(&pfd, 1, timeout);
	if (k < 0 && errno != EINTR)
		return -errno;
	if (out)
		(void)tx_flush(c, UINT64_MAX); /* a hard error is counted there */
	if (k == 0 && deadline_passed(deadline))
		return -ETIMEDOUT;
	return 0;
}

/* ---- receiving ----------------------------------------------------------------------- */

static uint8_t *rx_at(const struct udp_chan *c, uint64_t pos)
{
	return c->rx_buf + (size_t)(pos % c->rx_slots) * c->stride;
}

static struct rx_slot *rx_slot(struct udp_chan *c, uint64_t pos)
{
	return &c->rx[pos % c->rx_slots];
}

/* Frees the released and skipped slots at the front. */
static void rx_collect(struct udp_chan *c)
{
	while (c->rx_free < c->rx_next) {
		struct rx_slot *s = rx_slot(c, c->rx_free);

		if (s->state != RX_SKIP && s->state != RX_RELEASED)
			break;
		s->state = RX_FREE;
		c->rx_free++;
	}
}

/* Reads what the socket holds into free slots, as many per call as there are: a count. */
static int rx_fill(struct udp_chan *c)
{
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union psyne_udp_addr from[UDP_BATCH];
	uint64_t room;
	unsigned n;
	int k;

	rx_collect(c);
	room = c->rx_slots - (c->rx_filled - c->rx_free);
	n = (unsigned)MIN(room, (uint64_t)UDP_BATCH);
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){
			.iov_base = rx_at(c, c->rx_filled + i),
			.iov_len = PSYNE_FRAME_HDR_SIZE + c->max_msg,
		};
		mm[i] = (struct mmsghdr){
			.msg_hdr = {
				.msg_name = &from[i],
				.msg_namelen = sizeof(from[i]),
				.msg_iov = &iov[i],
				.msg_iovlen = 1,
			},
		};
	}
	for (;;) {
		k = recvmmsg(c->fd, mm, n, MSG_DONTWAIT, NULL);
		if (k >= 0)
			break;
		/* ECONNREFUSED: an ICMP error about an earlier send, reported and cleared. */
		if (errno == EINTR || errno == ECONNREFUSED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
	for (int i = 0; i < k; i++) {
		struct rx_slot *s = rx_slot(c, c->rx_filled + (uint64_t)i);
		int r = psyne__udp_rx_datagram(&c->acct, iov[i].iov_base, mm[i].msg_len,
					       (mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
					       &from[i].sa, mm[i].msg_hdr.msg_namelen);

		if (r < 0) {
			*s = (struct rx_slot){ .state = RX_SKIP };
			continue;
		}
		*s = (struct rx_slot){
			.state = RX_DATA,
			.size = mm[i].msg_len - PSYNE_FRAME_HDR_SIZE,
			.sender = (uint32_t)r,
			.gen = c->acct.senders[r].gen,
		};
	}
	c->rx_filled += (uint64_t)k;
	return k;
}

/* The next message received and not handed out yet: -EAGAIN when there is none. */
static int rx_take(struct udp_chan *c, size_t max_size, struct psyne_msg *ret)
{
	for (; c->rx_next < c->rx_filled; c->rx_next++) {
		struct rx_slot *s = rx_slot(c, c->rx_next);
		uint8_t *hdr = rx_at(c, c->rx_next);
		uint32_t type;

		if (s->state != RX_DATA)
			continue;
		if (s->size > max_size)
			return -EMSGSIZE;
		memcpy(&type, hdr + offsetof(struct psyne_frame_hdr, type), sizeof(type));
		*ret = (struct psyne_msg){
			.data = hdr + PSYNE_FRAME_HDR_SIZE,
			.size = s->size,
			.type = le32toh(type),
			.priv = { c->rx_next, TAG_RX },
		};
		s->state = RX_HELD;
		if (c->listener) {
			c->have_reply = true;
			c->reply = s->sender;
			c->reply_gen = s->gen;
		}
		c->rx_next++;
		c->received++;
		c->received_bytes += s->size;
		return 0;
	}
	return -EAGAIN;
}

static int udp_receive(struct psyne_channel *ch, int timeout_ms, size_t max_size,
		       struct psyne_msg *ret_msg)
{
	struct udp_chan *c = chan(ch);
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	int r;

	for (;;) {
		r = rx_take(c, max_size, ret_msg);
		if (r != -EAGAIN)
			return r;
		r = rx_fill(c);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (c->rx_filled - c->rx_free == c->rx_slots)
			return -ENOBUFS; /* every slot is held by the caller */
		if (timeout_ms == 0)
			return -EAGAIN;
		r = udp_wait(c, true, deadline);
		if (r < 0)
			return r;
	}
}

static void udp_release(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct udp_chan *c = chan(ch);
	uint64_t pos = msg->priv[0];

	if (msg->priv[1] != TAG_RX || pos < c->rx_free || pos >= c->rx_next ||
	    rx_slot(c, pos)->state != RX_HELD || rx_at(c, pos) + PSYNE_FRAME_HDR_SIZE != msg->data)
		return;
	rx_slot(c, pos)->state = RX_RELEASED;
	msg->priv[1] = 0;
	rx_collect(c);
}

/* ---- sending ------------------------------------------------------------------------- */

static uint8_t *tx_at(const struct udp_chan *c, uint64_t pos)
{
	return c->tx_buf + (size_t)(pos % UDP_TX_SLOTS) * c->stride;
}

static struct tx_slot *tx_slot(struct udp_chan *c, uint64_t pos)
{
	return &c->tx[pos % UDP_TX_SLOTS];
}

/* Where a send slot goes and under which stream counter; false when its target is gone. */
static bool tx_dest(struct udp_chan *c, const struct tx_slot *s, union psyne_udp_addr **ret_addr,
		    uint32_t *ret_stream, uint32_t **ret_next)
{
	struct psyne_udp_sender *p;

	if (s->dest == UDP_NO_DEST) {
		*ret_addr = &c->addr;
		*ret_stream = c->stream;
		*ret_next = &c->next;
		return true;
	}
	p = psyne__udp_rx_sender(&c->acct, s->dest, s->gen);
	if (!p)
		return false;
	*ret_addr = &p->addr;
	*ret_stream = p->reply_stream;
	*ret_next = &p->reply_next;
	return true;
}

/* Drops a committed datagram the kernel will not take, or whose target was forgotten. */
static void tx_drop(struct udp_chan *c, struct tx_slot *s, int err)
{
	s->state = TX_CANCELLED;
	c->acct.stats.send_errors++;
	psyne__log_debug("%s: datagram dropped: %s", c->text, strerror(-err));
}

/*
 * Sends the committed datagrams at the front of the queue, in order, without blocking; what
 * the socket cannot take now stays queued. A datagram the kernel refuses for good, or whose
 * reply target was forgotten, is dropped and counted, except the one at position `mine`
 * (being committed): that one becomes a reservation again and the error is returned.
 *
 * Counters are drawn per batch and given back for what did not go, so that a stream's
 * numbers have no holes but the network's.
 */
static int tx_flush(struct udp_chan *c, uint64_t mine)
{
	unsigned refused = 0;

	for (;;) {
		struct mmsghdr mm[UDP_BATCH];
		struct iovec iov[UDP_BATCH];
		uint64_t pos_of[UDP_BATCH];
		uint32_t *next_of[UDP_BATCH];
		unsigned n = 0;
		int k, e;

		while (c->tx_sent < c->tx_end && tx_slot(c, c->tx_sent)->state == TX_CANCELLED)
			c->tx_sent++;
		for (uint64_t pos = c->tx_sent; pos < c->tx_end && n < UDP_BATCH; pos++) {
			struct tx_slot *s = tx_slot(c, pos);
			union psyne_udp_addr *to;
			uint32_t stream, *next;
			uint8_t *hdr = tx_at(c, pos);

			if (s->state == TX_RESERVED)
				break;
			if (s->state != TX_READY)
				continue;
			if (!tx_dest(c, s, &to, &stream, &next)) {
				if (pos != mine) {
					tx_drop(c, s, -EDESTADDRREQ);
					continue;
				}
				if (n > 0)
					break; /* send those in front of it first */
				s->state = TX_RESERVED;
				return -EDESTADDRREQ;
			}
			psyne__frame_encode(hdr,
					    &(struct psyne_frame){
						    .kind = PSYNE_FRAME_DATA,
						    .type = s->type,
						    .length = s->size,
						    .seq = psyne__udp_seq(stream, (*next)++),
					    },
					    hdr + PSYNE_FRAME_HDR_SIZE, s->size);
			iov[n] = (struct iovec){ .iov_base = hdr,
						 .iov_len = PSYNE_FRAME_HDR_SIZE + s->size };
			mm[n] = (struct mmsghdr){
				.msg_hdr = {
					.msg_name = c->connected ? NULL : to,
					.msg_namelen = c->connected ? 0 : psyne__udp_addr_len(to),
					.msg_iov = &iov[n],
					.msg_iovlen = 1,
				},
			};
			pos_of[n] = pos;
			next_of[n] = next;
			n++;
		}
		if (n == 0)
			return 0;

		k = sendmmsg(c->fd, mm, n, MSG_DONTWAIT);
		e = k < 0 ? errno : 0;
		for (unsigned i = n; i > (unsigned)MAX(k, 0); i--)
			(*next_of[i - 1])--;
		if (k == 0)
			return 0; /* not for n > 0; nothing to learn from it if it were */
		if (k > 0) {
			for (int i = 0; i < k; i++) {
				c->sent++;
				c->sent_bytes += tx_slot(c, pos_of[i])->size;
				tx_slot(c, pos_of[i])->state = TX_CANCELLED; /* done with */
			}
			c->tx_sent = pos_of[k - 1] + 1;
			c->tx_nobufs = false;
			continue;
		}
		/* ECONNREFUSED: an ICMP error about an earlier datagram; this one was not sent. */
		if (e == EINTR || (e == ECONNREFUSED && refused++ < 8))
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
			c->tx_nobufs = e == ENOBUFS;
			return 0;
		}
		if (pos_of[0] == mine) {
			tx_slot(c, mine)->state = TX_RESERVED;
			return -e;
		}
		tx_drop(c, tx_slot(c, pos_of[0]), -e);
	}
}

/* The reservation `msg` names, if it is one of this handle's. */
static struct tx_slot *own_tx(struct udp_chan *c, const struct psyne_msg *msg)
{
	uint64_t pos = msg->priv[0];

	if (msg->priv[1] != TAG_TX || pos < c->tx_sent || pos >= c->tx_end ||
	    tx_slot(c, pos)->state != TX_RESERVED ||
	    tx_at(c, pos) + PSYNE_FRAME_HDR_SIZE != msg->data)
		return NULL;
	return tx_slot(c, pos);
}

static int udp_reserve(struct psyne_channel *ch, size_t size, int timeout_ms,
		       struct psyne_msg *ret_msg)
{
	struct udp_chan *c = chan(ch);
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	uint32_t dest = UDP_NO_DEST, gen = 0;
	int r;

	if (size > c->max_msg)
		return -EMSGSIZE;
	if (c->listener) {
		if (!c->have_reply || !psyne__udp_rx_sender(&c->acct, c->reply, c->reply_gen))
			return -EDESTADDRREQ;
		dest = c->reply;
		gen = c->reply_gen;
	}
	while (c->tx_end - c->tx_sent == UDP_TX_SLOTS) {
		(void)tx_flush(c, UINT64_MAX); /* a hard error is counted there */
		if (c->tx_end - c->tx_sent < UDP_TX_SLOTS)
			break;
		if (tx_slot(c, c->tx_sent)->state == TX_RESERVED)
			return -ENOBUFS; /* only a commit or cancel can free a slot */
		if (timeout_ms == 0)
			return -EAGAIN;
		r = udp_wait(c, false, deadline);
		if (r < 0)
			return r;
	}
	*tx_slot(c, c->tx_end) = (struct tx_slot){
		.state = TX_RESERVED,
		.reserved = (uint32_t)size,
		.dest = dest,
		.gen = gen,
	};
	*ret_msg = (struct psyne_msg){
		.data = tx_at(c, c->tx_end) + PSYNE_FRAME_HDR_SIZE,
		.size = size,
		.priv = { c->tx_end, TAG_TX },
	};
	c->tx_end++;
	return 0;
}

static int udp_commit(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct udp_chan *c = chan(ch);
	struct tx_slot *s = own_tx(c, msg);
	int r;

	if (!s || msg->size > s->reserved)
		return -EINVAL;
	s->size = (uint32_t)msg->size;
	s->type = msg->type;
	s->state = TX_READY;
	r = tx_flush(c, msg->priv[0]);
	if (r < 0)
		return r;
	msg->priv[1] = 0;
	return 0;
}

static void udp_cancel(struct psyne_channel *ch, struct psyne_msg *msg)
{
	struct udp_chan *c = chan(ch);
	struct tx_slot *s = own_tx(c, msg);

	if (!s)
		return;
	if (msg->priv[0] + 1 == c->tx_end)
		c->tx_end--; /* the newest: just forget it */
	else
		s->state = TX_CANCELLED;
	msg->priv[1] = 0;
	(void)tx_flush(c, UINT64_MAX); /* it may have held back committed ones */
}

/* ---- the rest ------------------------------------------------------------------------ */

static int udp_stats(struct psyne_channel *ch, struct psyne_stats *ret)
{
	struct udp_chan *c = chan(ch);

	*ret = (struct psyne_stats){
		.capacity = (uint64_t)c->rx_slots * c->stride,
		.used = (c->rx_filled - c->rx_free + c->tx_end - c->tx_sent) * c->stride,
		.mode = PSYNE_MODE_MPSC,
		.producers = c->acct.n_senders,
		.messages = c->sent,
		.bytes = c->sent_bytes,
		.received = c->received,
		.received_bytes = c->received_bytes,
	};
	return 0;
}

PSYNE_API int psyne_channel_udp_stats(struct psyne_channel *ch, struct psyne_udp_stats *ret_stats)
{
	struct udp_chan *c;

	if (!ch || !ret_stats)
		return -EINVAL;
	if (ch->ops != &psyne__transport_udp)
		return -EOPNOTSUPP;
	c = chan(ch);
	*ret_stats = c->acct.stats;
	ret_stats->senders = c->acct.n_senders;
	ret_stats->max_msg = c->max_msg;
	return 0;
}

static void udp_close(struct psyne_channel *ch)
{
	struct udp_chan *c = chan(ch);
	uint64_t deadline = deadline_from_timeout_ms((int)UDP_LINGER_MS);

	/* Reservations are cancelled; what was committed gets a while to go out. */
	for (uint64_t pos = c->tx_sent; pos < c->tx_end; pos++)
		if (tx_slot(c, pos)->state == TX_RESERVED)
			tx_slot(c, pos)->state = TX_CANCELLED;
	for (;;) {
		(void)tx_flush(c, UINT64_MAX);
		if (!tx_queued(c) || udp_wait(c, false, deadline) < 0)
			break;
	}
	udp_free(c);
}

const struct psyne_transport psyne__transport_udp = {
	.scheme = "udp",
	.open = udp_open,
	.close = udp_close,
	.reserve = udp_reserve,
	.commit = udp_commit,
	.cancel = udp_cancel,
	.receive = udp_receive,
	.release = udp_release,
	.stats = udp_stats,
};
