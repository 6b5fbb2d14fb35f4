/* SPDX-License-Identifier: MIT */
/*
 * Read-only inspection of ring segments and of the ipc:// channels of this uid, and of the
 * stats pages of this uid's network handles (netstat.h), for tools (`psyne stat`). Nothing here
 * joins a channel: no slot is taken, no socket is bound, no lock is taken and no word of a segment
 * is written (it is mapped PROT_READ), so the channel's producers, consumers and their liveness
 * stay exactly as they were.
 *
 * A segment is another process's memory and hostile: every value read from it is checked
 * before it is used, and a corrupt one gives -EPROTO for that channel, never an access
 * outside the mapping. Counters of a live channel move while they are read: what comes
 * back is a snapshot, each value exact when read, the set not atomic.
 */
#ifndef PSYNE_INSPECT_H
#define PSYNE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "netstat.h"
#include "ring.h"

/* One slot in use: a handle that joined the channel. */
struct psyne_inspect_member {
	uint32_t slot;
	uint32_t pid;	     /* as the slot records it; 0 or absurd values when corrupt */
	uint64_t start_time; /* the process's start time in clock ticks, 0 when unknown */
	uint32_t role;	     /* PSYNE_ROLE_* bits; 0 until the handle sends or receives */
	bool alive;	     /* see psyne__inspect_check_alive(); true until it says otherwise */
	uint64_t messages;   /* committed by this handle */
	uint64_t bytes;
};

struct psyne_inspect_channel {
	char name[64]; /* from the segment header, NUL-terminated */
	uint32_t mode; /* PSYNE_MODE_* */
	uint64_t capacity;
	uint64_t used;	    /* bytes reserved or not yet released, as psyne_channel_stats() */
	uint32_t producers; /* members with the producer role (alive ones, once checked) */
	uint32_t consumers;
	uint64_t messages; /* committed over the channel's life, members that left included */
	uint64_t bytes;
	/*
	 * Committed and not yet taken by a consumer, found by walking the records between the
	 * consumer cursor and the producer cursor. `queued_known` is false when that walk did
	 * not add up (the ring moved under it three times, or it is corrupt) or was too long
	 * to walk; received then means nothing.
	 */
	bool queued_known;
	uint64_t queued;
	uint64_t queued_bytes;
	uint64_t received; /* taken by consumers: messages - queued */
	uint64_t received_bytes;
	uint64_t dropped;   /* lost with a consumer that died holding them */
	uint64_t reclaimed; /* reservations of producers that died before committing */
	uint32_t epoch;	    /* bumped on every join, leave and reap: membership changed */
	uint64_t id;	    /* the segment's inode: tells a re-created channel from the old one */
	uint32_t n_members;
	struct psyne_inspect_member members[PSYNE_RING_SLOTS];
};

/*
 * Reads the segment `mem` of `size` bytes (mapped read-only is fine: nothing is written)
 * into *ret. `name`, when not NULL, must be the name in the header. Members come back with
 * `alive` set; see psyne__inspect_check_alive(). Returns 0, -EPROTO (corrupt) or
 * -EPROTONOSUPPORT (another major version), as psyne__ring_check().
 */
int psyne__inspect_segment(const void *mem, uint64_t size, const char *name,
			   struct psyne_inspect_channel *ret);

/*
 * Looks at the process behind each member through /proc/PID/stat (its start time must be
 * the one recorded, and it must not be a zombie), clears `alive` for the dead ones, and
 * counts only live members in `producers` and `consumers`. A dead member stays in its slot
 * until a waiting survivor reaps it; this never reaps.
 */
void psyne__inspect_check_alive(struct psyne_inspect_channel *ch);

/*
 * Parses one abstract socket path as /proc/net/unix lists it: "@psyne/1/UID/NAME/m/PID/FD"
 * with UID equal to `uid` and a valid NAME. Returns 0 and fills the ret_ values, or
 * -EINVAL for any other path (another program's socket, a lock name, junk).
 */
int psyne__inspect_parse_socket(const char *path, uid_t uid, char ret_name[static 64],
				pid_t *ret_pid, int *ret_fd);

/*
 * Called once per channel. On success `error` is 0 and `ch` the channel; otherwise `error`
 * says why the channel could not be read (-EPROTO, -EPROTONOSUPPORT, -EACCES, ...), `ch` is
 * NULL and `name` the name its sockets carry. A negative return stops the listing and is
 * returned by psyne__inspect_ipc().
 */
