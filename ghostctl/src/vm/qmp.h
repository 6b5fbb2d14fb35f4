/* SPDX-License-Identifier: MIT */
/*
 * A QMP client: QEMU's machine protocol over a unix stream socket, JSON through jansson.
 * `ghostctl vm` uses it for status, stop, snapshots and the live stats of `status --watch`.
 *
 * QEMU is another process and its bytes are hostile. The stream is newline-delimited JSON
 * (QEMU must not be run with pretty=on); each line is at most GC_QMP_LINE_MAX bytes and must
 * be a JSON object that is a greeting, a reply ("return" or "error", with the id we sent) or
 * an event. jansson rejects invalid UTF-8, NUL characters, duplicate keys and nesting deeper
 * than JSON_PARSER_MAX_DEPTH (2048 in jansson 2.14).
 *
 * Errors every call may return:
 *   -ETIMEDOUT    the timeout passed (timeout_ms < 0 waits forever, 0 does not wait)
 *   -ECONNRESET   QEMU closed the connection (quit, exit, crash); also a failed write
 *   -EREMOTEIO    QEMU answered with an error; gc_qmp_last_error() holds its class and desc
 *   -EMSGSIZE     a line longer than GC_QMP_LINE_MAX
 *   -EPROTO       a line that is not a QMP message: not JSON or not an object, invalid
 *                 UTF-8, too deep, a reply to an id we never sent, a missing or mistyped field
 *   -ENOMEM, and the errno of a failed socket call
 * -ECONNRESET, -EMSGSIZE and -EPROTO are sticky: the byte stream can no longer be trusted, so
 * every later call on that connection fails the same way (events queued before stay
 * readable). A reply that comes after its command timed out is dropped quietly.
 *
 * A struct gc_qmp is not thread-safe: one thread uses it at a time.
 */
#ifndef GC_VM_QMP_H
#define GC_VM_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

/* The longest line accepted from QEMU, newline excluded. */
#define GC_QMP_LINE_MAX (4u * 1024 * 1024)
/* Events kept while nobody reads them; past this the oldest is dropped and counted. */
#define GC_QMP_EVENTS_MAX 256u

struct gc_qmp;

struct gc_qmp_version {
	unsigned major, minor, micro;
	const char *package; /* "Debian 1:7.2+dfsg-7", or "" */
};

struct gc_qmp_error {
	const char *class; /* "GenericError", "CommandNotFound", "DeviceNotActive", ... */
	const char *desc;  /* QEMU's own words, for the user */
};

/*
 * Connects to QEMU's QMP socket at socket_path, reads the greeting and leaves capabilities
 * negotiation with qmp_capabilities. While the socket does not exist yet or refuses
 * connections (QEMU is starting), it retries until timeout_ms has passed, which covers the
 * whole handshake. A second greeting during negotiation (QEMU can send one to a client that
 * connects while it starts) makes it negotiate again; after it, a greeting is -EPROTO.
 * Returns 0, -ETIMEDOUT, -ENAMETOOLONG (path too long for a unix socket), -EPROTO (not a
 * QMP greeting), or an error above. With timeout_ms == 0 a missing socket is
 * -ENOENT and a refusing one -ECONNREFUSED.
 */
int gc_qmp_open(const char *socket_path, int timeout_ms, struct gc_qmp **ret_qmp);

/* Closes the connection and frees q and its queued events. NULL-safe; returns NULL. */
struct gc_qmp *gc_qmp_close(struct gc_qmp *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gc_qmp *, gc_qmp_close);

/* The socket, for poll() by callers that wait on more than QMP; readable means "call
 * gc_qmp_next_event() with timeout 0". Owned by q. */
int gc_qmp_fd(const struct gc_qmp *q);

/* QEMU's version from the greeting; valid until gc_qmp_close(). */
const struct gc_qmp_version *gc_qmp_version(const struct gc_qmp *q);

/* QEMU's pid from SO_PEERCRED, or 0 when unknown (another pid namespace). */
pid_t gc_qmp_peer_pid(const struct gc_qmp *q);

