/* SPDX-License-Identifier: MIT */
/*
 * libanarchy: userspace access to the anarchy eGPU link (/dev/anarchyN).
 *
 * A link is opened, its rings set up and mapped once (anarchy_link_map()), and then
 * records move without a system call in the common case: the sender reserves space in
 * the TX ring, writes the record in place and commits it; the receiver gets a pointer
 * into the RX ring and releases the record when done. The module is kicked only when it
 * asked to be (it is idle), see the UAPI header.
 *
 * Every function returns 0 (or a documented count) on success and a negative errno on
 * failure. A link is used by one thread at a time; different links are independent.
 */
#ifndef ANARCHY_H
#define ANARCHY_H

#include <stdbool.h>
#include <stdint.h>

#include "uapi/anarchy.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ANARCHY_API __attribute__((visibility("default")))
#else
#define ANARCHY_API
#endif

struct anarchy_link;

/* Opens a link: "/dev/anarchyN", or "N" for /dev/anarchyN (then $ANARCHY_DEV_DIR, default
 * /dev, is where to look). flags: O_NONBLOCK or 0. Errors: those of open(2); -EPROTO
 * when the module's ABI major differs from this library's. */
ANARCHY_API int anarchy_link_open(const char *name, int flags, struct anarchy_link **ret_link);

/* Closes the link, unmapping its rings; accepts NULL. Returns NULL. */
ANARCHY_API struct anarchy_link *anarchy_link_close(struct anarchy_link *link);

/* The device's file descriptor, for poll() alongside others. Valid until close. */
ANARCHY_API int anarchy_link_fd(const struct anarchy_link *link);

ANARCHY_API int anarchy_link_version(struct anarchy_link *link, struct anarchy_version *ret);
ANARCHY_API int anarchy_link_get_info(struct anarchy_link *link, struct anarchy_link_info *ret);

/* Changes the parameters named in p->mask (CAP_SYS_ADMIN: -EPERM otherwise). */
ANARCHY_API int anarchy_link_set_params(struct anarchy_link *link, const struct anarchy_params *p);

/* Lets the link come up (true) or takes it down and keeps it down (false). CAP_SYS_ADMIN. */
ANARCHY_API int anarchy_link_connect(struct anarchy_link *link, bool connect);

/* Sets up and maps the rings: sizes are powers of two, ANARCHY_RING_MIN..ANARCHY_RING_MAX.
 * -EBUSY when another open file owns the link's rings. */
ANARCHY_API int anarchy_link_map(struct anarchy_link *link, uint32_t tx_size, uint32_t rx_size);

/* The largest record payload the TX ring takes. 0 before anarchy_link_map(). */
ANARCHY_API uint32_t anarchy_link_max_record(const struct anarchy_link *link);

/*
 * Reserves a record of len payload bytes in the TX ring; *ret_buf points at where to
 * write it, valid until anarchy_link_commit(). -EAGAIN when the ring has no room now
 * (wait for POLLOUT, or use anarchy_link_send()), -EMSGSIZE when len is over the max,
 * -EPROTO when the module stopped reading the ring, -EBUSY when a reservation is open.
 */
ANARCHY_API int anarchy_link_reserve(struct anarchy_link *link, uint32_t len, void **ret_buf);

/* Publishes the reserved record with the given type, and kicks the module if it asked.
 * Returns 0, or -ENOLINK when the link is down (the record stays queued and goes when
 * the link is back). */
ANARCHY_API int anarchy_link_commit(struct anarchy_link *link, uint16_t type);

/* Copies len bytes into a record and commits it, waiting up to timeout_ms (-1: for ever,
 * 0: not at all) for room. -ETIMEDOUT, or any error of reserve and commit. */
ANARCHY_API int anarchy_link_send(struct anarchy_link *link, const void *data, uint32_t len,
				  uint16_t type, int timeout_ms);

/* Bytes committed to the TX ring that the far host has not acknowledged yet. */
ANARCHY_API uint32_t anarchy_link_unacked(const struct anarchy_link *link);

/* Waits up to timeout_ms until every committed record is delivered: -ETIMEDOUT, -ENOLINK
 * (the link went down meanwhile; the records stay queued), -EPROTO. */
ANARCHY_API int anarchy_link_flush(struct anarchy_link *link, int timeout_ms);

/*
 * The oldest record of the RX ring: *ret_data points at its payload in the ring, valid
 * until anarchy_link_release(). -EAGAIN when there is none (wait for POLLIN), -EPROTO when
 * the ring holds a malformed record (a module bug), -EBUSY when one is held.
 */
ANARCHY_API int anarchy_link_receive(struct anarchy_link *link, const void **ret_data,
				     uint32_t *ret_len, uint16_t *ret_type);

/* Gives the record from anarchy_link_receive() back to the ring, whether the link is up
 * or not (a link that is down reads the ring again when it is back). */
ANARCHY_API int anarchy_link_release(struct anarchy_link *link);

/* Like receive, waiting up to timeout_ms (-1: for ever) for a record: -ETIMEDOUT. */
ANARCHY_API int anarchy_link_receive_wait(struct anarchy_link *link, const void **ret_data,
					  uint32_t *ret_len, uint16_t *ret_type, int timeout_ms);

/* Waits up to timeout_ms for any of POLLIN, POLLOUT, POLLPRI in events; returns the
 * events that are ready (a positive mask), or -ETIMEDOUT. */
ANARCHY_API int anarchy_link_wait(struct anarchy_link *link, short events, int timeout_ms);

/* Reads the oldest event without waiting: 0, or -EAGAIN when there is none. */
ANARCHY_API int anarchy_link_read_event(struct anarchy_link *link, struct anarchy_event *ret);

/* Names, for messages: "up", "link-down", ... ("unknown" for values not defined). */
ANARCHY_API const char *anarchy_state_to_string(uint32_t state);
ANARCHY_API const char *anarchy_event_to_string(uint32_t type);

#ifdef __cplusplus
}
#endif

#endif /* ANARCHY_H */
