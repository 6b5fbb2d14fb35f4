/* SPDX-License-Identifier: MIT */
/*
 * The stats page of a network handle (unix://, tcp://, tls://): what `psyne stat` shows of
 * it, published without a daemon and without any thread or socket that answers queries.
 *
 * Each handle owns a small memfd, sized once and sealed so that it never shrinks or grows,
 * keeps it up to date from code that already holds the handle's lock, and announces it
 * under the abstract socket name psyne/1/<uid>/net/<pid>/<fd> (abstract.h). A reader of
 * the same uid opens /proc/<pid>/fd/<fd> read-only and maps it. The name goes with the
 * handle or its process; the page with the last one to have it open.
 *
 * Page layout (offsets from the start; fixed-width fields, pinned by _Static_assert):
 *
 *   0      struct psyne_netstat_hdr       identity, URI, the handle's counters
 *   1024   struct psyne_netstat_peer[64]  one entry per session, the first 64 of them
 *
 * Consistency: one writer, the handle, under its lock. The header's counters and each peer
 * entry are *sections*, each with a generation word used as a seqlock: odd while the
 * section is written. The writer makes it odd, stores the values with release stores (each
 * one ordered after the odd generation), then makes it even with a release store. A reader
 * loads the generation with acquire, the values with acquire, then the generation again,
 * and keeps the values when both loads agree on an even number. A section is a few cache
 * lines, so a reader rarely needs a second try even while messages stream; sections are
 * consistent one by one, not with each other.
 *
 * Nothing in a page is secret: its URI is scheme://address, plus "?listen" for a
 * listener, never the options (TLS and pre-shared keys among them).
 */
#ifndef PSYNE_NETSTAT_H
#define PSYNE_NETSTAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PSYNE_NETSTAT_MAGIC 0x534e5950u /* "PYNS" little-endian */
#define PSYNE_NETSTAT_VERSION_MAJOR 1u
#define PSYNE_NETSTAT_VERSION_MINOR 1u /* 1: bad_sessions, a peer's last_error */
#define PSYNE_NETSTAT_HDR_SIZE 1024u
#define PSYNE_NETSTAT_PEER_SIZE 256u
#define PSYNE_NETSTAT_MAX_PEERS 64u
#define PSYNE_NETSTAT_PAGE_SIZE                                                                    \
	(PSYNE_NETSTAT_HDR_SIZE + PSYNE_NETSTAT_MAX_PEERS * PSYNE_NETSTAT_PEER_SIZE)
#define PSYNE_NETSTAT_URI_MAX 512u
#define PSYNE_NETSTAT_NAME_MAX 128u

#define PSYNE_NETSTAT_F_LISTENER 1u

/* A session's state, as the stream engine names them (net_internal.h). */
enum {
	PSYNE_NETSTAT_PEER_CONNECTING, /* dialer: connect() in progress */
	PSYNE_NETSTAT_PEER_TLS,	       /* dialer: TLS handshake in progress */
	PSYNE_NETSTAT_PEER_HELLO,      /* connected, waiting for the other side's HELLO */
	PSYNE_NETSTAT_PEER_UP,
	PSYNE_NETSTAT_PEER_DOWN, /* no connection: the dialer dials again, the listener waits */
	PSYNE_NETSTAT_PEER_GONE, /* session over, freed once drained */
	_PSYNE_NETSTAT_PEER_MAX,
};

struct psyne_netstat_hdr {
	/* line 0: identity, written once before the page is published */
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	uint32_t header_size; /* offset of the peer table */
	uint32_t peer_size;   /* bytes per peer entry */
	uint32_t max_peers;   /* entries in the table */
	uint32_t flags;	      /* PSYNE_NETSTAT_F_* */
	uint64_t page_size;   /* header_size + max_peers * peer_size */
	uint64_t capacity;    /* ring bytes, per session and direction */
	uint32_t mode;	      /* PSYNE_MODE_* */
	uint32_t reserved0;
	uint64_t reserved1[2];
	/* lines 1 to 8: scheme://address, plus "?listen" for a listener; NUL-terminated */
	char uri[PSYNE_NETSTAT_URI_MAX];
	/* lines 9 and 10: the handle's counters, one section */
	_Atomic uint64_t gen;
	_Atomic uint64_t sent; /* messages committed through this handle */
	_Atomic uint64_t sent_bytes;
	_Atomic uint64_t received; /* messages handed to this handle's caller */
	_Atomic uint64_t received_bytes;
	_Atomic uint64_t reconnects; /* times a session came back on a new connection */
	_Atomic uint64_t dropped;    /* connections refused or dropped before a session had them */
	_Atomic uint32_t n_peers;    /* entries of the peer table in use */
	_Atomic uint32_t sessions;   /* sessions of the handle: n_peers, or more past the table */
	_Atomic uint32_t handshakes; /* connections accepted and still in their handshake */
	_Atomic uint32_t last_error; /* errno of why the last session ended; 0 while none did */
	_Atomic uint64_t bad_sessions; /* sessions dropped for breaking the protocol (1.1) */
	uint64_t reserved2[46];
};
_Static_assert(sizeof(struct psyne_netstat_hdr) == PSYNE_NETSTAT_HDR_SIZE, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, capacity) == 32, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, uri) == 64, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, gen) == 576, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, n_peers) == 632, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, handshakes) == 640, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_hdr, bad_sessions) == 648, "netstat abi");