typedef int (*psyne_inspect_func_t)(const char *name, const struct psyne_inspect_channel *ch,
				    int error, void *userdata);

/*
 * Lists the ipc:// channels of this uid, in name order, or only the one called `name` when
 * it is not NULL, and calls `func` for each. A channel whose members all vanish while it is
 * looked at is left out. Returns the number of channels passed to `func`, or a negative
 * errno (/proc/net/unix unreadable, -ENOMEM, or what `func` returned).
 */
int psyne__inspect_ipc(const char *name, psyne_inspect_func_t func, void *userdata);

/* One session of a network handle, as its stats page shows it. */
struct psyne_inspect_peer {
	char name[PSYNE_NETSTAT_NAME_MAX]; /* the peer's address: printable ASCII */
	uint32_t state;			   /* PSYNE_NETSTAT_PEER_* */
	uint64_t tx_queued;		   /* bytes sent or to send, not yet acknowledged */
	uint64_t rx_queued;		   /* bytes received, not yet released */
	uint64_t messages_tx;
	uint64_t bytes_tx;
	uint64_t messages_rx;
	uint64_t bytes_rx;
	uint64_t retransmits;
	uint64_t reconnects;
	int last_error; /* why its last connection, or the session, ended: a negative errno; 0 */
};

/* A network handle (unix://, tcp://, tls://), as its stats page shows it. */
struct psyne_inspect_net {
	char uri[PSYNE_NETSTAT_URI_MAX]; /* scheme://address, "?listen" for a listener */
	bool listener;
	uint32_t mode; /* PSYNE_MODE_* */
	uint64_t capacity;
	uint64_t sent; /* messages committed through the handle */
	uint64_t sent_bytes;
	uint64_t received; /* messages its caller received */
	uint64_t received_bytes;
	uint64_t reconnects;
	uint64_t dropped;      /* connections refused or dropped before a session had them */
	uint32_t sessions;     /* may exceed n_peers: the page lists the first 64 */
	uint32_t handshakes;   /* connections accepted, still in their handshake */
	int last_error;	       /* why the last session ended, a negative errno; 0 if none did */
	uint64_t bad_sessions; /* sessions dropped for breaking the protocol */
	uint32_t up;	       /* peers listed whose session is up */
	uint64_t used;	       /* tx_queued and rx_queued summed over the peers listed */
	/*
	 * False when a section (the counters, or a peer) was being written at every look:
	 * its values are then the last look's, each one as written, the set maybe not.
	 */
	bool consistent;
	uint64_t id; /* the page's inode: tells a new handle from an old one */
	uint32_t n_peers;
	struct psyne_inspect_peer peers[PSYNE_NETSTAT_MAX_PEERS];
};

/*
 * Reads the stats page `mem` of `size` bytes (mapped read-only is fine) into *ret. Returns
 * 0, -EPROTO (corrupt: a size, offset, count, state, mode or string out of bounds) or
 * -EPROTONOSUPPORT (another major version). Never reads outside [mem, mem + size).
 */
int psyne__inspect_net_page(const void *mem, uint64_t size, struct psyne_inspect_net *ret);

/*
 * Parses one abstract socket path as /proc/net/unix lists it: "@psyne/1/UID/net/PID/FD"
 * with UID equal to `uid`. Returns 0 and fills the ret_ values, or -EINVAL for any other
 * path.
 */
int psyne__inspect_parse_net_socket(const char *path, uid_t uid, pid_t *ret_pid, int *ret_fd);

/*
 * Called once per network handle, found as PID/FD. On success `error` is 0 and `net` the
 * handle; otherwise `error` says why its page could not be read and `net` is NULL. A
 * negative return stops the listing and is returned by psyne__inspect_net().
 */
typedef int (*psyne_inspect_net_func_t)(pid_t pid, int fd, const struct psyne_inspect_net *net,
					int error, void *userdata);

/*
 * Lists the network handles of this uid, by pid and fd, and calls `func` for each. A handle
 * that vanishes while it is looked at is left out. Returns the number of handles passed to
 * `func`, or a negative errno (/proc/net/unix unreadable, -ENOMEM, or what `func` returned).
 */
int psyne__inspect_net(psyne_inspect_net_func_t func, void *userdata);

#endif
