/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * anarchy: the Thunderbolt eGPU link, its userspace ABI.
 *
 * This header is the only definition shared by the kernel module (anarchy/kmod) and
 * userspace (libanarchy, ghostctl). Its layouts are pinned: fields are only appended,
 * every padding is an explicit reserved field that must be zero, and an incompatible
 * change bumps ANARCHY_ABI_MAJOR, which the other side rejects.
 *
 * One character device per link, /dev/anarchyN. The ioctls below are dispatched on their
 * number; the size encoded in the command is the size of the caller's structure. A
 * smaller structure than the first version of the ABI is refused with -EINVAL, a larger
 * one is accepted when its unknown tail is zero (-E2BIG otherwise), so an older module
 * serves a newer program and the other way round. Unknown commands give -ENOTTY.
 *
 * Data moves through two rings mapped from the device (ANARCHY_IOC_SETUP_RINGS, then
 * mmap): the program writes records into the TX ring in place and the module writes the
 * far host's records into the RX ring in place. Nothing is copied through read()/write();
 * read() returns event records (struct anarchy_event).
 */
#ifndef _UAPI_LINUX_ANARCHY_H
#define _UAPI_LINUX_ANARCHY_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ANARCHY_ABI_MAJOR 1
#define ANARCHY_ABI_MINOR 0

/* The XDomain property directory key and protocol of the service. */
#define ANARCHY_SERVICE_KEY "anarchy"
#define ANARCHY_SERVICE_ID 1
#define ANARCHY_SERVICE_VERSION 1

#define ANARCHY_NAME_MAX 64   /* far host and GPU names, NUL-terminated */
#define ANARCHY_DRIVER_MAX 32 /* GPU driver names, NUL-terminated */
#define ANARCHY_MAX_GPUS 4

/* struct anarchy_version: ANARCHY_IOC_VERSION. */
struct anarchy_version {
	__u32 major; /* ANARCHY_ABI_MAJOR of the module */
	__u32 minor;
	__u32 max_record; /* the largest record payload a ring accepts, in bytes */
	__u32 frame_size; /* the link's DMA frame size, in bytes */
	__u64 features;	  /* ANARCHY_FEATURE_* */
	__u64 reserved[4];
};

#define ANARCHY_FEATURE_TEST_MODE (1ULL << 0) /* the module simulates its links */
#define ANARCHY_FEATURE_FAULTS (1ULL << 1)    /* debugfs fault injection is available */

/* enum anarchy_link_state, as __u32 in struct anarchy_link_info.state. */
#define ANARCHY_LINK_DOWN 0	   /* no far host (cable out, or disconnected) */
#define ANARCHY_LINK_NEGOTIATING 1 /* a far host is there; the link is being set up */
#define ANARCHY_LINK_UP 2	   /* records flow */
#define ANARCHY_LINK_STALLED 3	   /* up, but the far host has been silent too long */
#define ANARCHY_LINK_SUSPENDED 4   /* the machine is suspending or resuming */

/* Encoder capabilities of a GPU (struct anarchy_gpu.encoders). */
#define ANARCHY_ENC_H264 (1U << 0)
#define ANARCHY_ENC_HEVC (1U << 1)
#define ANARCHY_ENC_AV1 (1U << 2)

/* A GPU of the far host, as it advertises it in its XDomain property directory. */
struct anarchy_gpu {
	char name[ANARCHY_NAME_MAX];
	char driver[ANARCHY_DRIVER_MAX];
	__u64 vram_bytes;
	__u32 encoders; /* ANARCHY_ENC_* */
	__u32 reserved0;
	__u64 reserved[2];
};

/* Counters of a link since the module loaded; they only grow. */
struct anarchy_counters {
	__u64 tx_bytes; /* record payload bytes the far host acknowledged */
	__u64 rx_bytes; /* record payload bytes put into the RX ring */
	__u64 tx_records;
	__u64 rx_records;
	__u64 tx_frames; /* DMA frames sent, retransmissions and control included */
	__u64 rx_frames;
	__u64 retransmits; /* frames sent again after a loss */
	__u64 crc_errors;  /* frames received damaged and discarded */
	__u64 drops;	   /* frames discarded for any other reason (out of order, no room) */
	__u64 overflows;   /* times a record waited because the far RX ring was full */
	__u64 link_ups;
	__u64 link_downs;
	__u64 stalls;
	__u64 errors; /* protocol errors and ring corruption */
	__u64 reserved[6];
};