/*
 * Runs one command and waits up to timeout_ms for its reply. arguments is borrowed and may
 * be NULL. Events read meanwhile are queued for gc_qmp_next_event(). On success, when
 * ret_return is not NULL, it receives a new reference to the reply's "return" value.
 * Returns 0, -EREMOTEIO when QEMU answered with an error (see gc_qmp_last_error()),
 * -EINVAL for a NULL or empty command, or an error above.
 */
int gc_qmp_command(struct gc_qmp *q, const char *command, json_t *arguments, int timeout_ms,
		   json_t **ret_return);

/*
 * The error of the last call that returned -EREMOTEIO, or NULL if the last command did not
 * fail that way. Valid until the next call on q.
 */
const struct gc_qmp_error *gc_qmp_last_error(const struct gc_qmp *q);

/*
 * Takes the oldest queued event, reading from QEMU for up to timeout_ms if there is none.
 * *ret_event receives a new reference to the whole event object ("event", "data",
 * "timestamp"). Returns 0, or -ETIMEDOUT, -ECONNRESET, ... once nothing is queued.
 */
int gc_qmp_next_event(struct gc_qmp *q, int timeout_ms, json_t **ret_event);

/*
 * Like gc_qmp_next_event() for the oldest event called name ("SHUTDOWN"); other events stay
 * queued in order. ret_event may be NULL.
 */
int gc_qmp_wait_event(struct gc_qmp *q, const char *name, int timeout_ms, json_t **ret_event);

/* How many events were dropped because the queue was full. */
uint64_t gc_qmp_events_dropped(const struct gc_qmp *q);

/*
 * query-status: the run state ("running", "paused", "prelaunch", "shutdown", ...) as a new
 * string, and whether vCPUs run. Either output may be NULL.
 */
int gc_qmp_query_status(struct gc_qmp *q, int timeout_ms, char **ret_status, bool *ret_running);

/* Asks the guest to power off (ACPI); the guest may ignore it. */
int gc_qmp_system_powerdown(struct gc_qmp *q, int timeout_ms);

/*
 * Makes QEMU exit at once. Returns 0 when QEMU acknowledged or closed the connection (it may
 * close before answering); later calls return -ECONNRESET.
 */
int gc_qmp_quit(struct gc_qmp *q, int timeout_ms);

/*
 * Stops the VM: a graceful system_powerdown, then waits up to timeout_ms for QEMU to close
 * the connection (it exits once the guest powered off), then a forced quit. Returns 0 when
 * the guest shut down by itself, 1 when it had to be forced, or an error.
 */
int gc_qmp_shutdown(struct gc_qmp *q, int timeout_ms);

/*
 * human-monitor-command: runs an HMP command line ("info snapshots") and hands back its
 * output as a new string with QEMU's "\r\n" turned into "\n". HMP text is for people; code
 * should prefer the structured QMP commands.
 */
int gc_qmp_hmp(struct gc_qmp *q, const char *command_line, int timeout_ms, char **ret_output);

/* Live counters, for `ghostctl vm status --watch`. */
struct gc_qmp_vcpu {
	int64_t cpu_index;
	int64_t thread_id; /* the host thread running it (one thread for all under 1-thread TCG) */
	bool has_cpu_time; /* from /proc/PID/task/TID/schedstat when QEMU's pid is known */
	uint64_t cpu_time_ns; /* time the thread spent on a CPU */
};

struct gc_qmp_block_stats {
	char *device;	 /* the -drive id ("d0"); "" for a -blockdev node */
	char *node_name; /* "disk0", or "" */
	uint64_t rd_bytes, wr_bytes;
	uint64_t rd_operations, wr_operations, flush_operations;
	uint64_t rd_total_time_ns, wr_total_time_ns;
};

struct gc_qmp_nic_stats {
	char *name;	   /* the NIC ("virtio-net-pci.0", or its id=) */
	char *model;	   /* "virtio-net-pci", or "" */
	char *macaddr;	   /* "52:54:00:12:34:56", or "" */
	char *peer;	   /* its netdev ("n0"), or "" */
	char *peer_type;   /* "tap", "user", "bridge", ..., or "" */
	char *ifname;	   /* the host interface of a tap or bridge netdev, or "" */
	bool has_counters; /* rx and tx below are valid */
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets; /* as the guest sees them */
};