struct psyne_netstat_peer {
	/* line 0: state and counters, one section with the name */
	_Atomic uint64_t gen;
	_Atomic uint32_t state;	     /* PSYNE_NETSTAT_PEER_* */
	_Atomic uint32_t last_error; /* errno of why its last connection, or the session,
				      * ended; 0 while none did (1.1) */
	_Atomic uint64_t tx_queued;  /* bytes of the tx ring reserved or sent, not acknowledged */
	_Atomic uint64_t rx_queued;  /* bytes of the rx ring read, not yet released */
	_Atomic uint64_t messages_tx;
	_Atomic uint64_t bytes_tx;
	_Atomic uint64_t messages_rx;
	_Atomic uint64_t bytes_rx;
	/* line 1 */
	_Atomic uint64_t retransmits; /* times unacknowledged messages went out again */
	_Atomic uint64_t reconnects;  /* connections of the session after its first */
	uint64_t reserved1[6];
	/* lines 2 and 3: the peer's address, NUL-terminated and zero-padded, 8 bytes a word
	 * in memory order */
	_Atomic uint64_t name[PSYNE_NETSTAT_NAME_MAX / 8];
};
_Static_assert(sizeof(struct psyne_netstat_peer) == PSYNE_NETSTAT_PEER_SIZE, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_peer, state) == 8, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_peer, last_error) == 12, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_peer, retransmits) == 64, "netstat abi");
_Static_assert(offsetof(struct psyne_netstat_peer, name) == 128, "netstat abi");

/* The writer: one handle's page. Process-local; the handle's lock guards it. */
struct psyne_netstat {
	struct psyne_netstat_hdr *hdr; /* the mapping, PSYNE_NETSTAT_PAGE_SIZE bytes */
	struct psyne_netstat_peer *peers;
	int memfd;
	int name_fd;				    /* the bound abstract name, once published */
	const void *owner[PSYNE_NETSTAT_MAX_PEERS]; /* which session each entry shows */
};

/*
 * Creates the page of a handle of `scheme` on `address` (a listener when `listener`), with
 * its identity written and every counter 0, sealed and mapped, not yet published. On
 * success *ret is a new page the caller owns and frees with psyne__netstat_free().
 * -ENOMEM, or what memfd_create(), ftruncate(), fcntl() and mmap() say.
 */
int psyne__netstat_new(const char *scheme, const char *address, bool listener, uint32_t mode,
		       uint64_t capacity, struct psyne_netstat **ret);

/* Binds the page's abstract name: from now on readers find it. 0 or a negative errno. */
int psyne__netstat_publish(struct psyne_netstat *s);

/* Unpublishes the page, then unmaps and closes it; NULL-safe. Returns NULL. */
struct psyne_netstat *psyne__netstat_free(struct psyne_netstat *s);

/* Opens a section: its generation goes odd. */
static inline void psyne__netstat_begin(_Atomic uint64_t *gen)
{
	uint64_t g = atomic_load_explicit(gen, memory_order_relaxed);

	atomic_store_explicit(gen, g + 1, memory_order_relaxed);
}

/* Closes a section: its generation goes even, after every value stored in it. */
static inline void psyne__netstat_end(_Atomic uint64_t *gen)
{
	uint64_t g = atomic_load_explicit(gen, memory_order_relaxed);

	atomic_store_explicit(gen, g + 1, memory_order_release);
}

/* Stores a value of an open section: ordered after the generation that opened it. */
static inline void psyne__netstat_put(_Atomic uint64_t *w, uint64_t v)
{
	atomic_store_explicit(w, v, memory_order_release);
}

static inline void psyne__netstat_put32(_Atomic uint32_t *w, uint32_t v)
{
	atomic_store_explicit(w, v, memory_order_release);
}

/*
 * The entry `i` for the session `owner`, for a full update: its name is written first (a
 * section of its own) when the entry showed another session or another name. NULL when `i`
 * is past the table.
 */
struct psyne_netstat_peer *psyne__netstat_claim(struct psyne_netstat *s, uint32_t i,
						const void *owner, const char *name);

/* Entries from `n` on show no session any more (the table holds n of them). */
void psyne__netstat_trim(struct psyne_netstat *s, uint32_t n);

/*
 * The entry `i` when it shows `owner`, for an update of its counters on the hot path;
 * NULL when it does not (yet): the next full update writes it.
 */
static inline struct psyne_netstat_peer *psyne__netstat_entry(struct psyne_netstat *s, uint32_t i,
							      const void *owner)
{
	if (i >= PSYNE_NETSTAT_MAX_PEERS || s->owner[i] != owner)
		return NULL;
	return &s->peers[i];
}

#endif