/* struct anarchy_link_info: ANARCHY_IOC_LINK_INFO. */
struct anarchy_link_info {
	__u32 index;		  /* N of /dev/anarchyN */
	__u32 state;		  /* ANARCHY_LINK_* */
	__u32 flags;		  /* ANARCHY_INFO_* */
	__u32 link_speed_mbps;	  /* the cable's signalling rate, 0 when down */
	__u32 dma_rate_mbps;	  /* the modelled (test mode) or expected DMA rate */
	__u32 bandwidth_cap_mbps; /* 0: no cap */
	__u32 latency_us;	  /* added one-way latency (test mode) */
	__u32 log_level;	  /* kernel log level of this link's messages, 0..7 */
	__u32 gpu_count;	  /* valid entries of gpus[] */
	__u32 rtt_us;		  /* the last measured heartbeat round trip */
	__u8 far_uuid[16];	  /* all zero when there is no far host */
	char far_name[ANARCHY_NAME_MAX];
	struct anarchy_gpu gpus[ANARCHY_MAX_GPUS];
	struct anarchy_counters counters;
	__u64 reserved[8];
};

#define ANARCHY_INFO_SIMULATED (1U << 0)  /* a test-mode link */
#define ANARCHY_INFO_RINGS (1U << 1)	  /* an open file owns rings on this link */
#define ANARCHY_INFO_ADMIN_DOWN (1U << 2) /* disconnected by ANARCHY_IOC_DISCONNECT */

/* struct anarchy_params: ANARCHY_IOC_SET_PARAMS (CAP_SYS_ADMIN). Only the fields named in
 * mask change.
 */
struct anarchy_params {
	__u32 mask;		  /* ANARCHY_PARAM_* */
	__u32 bandwidth_cap_mbps; /* 0: no cap; at most 100000 */
	__u32 latency_us;	  /* test mode only (-EOPNOTSUPP otherwise); at most 1000000 */
	__u32 log_level;	  /* 0..7, as printk levels: 3 error, 4 warning, 6 info, 7 debug */
	__u64 reserved[4];
};

#define ANARCHY_PARAM_BANDWIDTH (1U << 0)
#define ANARCHY_PARAM_LATENCY (1U << 1)
#define ANARCHY_PARAM_LOG_LEVEL (1U << 2)
#define ANARCHY_PARAM_ALL                                                                          \
	(ANARCHY_PARAM_BANDWIDTH | ANARCHY_PARAM_LATENCY | ANARCHY_PARAM_LOG_LEVEL)

/* struct anarchy_ring_setup: ANARCHY_IOC_SETUP_RINGS. The caller gives the sizes; the
 * module answers with where to mmap each ring. One open file owns a link's rings at a time
 * (-EBUSY for a second); they go with the file.
 */
struct anarchy_ring_setup {
	__u32 tx_size;	   /* data bytes of each ring: a power of two, */
	__u32 rx_size;	   /* ANARCHY_RING_MIN..ANARCHY_RING_MAX */
	__u64 tx_offset;   /* out: the mmap offset of the TX ring */
	__u64 rx_offset;   /* out: the mmap offset of the RX ring */
	__u32 tx_map_size; /* out: bytes to map, header page included */
	__u32 rx_map_size;
	__u64 reserved[4];
};

#define ANARCHY_RING_MIN (1U << 12)
#define ANARCHY_RING_MAX (1U << 26)

/* struct anarchy_connect: ANARCHY_IOC_CONNECT and ANARCHY_IOC_DISCONNECT (CAP_SYS_ADMIN).
 * Disconnect takes the link down and keeps it down; connect lets it come up again.
 */
struct anarchy_connect {
	__u32 flags; /* none defined: zero */
	__u32 reserved0;
	__u64 reserved[3];
};

