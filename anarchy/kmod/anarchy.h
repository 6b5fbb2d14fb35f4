/* SPDX-License-Identifier: GPL-2.0 */
/*
 * anarchy: internal declarations of the module.
 *
 * An endpoint (struct anarchy_ep) is one end of a link as this host sees it,
 * and one character device, /dev/anarchyN. Its protocol engine (anarchy_ep.c)
 * is the same in both modes; below it a lower layer moves DMA frames: the
 * simulated cable of test mode (anarchy_sim.c) or a Thunderbolt XDomain
 * service's rings (anarchy_tb.c).
 */
#ifndef ANARCHY_H
#define ANARCHY_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/thunderbolt.h>
#include <linux/uuid.h>
#include <linux/wait.h>

#include "anarchy_proto.h"

#define ANARCHY_MAX_LINKS 32
#define ANARCHY_POOL_FRAMES 256 /* DMA frames an endpoint may have in flight   \
				 */
#define ANARCHY_EVENT_QUEUE 64	/* events kept per open file */

struct anarchy_ep;
struct anarchy_file;

/* A DMA frame buffer. */
struct anarchy_buf {
	struct list_head list;
	struct anarchy_ep *owner; /* the endpoint whose pool it belongs to */
	u64 due_ns;		  /* test mode: when the far side may see it */
	struct ring_frame frame;  /* real mode: the DMA descriptor's frame */
	dma_addr_t dma;
	u32 len;
	u8 data[ANARCHY_FRAME_SIZE];
};

/* What the engine needs from the layer that moves frames. Called with ep->lock
 * held.
 */
struct anarchy_lower_ops {
	/* Sends buf (len bytes in data); takes it on success. -ENOSPC when the
	 * DMA ring is full (the lower layer wakes the engine when it has room),
	 * -ENOLINK when there is no far side.
	 */
	int (*xmit)(struct anarchy_ep *ep, struct anarchy_buf *buf);
	/* Gives back a received frame once the engine is done with it. */
	void (*rx_done)(struct anarchy_ep *ep, struct anarchy_buf *buf);
	/* Takes the link down (disconnect) or lets it come up (connect). */
	int (*set_connected)(struct anarchy_ep *ep, bool connected);
};

struct anarchy_gpu_props {
	u32 count;
	struct anarchy_gpu gpus[ANARCHY_MAX_GPUS];
};

/* Fault injection (debugfs), applied by the lower layer to frames this end
 * sends.
 */
struct anarchy_faults {
	atomic_t drop;	   /* drop the next N frames */
	atomic_t corrupt;  /* flip a byte in each of the next N frames */
	/* Hold every frame this much longer while non-zero . */
	atomic_t delay_us;
	atomic_t stall;	   /* non-zero: send nothing at all, like a hung host */
};

/* A debugfs file of an endpoint (anarchy_debugfs.c). */
struct anarchy_knob {
	struct anarchy_ep *ep;
	unsigned int id;
};

#define ANARCHY_KNOBS 5

/* The rings an open file set up. */
struct anarchy_rings {
	struct anarchy_ring_header *tx_hdr;
	u8 *tx_data;
	u32 tx_size;
	struct anarchy_ring_header *rx_hdr;
	u8 *rx_data;
	u32 rx_size;
	void *tx_mem; /* vmalloc_user(), header page then data */
	void *rx_mem;
	u32 tx_map_size;
	u32 rx_map_size;
	bool tx_dead;
};

struct anarchy_ep {
	struct kref ref;    /* the creator's, and one per open file */
	struct device *dev; /* the class device; NULL until registered */
	struct cdev *cdev;
	int index;
	bool simulated;

	const struct anarchy_lower_ops *ops;
	void *lower; /* the lower layer's own state */