/*
 * Where each number comes from, in QEMU 7.2:
 *   vcpus      query-cpus-fast (cpu-index, thread-id), plus the thread's schedstat
 *   memory     query-memory-size-summary (base-memory, plugged-memory), and query-balloon
 *              (actual) when a balloon device is active (DeviceNotActive otherwise)
 *   blocks     query-blockstats, one entry per device or node
 *   nics       QEMU 7.2 has no QMP query for network counters: query-stats covers only KVM's
 *              own statistics (and returns nothing under TCG), query-rx-filter has no
 *              counters. NICs and their netdevs come from HMP `info network`; counters are
 *              read from /sys/class/net/IFNAME/statistics for tap netdevs (swapped: the
 *              tap's rx is the guest's tx). Other netdev types (user, socket) have none.
 */
struct gc_qmp_stats {
	uint64_t timestamp_ns; /* CLOCK_MONOTONIC when taken, to turn two snapshots into rates */
	size_t n_vcpus;
	struct gc_qmp_vcpu *vcpus;
	uint64_t memory_base, memory_plugged;
	bool has_balloon;
	uint64_t balloon_actual;
	size_t n_blocks;
	struct gc_qmp_block_stats *blocks;
	size_t n_nics;
	struct gc_qmp_nic_stats *nics;
};

/* Takes one snapshot of the counters; timeout_ms bounds each QMP command it runs. */
int gc_qmp_query_stats(struct gc_qmp *q, int timeout_ms, struct gc_qmp_stats **ret_stats);
/* NULL-safe; returns NULL. */
struct gc_qmp_stats *gc_qmp_stats_free(struct gc_qmp_stats *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gc_qmp_stats *, gc_qmp_stats_free);

/* Internal snapshots of a qcow2 disk, as query-named-block-nodes shows them. */
struct gc_qmp_snapshot {
	char *id;		/* "1" */
	char *name;		/* the tag */
	uint64_t vm_state_size; /* 0 for a disk-only snapshot */
	uint64_t date_sec;
	uint32_t date_nsec;
	uint64_t vm_clock_ns;
};

struct gc_qmp_snapshot_list {
	size_t n;
	struct gc_qmp_snapshot *snapshots;
};

/*
 * Lists the snapshots of the block node called node ("disk0"), from the structured
 * query-named-block-nodes (flat) rather than HMP `info snapshots`, whose text is for people.
 * A node without snapshots gives an empty list; -ENOENT if there is no such node.
 */
int gc_qmp_snapshot_list(struct gc_qmp *q, const char *node, int timeout_ms,
			 struct gc_qmp_snapshot_list **ret_list);
/* NULL-safe; returns NULL. */
struct gc_qmp_snapshot_list *gc_qmp_snapshot_list_free(struct gc_qmp_snapshot_list *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gc_qmp_snapshot_list *, gc_qmp_snapshot_list_free);

/*
 * Snapshots of a running or paused VM, as QMP jobs (QEMU >= 6.0): snapshot-save,
 * snapshot-load and snapshot-delete. Each starts the job, waits up to timeout_ms for it to
 * conclude (JOB_STATUS_CHANGE events, checked against query-jobs so that a dropped event
 * cannot hang it), dismisses it, and returns 0, or -EREMOTEIO with the job's error as
 * gc_qmp_last_error() (class "JobFailed"). On a timeout the job is cancelled and dismissed
 * as far as QEMU allows, and -ETIMEDOUT returned.
 *
 * vmstate_node is the qcow2 node that stores the RAM and device state; nodes is a
 * NULL-terminated list of every node to snapshot (it must include vmstate_node), or NULL
 * for vmstate_node alone.
 */
int gc_qmp_snapshot_save(struct gc_qmp *q, const char *tag, const char *vmstate_node,
			 const char *const *nodes, int timeout_ms);
int gc_qmp_snapshot_load(struct gc_qmp *q, const char *tag, const char *vmstate_node,
			 const char *const *nodes, int timeout_ms);
int gc_qmp_snapshot_delete(struct gc_qmp *q, const char *tag, const char *const *nodes,
			   int timeout_ms);

#endif