#define ANARCHY_IOC_MAGIC 0xAC
#define ANARCHY_IOC_VERSION _IOR(ANARCHY_IOC_MAGIC, 0x00, struct anarchy_version)
#define ANARCHY_IOC_LINK_INFO _IOR(ANARCHY_IOC_MAGIC, 0x01, struct anarchy_link_info)
#define ANARCHY_IOC_SET_PARAMS _IOW(ANARCHY_IOC_MAGIC, 0x02, struct anarchy_params)
#define ANARCHY_IOC_SETUP_RINGS _IOWR(ANARCHY_IOC_MAGIC, 0x03, struct anarchy_ring_setup)
/* The TX ring's head moved, or the RX ring's tail: look at the rings. No argument (0). */
#define ANARCHY_IOC_KICK _IO(ANARCHY_IOC_MAGIC, 0x04)
#define ANARCHY_IOC_CONNECT _IOW(ANARCHY_IOC_MAGIC, 0x05, struct anarchy_connect)
#define ANARCHY_IOC_DISCONNECT _IOW(ANARCHY_IOC_MAGIC, 0x06, struct anarchy_connect)

/*
 * A mapped ring: one page of header, then the data bytes (a power of two). Indices are
 * free-running __u32 byte counts, masked by data_size - 1; head - tail is the fill.
 *
 * TX: the program writes records at head and publishes head (release store); the module
 * advances tail when the far host has the records in its RX ring: a record behind tail
 * has been delivered. RX: the module writes records at head; the program reads them in
 * place and publishes tail when it is done with them. After publishing, the program
 * issues ANARCHY_IOC_KICK when the ring's flags have ANARCHY_RING_NEED_KICK (the module
 * is idle and not watching); otherwise the module will see the move by itself.
 *
 * Each record starts 8-byte aligned with a struct anarchy_record; its payload follows,
 * padded to 8 bytes. A record never wraps: when it does not fit before the end of the
 * data area, the writer fills the rest with a record of flag ANARCHY_RECORD_PAD (its len
 * counts the bytes after the header) and starts again at offset 0. The module checks every
 * record the program writes; a bad one ends the TX ring with an ANARCHY_EVENT_ERROR.
 */
struct anarchy_ring_header {
	__u32 magic; /* ANARCHY_RING_MAGIC */
	__u16 abi_major;
	__u16 abi_minor;
	__u32 header_size; /* bytes before the data area: a page */
	__u32 data_size;
	__u32 flags; /* ANARCHY_RING_*, written by the module */
	__u32 max_record;
	__u8 reserved0[40];
	__u32 head; /* its own cache line: written by the producer */
	__u8 reserved1[60];
	__u32 tail; /* its own cache line: written by the consumer */
	__u8 reserved2[60];
};

#define ANARCHY_RING_MAGIC 0x52594e41 /* "ANYR", little-endian */
#define ANARCHY_RING_NEED_KICK (1U << 0)
#define ANARCHY_RING_DEAD (1U << 1) /* the module stopped using this ring (an error) */

struct anarchy_record {
	__u32 len;   /* payload bytes */
	__u16 flags; /* ANARCHY_RECORD_* */
	__u16 type;  /* the program's own; carried to the far side unchanged */
};

#define ANARCHY_RECORD_PAD (1U << 0)
#define ANARCHY_RECORD_ALIGN 8U

/* Event records, read() from the device: whole records only, oldest first. */
struct anarchy_event {
	__u32 type;    /* ANARCHY_EVENT_* */
	__u32 link;    /* index of the link */
	__u64 time_ns; /* CLOCK_MONOTONIC */
	__u64 seq;     /* per open file, from 1; a gap means events were lost */
	__s32 error;   /* negative errno, for ANARCHY_EVENT_ERROR */
	__u32 state;   /* ANARCHY_LINK_* after the event */
	__u64 value;   /* per type: records discarded (LINK_RESET), ... */
	__u64 reserved;
};

#define ANARCHY_EVENT_LINK_UP 1
#define ANARCHY_EVENT_LINK_DOWN 2
#define ANARCHY_EVENT_HOTPLUG_ADD 3    /* a far host appeared on the cable */
#define ANARCHY_EVENT_HOTPLUG_REMOVE 4 /* the far host or cable went away */
#define ANARCHY_EVENT_STALLED 5	       /* the far host is silent (value: ms since heard) */
#define ANARCHY_EVENT_RESUMED 6	       /* a stalled far host is heard again */
#define ANARCHY_EVENT_ERROR 7	       /* error: the cause */
#define ANARCHY_EVENT_RING_OVERFLOW 8  /* the far RX ring is full (at most 1/s) */
#define ANARCHY_EVENT_LINK_RESET 9     /* the far host restarted: value records were lost */
#define ANARCHY_EVENT_EVENTS_LOST 10   /* value events did not fit the queue */

#endif /* _UAPI_LINUX_ANARCHY_H */