	/* Protocol state: the engine thread and control paths hold lock. */
	struct mutex lock;
	struct task_struct *engine;
	wait_queue_head_t engine_wq;
	atomic_t kicked;
	u32 state;    /* ANARCHY_LINK_* */
	bool carrier; /* the lower layer sees a far side */
	bool admin_down;
	bool gone; /* the lower layer went away for good (real mode) */
	bool suspended;
	u64 boot_id;
	u64 peer_boot_id; /* of the far side we last talked to; 0: none */
	bool peer_knows_us;
	u64 last_heard_ns;
	u64 last_sent_ns;
	u64 next_hello_ns;
	u64 next_ping_ns;
	u64 ping_seq;
	u32 rtt_us;

	/* Far host, as negotiated and advertised. */
	uuid_t far_uuid;
	char far_name[ANARCHY_NAME_MAX];
	struct anarchy_gpu_props far_gpus;
	char local_name[ANARCHY_NAME_MAX];
	uuid_t local_uuid;

	/* Transmit side. */
	struct anarchy_rings *rings; /* of the owning file; NULL when none */
	struct anarchy_file *owner;
	u32 tx_epoch;
	u32 tx_tail; /* TX ring index up to which the far side has everything */
	u32 tx_acked;	 /* rseq of the record at tx_tail */
	u32 tx_pos;	 /* TX ring index of the next record to send */
	u32 tx_next;	 /* rseq of the record at tx_pos */
	/* Bytes of the record at tx_pos already sent in fragments. */
	u32 tx_frag_off;
	u32 tx_sent_max; /* one past the highest rseq ever sent in this epoch */
	u32 tx_sent_pos; /* TX ring index of tx_sent_max */
	u32 peer_window; /* the far side's free RX bytes, as last heard */
	u32 peer_rx_max; /* the largest record its RX ring takes; 0: no ring */
	bool too_big; /* the record too_big_rseq was reported too large */
	u32 too_big_rseq;
	u64 rto_ns;
	u64 rto_deadline_ns; /* 0: nothing in flight */
	u64 overflow_event_ns; /* when RING_OVERFLOW was last told */
	bool overflowing;

	/* Receive side. */
	/* Our copy: the one in the mapped header is the program's to spoil. */
	u32 rx_head;
	u32 rx_expected;
	u32 rx_epoch;
	bool rx_synced; /* rx_epoch and rx_expected are the far side's */
	bool ack_pending;
	u32 last_window;
	bool asm_active; /* a fragmented record is being assembled */
	u32 asm_rseq;
	u32 asm_off;
	u32 asm_skip;	  /* pad bytes before it, at rx_head */
	u32 asm_reserved; /* RX ring bytes it takes, pad included */
	u32 asm_len;
	u16 asm_type;

	/* Frames the lower layer delivered, oldest first (rx_lock). */
	spinlock_t rx_lock;
	struct list_head rx_queue;

	/* Frame buffers of this end (pool_lock). */
	spinlock_t pool_lock;
	struct list_head pool;
	unsigned int pool_free;

	/* Open files, for events (files_lock). */
	spinlock_t files_lock;
	struct list_head files;
	wait_queue_head_t poll_wq;

	/* Parameters. */
	u32 link_speed_mbps;
	u32 dma_rate_mbps;
	u32 bandwidth_cap_mbps;
	u32 latency_us;
	u32 log_level;
	struct anarchy_model model; /* of frames this end sends */

	struct anarchy_faults faults;
	struct anarchy_counters counters;
	struct dentry *debugfs;
	struct anarchy_knob knobs[ANARCHY_KNOBS];
};

/* An open /dev/anarchyN. */
struct anarchy_file {
	struct anarchy_ep *ep;
	struct list_head node;	     /* in ep->files */
	struct anarchy_rings *rings; /* owned; NULL before SETUP_RINGS */
	spinlock_t ev_lock;
	struct anarchy_event events[ANARCHY_EVENT_QUEUE];
	unsigned int ev_head, ev_count;
	u64 ev_seq;
	u64 ev_lost;
};

/* Module parameters and globals (anarchy_main.c). */
extern unsigned int anarchy_log_level;
extern char *anarchy_local_gpus;
extern struct class *anarchy_class;
extern struct dentry *anarchy_debugfs_root;
extern struct kmem_cache *anarchy_buf_cache;
extern dev_t anarchy_devt;
extern const struct attribute_group *anarchy_groups[];

