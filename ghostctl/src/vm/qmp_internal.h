/* SPDX-License-Identifier: MIT */
/*
 * The socketless half of the QMP client, for its tests and fuzz harness: the framing and
 * classification of what QEMU sends, fed from buffers, and the converters from QMP replies
 * to ghostctl's structures. Nothing outside qmp.c, its test and its fuzz harness includes
 * this.
 */
#ifndef GC_VM_QMP_INTERNAL_H
#define GC_VM_QMP_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "vm/qmp.h"

/* A client without a socket (gc_qmp_fd() is -EBADF), waiting for a greeting. NULL on OOM. */
struct gc_qmp *gc_qmp__new(void);

/* Lowers the line limit (1..GC_QMP_LINE_MAX), so that a fuzzer reaches it. */
void gc_qmp__set_line_max(struct gc_qmp *q, size_t line_max);

/*
 * Takes bytes as read from QEMU: splits them into lines, parses and checks each, keeps the
 * greeting, queues events and holds the reply awaited after gc_qmp__request(). A partial
 * line is kept for the next call. A client made by gc_qmp__new() never completes
 * negotiation, so it takes repeated greetings. Returns 0, or the sticky -EMSGSIZE, -EPROTO,
 * -ENOMEM.
 */
int gc_qmp__feed(struct gc_qmp *q, const void *data, size_t size);

/* True once the greeting was read. */
bool gc_qmp__greeted(const struct gc_qmp *q);

/*
 * Builds the line that runs command (arguments borrowed, may be NULL) with a fresh id, and
 * from now awaits the reply with that id. *ret_line is a new string ending in "\n".
 */
int gc_qmp__request(struct gc_qmp *q, const char *command, json_t *arguments, char **ret_line);

/*
 * The awaited reply, once fed: 1 and its "return" value (a new reference, when ret_return
 * is not NULL), -EREMOTEIO for an error reply (gc_qmp_last_error() has it), 0 when it has
 * not come yet.
 */
int gc_qmp__take_reply(struct gc_qmp *q, json_t **ret_return);

/* Stops awaiting the reply (a timeout): when it comes after all, it is dropped. */
void gc_qmp__abandon(struct gc_qmp *q);

/* Takes the oldest queued event called name (any when NULL): 1, or 0 if none is queued. */
int gc_qmp__take_event(struct gc_qmp *q, const char *name, json_t **ret_event);

/* Converters: each checks the reply's shape and returns 0, -EPROTO or -ENOMEM. */
int gc_qmp__parse_vcpus(const json_t *reply, struct gc_qmp_stats *s);
int gc_qmp__parse_blockstats(const json_t *reply, struct gc_qmp_stats *s);
/* HMP `info network` text: NICs, their peers and tap ifnames (no counters). */
int gc_qmp__parse_info_network(const char *text, struct gc_qmp_stats *s);
/* query-named-block-nodes: the snapshots of node; -ENOENT if it is not there. */
int gc_qmp__parse_snapshots(const json_t *reply, const char *node,
			    struct gc_qmp_snapshot_list **ret_list);

#endif