/*
 * Logging at the link's run-time level (ANARCHY_PARAM_LOG_LEVEL, the log_level
 * parameter). Debug goes out at info level, so that it needs no dynamic debug.
 */
#define anarchy_log(ep, level, fn, fmt, ...)                            \
	do {                                                            \
		const struct anarchy_ep *ep_ = (ep);                    \
		if (ep_->log_level >= (level) && ep_->dev)              \
			fn(ep_->dev, fmt, ##__VA_ARGS__);               \
	} while (0)
#define ep_err(ep, fmt, ...) anarchy_log(ep, 3, dev_err, fmt, ##__VA_ARGS__)
#define ep_warn(ep, fmt, ...) anarchy_log(ep, 4, dev_warn, fmt, ##__VA_ARGS__)
#define ep_info(ep, fmt, ...) anarchy_log(ep, 6, dev_info, fmt, ##__VA_ARGS__)
#define ep_dbg(ep, fmt, ...) anarchy_log(ep, 7, dev_info, fmt, ##__VA_ARGS__)

/* anarchy_ep.c */
struct anarchy_ep *anarchy_ep_new(const struct anarchy_lower_ops *ops,
				  void *lower, bool simulated,
				  const char *local_name,
				  const uuid_t *local_uuid);
int anarchy_ep_register(struct anarchy_ep *ep);
void anarchy_ep_unregister(struct anarchy_ep *ep);
void anarchy_ep_flush(struct anarchy_ep *ep);
void anarchy_ep_put(struct anarchy_ep *ep);
struct anarchy_ep *anarchy_ep_get_by_minor(unsigned int minor);
void anarchy_ep_kick(struct anarchy_ep *ep);
void anarchy_ep_deliver(struct anarchy_ep *ep, struct anarchy_buf *buf);
void anarchy_ep_carrier(struct anarchy_ep *ep, bool up, const uuid_t *far_uuid,
			const struct anarchy_gpu_props *gpus);
void anarchy_ep_gone(struct anarchy_ep *ep);
void anarchy_ep_suspend(struct anarchy_ep *ep, bool suspend);
struct anarchy_buf *anarchy_buf_get(struct anarchy_ep *ep);
void anarchy_buf_put(struct anarchy_buf *buf);
void anarchy_ep_event(struct anarchy_ep *ep, u32 type, s32 error, u64 value);
void anarchy_ep_fill_info(struct anarchy_ep *ep,
			  struct anarchy_link_info *info);
int anarchy_ep_set_params(struct anarchy_ep *ep,
			  const struct anarchy_params *p);
int anarchy_ep_attach_rings(struct anarchy_ep *ep, struct anarchy_file *file,
			    struct anarchy_rings *rings);
void anarchy_ep_detach_rings(struct anarchy_ep *ep, struct anarchy_file *file);
int anarchy_ep_connect(struct anarchy_ep *ep, bool connect);
const char *anarchy_state_name(u32 state);
extern const struct file_operations anarchy_fops;

/* anarchy_props.c: the XDomain property directory, both ways. */
int anarchy_props_parse_gpus(const char *spec, struct anarchy_gpu_props *ret);
struct tb_property_dir *
anarchy_props_build(const uuid_t *uuid, const struct anarchy_gpu_props *gpus);
void anarchy_props_read(struct tb_property_dir *dir,
			struct anarchy_gpu_props *ret);
int anarchy_props_read_root(struct tb_property_dir *root,
			    struct anarchy_gpu_props *ret);

/* anarchy_sim.c: test mode. */
int anarchy_sim_init(unsigned int links);
void anarchy_sim_exit(void);
int anarchy_sim_plug(struct anarchy_ep *ep, bool plug);

/* anarchy_tb.c: real mode. */
int anarchy_tb_init(void);
void anarchy_tb_exit(void);

/* anarchy_debugfs.c */
void anarchy_debugfs_add(struct anarchy_ep *ep);

#endif /* ANARCHY_H */
