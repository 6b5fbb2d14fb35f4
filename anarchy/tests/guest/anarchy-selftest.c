/* SPDX-License-Identifier: MIT */
/*
 * anarchy-selftest: drives the module inside a testbed guest (test-kmod.py boots it).
 * Each command prints "SELFTEST PASS name" or "SELFTEST FAIL name: why" lines, and
 * "BENCH key=value ..." lines for the benchmark; it exits 0 only when all passed.
 *
 *   anarchy-selftest uapi NEAR FAR           the ioctl, mmap, read and poll contract
 *   anarchy-selftest stream NEAR FAR N       N records each way at once, checked
 *   anarchy-selftest faults NEAR FAR N       the same with drop, corrupt, delay injected
 *   anarchy-selftest unplug NEAR FAR N       the same with the cable pulled mid-stream
 *   anarchy-selftest stall NEAR FAR          the far host goes silent, then speaks again
 *   anarchy-selftest suspend NEAR FAR        a suspend cycle: down before, negotiated after
 *   anarchy-selftest idle NEAR FAR HB_MS     an idle link sends heartbeats only
 *   anarchy-selftest bigrecord NEAR FAR      a record too large for the far RX ring waits
 *   anarchy-selftest remove NEAR FAR         the far host's service goes away mid-flow
 *   anarchy-selftest downrelease NEAR FAR    releasing records while the link is down
 *   anarchy-selftest fuzz NEAR N SEED        N random ioctls, mmaps and reads
 *   anarchy-selftest traffic NEAR FAR MS [READY]  traffic both ways for MS ms, then quit
 *                                            mid-flow; READY is created once the files are open
 *   anarchy-selftest bench NEAR FAR          throughput and 64 B round trip
 *
 * NEAR and FAR are the two ends of one simulated link (/dev/anarchy0 /dev/anarchy1).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "anarchy.h"

#define RING_SIZE (256U * 1024)
#define STUCK_MS 20000

static int failures;

static void pass(const char *name)
{
	printf("SELFTEST PASS %s\n", name);
	fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("SELFTEST FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The debugfs knob of a device: /sys/kernel/debug/anarchy/anarchyN/NAME. */
static int knob_write(const char *dev, const char *name, unsigned int value)
{
	char path[256];
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "/sys/kernel/debug/anarchy/%s/%s", strrchr(dev, '/') + 1,
		 name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%u\n", value) < 0)
		r = -EIO;
	if (fclose(f) != 0)
		r = -errno;
	return r;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static struct anarchy_link *open_mapped(const char *dev)
{
	struct anarchy_link *link;
	int r;

	r = anarchy_link_open(dev, 0, &link);
	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", dev, strerror(-r));
		return NULL;
	}
	r = anarchy_link_map(link, RING_SIZE, RING_SIZE);
	if (r < 0) {
		fprintf(stderr, "map %s: %s\n", dev, strerror(-r));
		return anarchy_link_close(link);
	}
	return link;
}

static int wait_state(struct anarchy_link *link, uint32_t state, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;
	struct anarchy_link_info info;

	for (;;) {
		if (anarchy_link_get_info(link, &info) < 0)
			return -EIO;
		if (info.state == state)
			return 0;
		if (now_ns() > end)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

/* Streams: records of random sizes, each carrying its sequence number, length and a
 * checksum of the bytes, which come from the sequence number. */

struct rec_hdr {
	uint64_t seq;
	uint32_t len;
	uint32_t sum;
};

static uint32_t record_len(uint64_t seq, uint32_t max)
{
	uint64_t s = seq * 0x9e3779b97f4a7c15ULL + 1;
	uint64_t v = xorshift(&s) % 100;
	uint32_t len;

	if (v < 70)
		len = 16 + (uint32_t)(xorshift(&s) % 240);
	else if (v < 95)
		len = 256 + (uint32_t)(xorshift(&s) % 3840);
	else
		len = 4096 + (uint32_t)(xorshift(&s) % 28672);
	return len < max ? len : max;
}

static uint32_t fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t s = seq + 0x1234567;
	uint32_t sum = 2166136261U;

	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t v = xorshift(&s);
		uint32_t n = len - i < 8 ? len - i : 8;

		memcpy(p + i, &v, n);
		for (uint32_t k = 0; k < n; k++)
			sum = (sum ^ p[i + k]) * 16777619U;
	}
	return sum;
}

static uint32_t checksum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 2166136261U;

	for (uint32_t i = 0; i < len; i++)
		sum = (sum ^ p[i]) * 16777619U;
	return sum;
}

struct side {
	const char *name;
	struct anarchy_link *link;
	uint64_t sent, received, n;
	uint64_t enolink; /* commits that said the link is down */
	uint64_t events[16];
	char error[200];
};

static int send_one(struct side *s)
{
	uint32_t len =
		record_len(s->sent, anarchy_link_max_record(s->link) - sizeof(struct rec_hdr));
	struct rec_hdr *h;
	void *buf;
	int r;

	r = anarchy_link_reserve(s->link, sizeof(*h) + len, &buf);
	if (r < 0)
		return r;
	h = buf;
	h->seq = s->sent;
	h->len = len;
	h->sum = fill((uint8_t *)buf + sizeof(*h), len, s->sent);
	r = anarchy_link_commit(s->link, (uint16_t)(s->sent & 0xffff));
	s->sent++;
	if (r == -ENOLINK) {
		s->enolink++;
		r = 0;
	}
	return r;
}

static int receive_one(struct side *s)
{
	const void *data;
	const struct rec_hdr *h;
	uint32_t len;
	uint16_t type;
	int r;

	r = anarchy_link_receive(s->link, &data, &len, &type);
	if (r < 0)
		return r;
	h = data;
	if (len < sizeof(*h)) {
		snprintf(s->error, sizeof(s->error), "record %" PRIu64 " of %u bytes is short",
			 s->received, len);
		return -EBADMSG;
	}
	if (h->seq != s->received) {
		snprintf(s->error, sizeof(s->error),
			 "expected record %" PRIu64 ", got %" PRIu64 " (%s)", s->received, h->seq,
			 h->seq < s->received ? "a duplicate" : "a record was lost");
		return -EBADMSG;
	}
	if (h->len + sizeof(*h) != len || h->len != record_len(h->seq, h->len + 1) ||
	    type != (uint16_t)(h->seq & 0xffff) ||
	    checksum((const uint8_t *)data + sizeof(*h), h->len) != h->sum) {
		snprintf(s->error, sizeof(s->error),
			 "record %" PRIu64 " is damaged (len %u, type %u)", h->seq, len, type);
		return -EBADMSG;
	}
	s->received++;
	return anarchy_link_release(s->link);
}

static void drain_events(struct side *s)
{
	struct anarchy_event ev;

	while (anarchy_link_read_event(s->link, &ev) == 0)
		if (ev.type < 16)
			s->events[ev.type]++;
}

typedef void (*hook_fn)(struct side *a, struct side *b, uint64_t progress, void *data);

/* Runs both directions at once until each side has sent and received n records. */
static int stream(struct side *a, struct side *b, uint64_t n, hook_fn hook, void *data, char *why,
		  size_t why_size)
{
	struct side *sides[2] = { a, b };
	uint64_t last_progress = now_ns();

	a->n = b->n = n;
	while (a->sent < n || b->sent < n || a->received < n || b->received < n) {
		bool progress = false;
		struct pollfd pfd[2];

		for (int i = 0; i < 2; i++) {
			struct side *s = sides[i];
			int r = 0;

			for (int k = 0; k < 64 && s->sent < n; k++) {
				r = send_one(s);
				if (r < 0)
					break;
				progress = true;
			}
			if (r < 0 && r != -EAGAIN) {
				snprintf(why, why_size, "%s: send %" PRIu64 ": %s", s->name,
					 s->sent, strerror(-r));
				return -1;
			}
			for (int k = 0; k < 256 && s->received < n; k++) {
				r = receive_one(s);
				if (r < 0)
					break;
				progress = true;
			}
			if (r == -EBADMSG) {
				snprintf(why, why_size, "%s: %s", s->name, s->error);
				return -1;
			}
			if (r < 0 && r != -EAGAIN) {
				snprintf(why, why_size, "%s: receive: %s", s->name, strerror(-r));
				return -1;
			}
			drain_events(s);
		}
		if (hook)
			hook(a, b, a->received + b->received, data);
		if (progress) {
			last_progress = now_ns();
			continue;
		}
		if (now_ns() - last_progress > (uint64_t)STUCK_MS * 1000000) {
			struct anarchy_link_info ia, ib;

			anarchy_link_get_info(a->link, &ia);
			anarchy_link_get_info(b->link, &ib);
			snprintf(why, why_size,
				 "stuck: %s sent %" PRIu64 " received %" PRIu64
				 " state %s, %s sent "
				 "%" PRIu64 " received %" PRIu64 " state %s",
				 a->name, a->sent, a->received, anarchy_state_to_string(ia.state),
				 b->name, b->sent, b->received, anarchy_state_to_string(ib.state));
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			pfd[i].fd = anarchy_link_fd(sides[i]->link);
			pfd[i].events = POLLIN | POLLPRI | (sides[i]->sent < n ? POLLOUT : 0);
		}
		poll(pfd, 2, 100);
	}
	return 0;
}

static void print_counters(const char *name, struct anarchy_link *link)
{
	struct anarchy_link_info i;

	if (anarchy_link_get_info(link, &i) < 0)
		return;
	printf("counters %s: tx_records=%llu rx_records=%llu tx_frames=%llu rx_frames=%llu "
	       "retransmits=%llu crc_errors=%llu drops=%llu overflows=%llu link_ups=%llu "
	       "link_downs=%llu stalls=%llu errors=%llu\n",
	       name, i.counters.tx_records, i.counters.rx_records, i.counters.tx_frames,
	       i.counters.rx_frames, i.counters.retransmits, i.counters.crc_errors,
	       i.counters.drops, i.counters.overflows, i.counters.link_ups, i.counters.link_downs,
	       i.counters.stalls, i.counters.errors);
}

static int run_stream(const char *name, const char *near, const char *far, uint64_t n, hook_fn hook,
		      void *data, struct side *ret_a, struct side *ret_b)
{
	struct side a = { .name = near }, b = { .name = far };
	char why[512] = "";
	uint64_t start;
	double secs;
	int r;

	a.link = open_mapped(near);
	b.link = open_mapped(far);
	if (!a.link || !b.link) {
		fail(name, "cannot open and map the link");
		anarchy_link_close(a.link);
		anarchy_link_close(b.link);
		return -1;
	}
	if (wait_state(a.link, ANARCHY_LINK_UP, 5000) < 0) {
		fail(name, "the link did not come up");
		r = -1;
		goto out;
	}
	start = now_ns();
	r = stream(&a, &b, n, hook, data, why, sizeof(why));
	secs = (double)(now_ns() - start) / 1e9;
	/* Everything was received, so everything is acknowledged soon. */
	if (r == 0 &&
	    (anarchy_link_flush(a.link, 5000) < 0 || anarchy_link_flush(b.link, 5000) < 0)) {
		snprintf(why, sizeof(why), "records received but not acknowledged to the sender");
		r = -1;
	}
	print_counters(near, a.link);
	print_counters(far, b.link);
	if (r < 0)
		fail(name, "%s", why);
	else
		printf("stream: %" PRIu64 " records each way in %.2f s\n", n, secs);
out:
	drain_events(&a);
	drain_events(&b);
	if (ret_a)
		*ret_a = a;
	if (ret_b)
		*ret_b = b;
	anarchy_link_close(a.link);
	anarchy_link_close(b.link);
	return r;
}

static int cmd_stream(const char *near, const char *far, uint64_t n)
{
	uint64_t start = now_ns(), overflows, events;
	struct anarchy_link_info info;
	struct anarchy_link *link;
	struct side a, b;
	double secs;

	if (run_stream("stream", near, far, n, NULL, NULL, &a, &b) < 0)
		return 0;
	secs = (double)(now_ns() - start) / 1e9;
	/* A full far ring is counted every time, told at most once a second. */
	if (anarchy_link_open(near, 0, &link) < 0 || anarchy_link_get_info(link, &info) < 0) {
		fail("stream", "cannot reopen %s", near);
		return 0;
	}
	anarchy_link_close(link);
	overflows = info.counters.overflows;
	events = a.events[ANARCHY_EVENT_RING_OVERFLOW];
	printf("stream: %" PRIu64 " overflows, %" PRIu64 " overflow events in %.1f s\n",
	       (uint64_t)overflows, events, secs);
	if (events > secs + 2)
		fail("stream", "%" PRIu64 " ring-overflow events in %.1f s", events, secs);
	else
		pass("stream");
	return 0;
}

/* Faults, injected once a quarter of the stream has arrived. */
struct fault_plan {
	const char *near, *far;
	uint64_t n;
	int stage;
};

static void fault_hook(struct side *a, struct side *b, uint64_t progress, void *data)
{
	struct fault_plan *p = data;

	if (p->stage == 0 && progress >= p->n / 2) {
		knob_write(p->near, "drop", 40);
		knob_write(p->far, "corrupt", 50);
		knob_write(p->far, "delay_us", 3000);
		p->stage = 1;
	} else if (p->stage == 1 && progress >= p->n) {
		knob_write(p->far, "delay_us", 0);
		p->stage = 2;
	}
}

static int cmd_faults(const char *near, const char *far, uint64_t n)
{
	struct fault_plan plan = { near, far, n, 0 };
	struct anarchy_link_info ia, ib;
	struct anarchy_link *a, *b;
	struct side sa, sb;

	if (run_stream("faults", near, far, n, fault_hook, &plan, &sa, &sb) < 0)
		return 0;
	if (anarchy_link_open(near, 0, &a) < 0 || anarchy_link_open(far, 0, &b) < 0) {
		fail("faults", "cannot reopen");
		return 0;
	}
	anarchy_link_get_info(a, &ia);
	anarchy_link_get_info(b, &ib);
	anarchy_link_close(a);
	anarchy_link_close(b);
	if (plan.stage != 2)
		fail("faults", "the faults were never injected (stage %d)", plan.stage);
	else if (ia.counters.crc_errors != 50)
		fail("faults", "near end counted %llu CRC errors for 50 corrupted frames",
		     ia.counters.crc_errors);
	else if (ib.counters.retransmits == 0 && ia.counters.retransmits == 0)
		fail("faults", "40 dropped frames were never sent again");
	else
		pass("faults");
	return 0;
}

struct unplug_plan {
	const char *near;
	uint64_t n;
	int stage;
	uint64_t unplugged_ns;
	uint64_t delivered_before; /* TX bytes acknowledged when the cable was pulled */
	int down_kicks;
};

static void unplug_hook(struct side *a, struct side *b, uint64_t progress, void *data)
{
	struct unplug_plan *p = data;

	if (p->stage == 0 && progress >= p->n / 2) {
		knob_write(p->near, "plugged", 0);
		p->unplugged_ns = now_ns();
		p->stage = 1;
	} else if (p->stage == 1 && now_ns() - p->unplugged_ns > 300000000ULL) {
		/* Sending while down: the record is queued, and the caller is told. */
		struct anarchy_link_info info;

		anarchy_link_get_info(a->link, &info);
		if (info.state == ANARCHY_LINK_DOWN &&
		    ioctl(anarchy_link_fd(a->link), ANARCHY_IOC_KICK, 0) < 0 && errno == ENOLINK)
			p->down_kicks++;
		knob_write(p->near, "plugged", 1);
		p->stage = 2;
	}
}

/* Releasing received records while the link is down succeeds: the release is the
 * program's business, the kick that may follow it only news for the module. */
static int cmd_downrelease(const char *near, const char *far)
{
	struct anarchy_link *a = NULL, *b = NULL;
	struct anarchy_link_info info;
	char msg[100] = { 0 };
	const void *data;
	uint32_t len;
	int i, r;

	if (anarchy_link_open(near, 0, &a) < 0 || anarchy_link_map(a, RING_SIZE, RING_SIZE) < 0 ||
	    anarchy_link_open(far, 0, &b) < 0 || anarchy_link_map(b, 65536, 8192) < 0 ||
	    wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("downrelease", "cannot set up the link");
		goto out;
	}
	/* 60 records of 112 bytes: more than half of the 8 KiB RX ring, so that releasing
	 * them asks for a kick (the window was advertised small). */
	for (i = 0; i < 60; i++)
		(void)anarchy_link_send(a, msg, sizeof(msg), 1, 1000);
	if (anarchy_link_flush(a, 3000) < 0) {
		fail("downrelease", "the records were not delivered");
		goto out;
	}
	knob_write(near, "plugged", 0);
	if (anarchy_link_get_info(b, &info) < 0 || info.state != ANARCHY_LINK_DOWN) {
		fail("downrelease", "the link is not down after the cable was pulled");
		goto out;
	}
	for (i = 0; i < 60; i++) {
		r = anarchy_link_receive(b, &data, &len, NULL);
		if (r == 0)
			r = anarchy_link_release(b);
		if (r < 0) {
			fail("downrelease", "record %d while down: %s", i, strerror(-r));
			goto out;
		}
	}
	pass("downrelease");
out:
	knob_write(near, "plugged", 1);
	anarchy_link_close(a);
	anarchy_link_close(b);
	return 0;
}

static int cmd_unplug(const char *near, const char *far, uint64_t n)
{
	struct unplug_plan plan = { .near = near, .n = n };
	struct side a, b;

	if (run_stream("unplug", near, far, n, unplug_hook, &plan, &a, &b) < 0) {
		knob_write(near, "plugged", 1); /* whatever happened, leave the cable in */
		return 0;
	}
	if (plan.stage != 2)
		fail("unplug", "the cable was never pulled (stage %d)", plan.stage);
	else if (plan.down_kicks != 1)
		fail("unplug", "a kick while the link was down did not fail with ENOLINK");
	else if (!a.events[ANARCHY_EVENT_HOTPLUG_REMOVE] || !a.events[ANARCHY_EVENT_LINK_DOWN] ||
		 a.events[ANARCHY_EVENT_LINK_UP] < 1 || !b.events[ANARCHY_EVENT_HOTPLUG_REMOVE])
		fail("unplug", "events: near remove=%llu down=%llu up=%llu, far remove=%llu",
		     (unsigned long long)a.events[ANARCHY_EVENT_HOTPLUG_REMOVE],
		     (unsigned long long)a.events[ANARCHY_EVENT_LINK_DOWN],
		     (unsigned long long)a.events[ANARCHY_EVENT_LINK_UP],
		     (unsigned long long)b.events[ANARCHY_EVENT_HOTPLUG_REMOVE]);
	else
		pass("unplug");
	return 0;
}

static int wait_event(struct anarchy_link *link, uint32_t type, int timeout_ms,
		      struct anarchy_event *ret)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;

	while (now_ns() < end) {
		if (anarchy_link_read_event(link, ret) == 0) {
			if (ret->type == type)
				return 0;
			continue;
		}
		anarchy_link_wait(link, POLLPRI, 50);
	}
	return -ETIMEDOUT;
}

static int cmd_stall(const char *near, const char *far)
{
	struct anarchy_link *a = open_mapped(near);
	struct anarchy_event ev;
	uint64_t start;

	if (!a || wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("stall", "the link did not come up");
		anarchy_link_close(a);
		return 0;
	}
	knob_write(far, "stall", 1);
	start = now_ns();
	if (wait_event(a, ANARCHY_EVENT_STALLED, 8000, &ev) < 0) {
		fail("stall", "no stalled event within 8 s of the far host going silent");
	} else {
		printf("stall: reported after %.2f s (value %llu ms)\n",
		       (double)(now_ns() - start) / 1e9, (unsigned long long)ev.value);
		knob_write(far, "stall", 0);
		if (wait_event(a, ANARCHY_EVENT_RESUMED, 4000, &ev) < 0)
			fail("stall", "no resumed event after the far host spoke again");
		else if (wait_state(a, ANARCHY_LINK_UP, 1000) < 0)
			fail("stall", "resumed, but the state is not up");
		else
			pass("stall");
	}
	knob_write(far, "stall", 0);
	anarchy_link_close(a);
	return 0;
}

/* A record larger than the far RX ring takes waits, and the sender is told; when the far
 * side maps a larger ring, it goes, in order with what followed it. */
static int cmd_bigrecord(const char *near, const char *far)
{
	static uint8_t big[5000]; /* fits the far 8 KiB window, not its 4088 B max */
	struct anarchy_link *a = NULL, *b = NULL;
	struct anarchy_event ev;
	const void *data;
	uint32_t len;
	uint16_t type;
	int r;

	memset(big, 0x5a, sizeof(big));
	if (anarchy_link_open(near, 0, &a) < 0 || anarchy_link_map(a, RING_SIZE, RING_SIZE) < 0 ||
	    anarchy_link_open(far, 0, &b) < 0 || anarchy_link_map(b, 65536, 8192) < 0 ||
	    wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("bigrecord", "cannot set up the link");
		goto out;
	}
	if (anarchy_link_send(a, big, sizeof(big), 7, 1000) < 0 ||
	    anarchy_link_send(a, big, 100, 8, 1000) < 0) {
		fail("bigrecord", "cannot queue the records");
		goto out;
	}
	if (wait_event(a, ANARCHY_EVENT_ERROR, 3000, &ev) < 0 || ev.error != -EMSGSIZE ||
	    ev.value != sizeof(big)) {
		fail("bigrecord", "no EMSGSIZE event for a record larger than the far ring takes");
		goto out;
	}
	r = anarchy_link_receive_wait(b, &data, &len, &type, 500);
	if (r != -ETIMEDOUT) {
		fail("bigrecord", "the far side received something (%d) past the big record", r);
		goto out;
	}
	/* The far program maps a ring that takes it. */
	b = anarchy_link_close(b);
	if (anarchy_link_open(far, 0, &b) < 0 || anarchy_link_map(b, 65536, 65536) < 0) {
		fail("bigrecord", "cannot map the larger ring");
		goto out;
	}
	if (anarchy_link_receive_wait(b, &data, &len, &type, 3000) < 0 || len != sizeof(big) ||
	    type != 7 || anarchy_link_release(b) < 0 ||
	    anarchy_link_receive_wait(b, &data, &len, &type, 3000) < 0 || len != 100 || type != 8 ||
	    anarchy_link_release(b) < 0) {
		fail("bigrecord", "the waiting records did not arrive in order");
		goto out;
	}
	if (anarchy_link_flush(a, 3000) < 0)
		fail("bigrecord", "the sender was not told they were delivered");
	else
		pass("bigrecord");
out:
	anarchy_link_close(a);
	anarchy_link_close(b);
	return 0;
}

/*
 * The far host's service goes away with records in flight and files open (debugfs
 * sim-link0/present): every call fails with ENODEV, poll says POLLHUP, the events come
 * and then end-of-file, nothing hangs; the device comes back and works.
 */
static int cmd_remove(const char *near, const char *far)
{
	const char *present = "/sys/kernel/debug/anarchy/sim-link0/present";
	struct anarchy_link *a = open_mapped(near), *b = open_mapped(far);
	struct anarchy_link_info info;
	struct anarchy_event ev;
	bool removed = false, added = false, saw_remove = false;
	struct pollfd pfd;
	struct stat st;
	char msg[100] = { 0 };
	ssize_t n;
	int i, r;

	if (!a || !b || wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("remove", "the link did not come up");
		goto out;
	}
	while (anarchy_link_read_event(a, &ev) == 0)
		;
	for (i = 0; i < 200; i++) {
		(void)anarchy_link_send(a, msg, sizeof(msg), 1, 0);
		(void)anarchy_link_send(b, msg, sizeof(msg), 1, 0);
	}
	if (write_file(present, "0") < 0) {
		fail("remove", "cannot write %s: %s", present, strerror(errno));
		goto out;
	}
	removed = true;

	if (ioctl(anarchy_link_fd(a), ANARCHY_IOC_KICK, 0) == 0 || errno != ENODEV)
		fail("remove", "kick after removal: %s, expected ENODEV", strerror(errno));
	r = anarchy_link_get_info(a, &info);
	if (r != -ENODEV)
		fail("remove", "link info after removal: %s, expected ENODEV", strerror(-r));
	pfd = (struct pollfd){ .fd = anarchy_link_fd(a), .events = POLLIN | POLLPRI };
	if (poll(&pfd, 1, 2000) != 1 || !(pfd.revents & POLLHUP))
		fail("remove", "poll after removal: revents %#x, expected POLLHUP", pfd.revents);
	for (i = 0; i < 8; i++) {
		n = read(anarchy_link_fd(a), &ev, sizeof(ev));
		if (n <= 0)
			break;
		if (ev.type == ANARCHY_EVENT_HOTPLUG_REMOVE)
			saw_remove = true;
	}
	if (n != 0)
		fail("remove", "read after the events: %zd (%s), expected end of file", n,
		     n < 0 ? strerror(errno) : "data");
	if (!saw_remove)
		fail("remove", "no hotplug-remove event before end of file");
	if (stat(near, &st) == 0 || errno != ENOENT)
		fail("remove", "%s is still there", near);
	a = anarchy_link_close(a);
	b = anarchy_link_close(b);

	if (write_file(present, "1") < 0) {
		fail("remove", "cannot write %s back: %s", present, strerror(errno));
		goto out;
	}
	added = true;
	for (i = 0; i < 200 && stat(near, &st) < 0; i++)
		usleep(10000);
	if (run_stream("remove", near, far, 2000, NULL, NULL, NULL, NULL) == 0)
		pass("remove");
out:
	anarchy_link_close(a);
	anarchy_link_close(b);
	if (removed && !added)
		(void)write_file(present, "1");
	return 0;
}

/* An idle up link sends heartbeats only: no negotiation echoes, no acks. */
static int cmd_idle(const char *near, const char *far, unsigned int hb_ms)
{
	struct anarchy_link *a, *b;
	struct anarchy_link_info i0[2], i1[2];
	uint64_t sent;

	if (anarchy_link_open(near, 0, &a) < 0 || anarchy_link_open(far, 0, &b) < 0 ||
	    wait_state(a, ANARCHY_LINK_UP, 5000) < 0 || wait_state(b, ANARCHY_LINK_UP, 5000) < 0) {
		fail("idle", "the link did not come up");
		return 0;
	}
	usleep(200000);
	anarchy_link_get_info(a, &i0[0]);
	anarchy_link_get_info(b, &i0[1]);
	usleep(2000000);
	anarchy_link_get_info(a, &i1[0]);
	anarchy_link_get_info(b, &i1[1]);
	sent = i1[0].counters.tx_frames - i0[0].counters.tx_frames + i1[1].counters.tx_frames -
	       i0[1].counters.tx_frames;
	/* Each end pings every hb_ms and answers the other's pings: 4 frames per period. */
	printf("idle: %" PRIu64 " frames in 2 s\n", sent);
	if (sent > 4 * (2000 / hb_ms + 1))
		fail("idle", "%" PRIu64 " frames sent in 2 s on an idle link", sent);
	else
		pass("idle");
	anarchy_link_close(a);
	anarchy_link_close(b);
	return 0;
}

/* A suspend cycle (pm_test=devices: the devices' callbacks run, the machine stays up):
 * the link goes down before and is negotiated again after, and records flow. */
static int cmd_suspend(const char *near, const char *far)
{
	struct anarchy_link *a = open_mapped(near);
	struct anarchy_event ev;
	uint64_t down_ns;
	int r;

	if (!a || wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("suspend", "the link did not come up");
		anarchy_link_close(a);
		return 0;
	}
	while (anarchy_link_read_event(a, &ev) == 0)
		;
	(void)write_file("/sys/module/suspend/parameters/pm_test_delay", "0");
	r = write_file("/sys/power/pm_test", "devices");
	if (r == 0)
		r = write_file("/sys/power/state", "freeze");
	(void)write_file("/sys/power/pm_test", "none");
	if (r < 0) {
		fail("suspend", "suspend cycle: %s", strerror(-r));
		anarchy_link_close(a);
		return 0;
	}
	if (wait_event(a, ANARCHY_EVENT_LINK_DOWN, 2000, &ev) < 0) {
		fail("suspend", "no link-down event for the suspend");
	} else {
		down_ns = ev.time_ns;
		if (wait_event(a, ANARCHY_EVENT_LINK_UP, 5000, &ev) < 0)
			fail("suspend", "the link was not negotiated again after resume");
		else
			printf("suspend: down for %.1f ms across the cycle\n",
			       (double)(ev.time_ns - down_ns) / 1e6);
	}
	anarchy_link_close(a);
	if (run_stream("suspend", near, far, 2000, NULL, NULL, NULL, NULL) == 0)
		pass("suspend");
	return 0;
}

/* The UAPI contract. */

#define EXPECT(name, call, err)                                                                    \
	do {                                                                                       \
		errno = 0;                                                                         \
		int r_ = (call);                                                                   \
		int e_ = r_ < 0 ? errno : 0;                                                       \
		if (e_ != (err))                                                                   \
			fail("uapi", "%s: %s gave %s, expected %s", name, #call,                   \
			     e_ ? strerror(e_) : "success", (err) ? strerror(err) : "success");    \
	} while (0)

#define CMD(dir, nr, size) _IOC(dir, ANARCHY_IOC_MAGIC, nr, size)

static int cmd_uapi(const char *near, const char *far)
{
	int before = failures;
	char big[4096];
	struct anarchy_version v;
	struct anarchy_link_info info;
	struct anarchy_params p;
	struct anarchy_ring_setup s;
	struct anarchy_connect c;
	struct anarchy_event ev;
	struct stat st;
	int fd, fd2;
	void *m;

	fd = open(near, O_RDWR | O_NONBLOCK);
	fd2 = open(near, O_RDWR | O_NONBLOCK);
	if (fd < 0 || fd2 < 0) {
		fail("uapi", "open %s: %s", near, strerror(errno));
		return 0;
	}
	if (stat(near, &st) < 0 || (st.st_mode & 0777) != 0660)
		fail("uapi", "%s has mode %o, expected 0660", near, st.st_mode & 0777);

	EXPECT("version", ioctl(fd, ANARCHY_IOC_VERSION, &v), 0);
	if (v.major != ANARCHY_ABI_MAJOR || v.frame_size != 4096)
		fail("uapi", "version %u.%u frame %u", v.major, v.minor, v.frame_size);
	EXPECT("info", ioctl(fd, ANARCHY_IOC_LINK_INFO, &info), 0);
	if (!(info.flags & ANARCHY_INFO_SIMULATED) || info.gpu_count < 1)
		fail("uapi", "info flags %#x gpus %u", info.flags, info.gpu_count);

	/* Unknown commands, other magic, other directions: ENOTTY. */
	EXPECT("unknown nr", ioctl(fd, CMD(_IOC_READ, 0x3f, 8), big), ENOTTY);
	EXPECT("unknown nr 7", ioctl(fd, CMD(_IOC_READ | _IOC_WRITE, 7, 32), big), ENOTTY);
	EXPECT("other magic", ioctl(fd, _IOR('x', 0, struct anarchy_version), &v), ENOTTY);
	EXPECT("wrong dir", ioctl(fd, _IOW(ANARCHY_IOC_MAGIC, 0, struct anarchy_version), &v),
	       ENOTTY);
	EXPECT("tcgets", ioctl(fd, 0x5401, big), ENOTTY);

	/* Sizes: smaller than 1.0 is EINVAL; larger is fine with a zero tail. */
	EXPECT("short version", ioctl(fd, CMD(_IOC_READ, 0, 8), big), EINVAL);
	EXPECT("short info", ioctl(fd, CMD(_IOC_READ, 1, 100), big), EINVAL);
	EXPECT("short params", ioctl(fd, CMD(_IOC_WRITE, 2, 4), big), EINVAL);
	EXPECT("short rings", ioctl(fd, CMD(_IOC_READ | _IOC_WRITE, 3, 8), big), EINVAL);
	EXPECT("kick with size", ioctl(fd, CMD(_IOC_NONE, 4, 8), 0), EINVAL);
	memset(big, 0xff, sizeof(big));
	EXPECT("long version", ioctl(fd, CMD(_IOC_READ, 0, 1024), big), 0);
	if (big[1000] != 0 || ((struct anarchy_version *)big)->major != ANARCHY_ABI_MAJOR)
		fail("uapi", "a longer version struct was not zero-filled past the known part");
	memset(big, 0, sizeof(big));
	((struct anarchy_params *)big)->mask = ANARCHY_PARAM_LOG_LEVEL;
	((struct anarchy_params *)big)->log_level = 6;
	EXPECT("long params", ioctl(fd, CMD(_IOC_WRITE, 2, 256), big), 0);
	big[200] = 1;
	EXPECT("long params, tail", ioctl(fd, CMD(_IOC_WRITE, 2, 256), big), E2BIG);

	/* Bad pointers. */
	EXPECT("version NULL", ioctl(fd, ANARCHY_IOC_VERSION, NULL), EFAULT);
	EXPECT("info bad", ioctl(fd, ANARCHY_IOC_LINK_INFO, (void *)8), EFAULT);
	EXPECT("params bad", ioctl(fd, ANARCHY_IOC_SET_PARAMS, (void *)8), EFAULT);
	EXPECT("rings bad", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, (void *)-4096L), EFAULT);
	EXPECT("connect NULL", ioctl(fd, ANARCHY_IOC_CONNECT, NULL), EFAULT);

	/* Values. */
	p = (struct anarchy_params){ .mask = 1U << 7 };
	EXPECT("params mask", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), EINVAL);
	p = (struct anarchy_params){ .mask = ANARCHY_PARAM_BANDWIDTH,
				     .bandwidth_cap_mbps = 100001 };
	EXPECT("params bandwidth", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), EINVAL);
	p = (struct anarchy_params){ .mask = ANARCHY_PARAM_LATENCY, .latency_us = 1000001 };
	EXPECT("params latency", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), EINVAL);
	p = (struct anarchy_params){ .mask = ANARCHY_PARAM_LOG_LEVEL, .log_level = 8 };
	EXPECT("params log level", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), EINVAL);
	p = (struct anarchy_params){ .mask = ANARCHY_PARAM_LOG_LEVEL, .log_level = 6 };
	p.reserved[3] = 1;
	EXPECT("params reserved", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), EINVAL);
	p = (struct anarchy_params){ .mask = ANARCHY_PARAM_BANDWIDTH, .bandwidth_cap_mbps = 5000 };
	EXPECT("params cap", ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p), 0);
	ioctl(fd, ANARCHY_IOC_LINK_INFO, &info);
	if (info.bandwidth_cap_mbps != 5000)
		fail("uapi", "bandwidth cap reads %u after setting 5000", info.bandwidth_cap_mbps);
	p.bandwidth_cap_mbps = 0;
	ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p);
	c = (struct anarchy_connect){ .flags = 1 };
	EXPECT("connect flags", ioctl(fd, ANARCHY_IOC_CONNECT, &c), EINVAL);
	c = (struct anarchy_connect){ 0 };
	c.reserved[2] = 9;
	EXPECT("disconnect reserved", ioctl(fd, ANARCHY_IOC_DISCONNECT, &c), EINVAL);

	/* Rings: sizes, one owner, mmap offsets. */
	EXPECT("kick before rings", ioctl(fd, ANARCHY_IOC_KICK, 0), EINVAL);
	EXPECT("mmap before rings",
	       mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EINVAL);
	s = (struct anarchy_ring_setup){ .tx_size = 3000, .rx_size = 4096 };
	EXPECT("rings not pow2", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), EINVAL);
	s = (struct anarchy_ring_setup){ .tx_size = 2048, .rx_size = 4096 };
	EXPECT("rings small", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), EINVAL);
	s = (struct anarchy_ring_setup){ .tx_size = 1U << 27, .rx_size = 4096 };
	EXPECT("rings large", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), EINVAL);
	s = (struct anarchy_ring_setup){ .tx_size = 4096, .rx_size = 4096 };
	s.reserved[0] = 1;
	EXPECT("rings reserved", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), EINVAL);
	s = (struct anarchy_ring_setup){ .tx_size = 8192, .rx_size = 4096 };
	EXPECT("rings", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), 0);
	EXPECT("rings twice", ioctl(fd, ANARCHY_IOC_SETUP_RINGS, &s), EBUSY);
	EXPECT("rings other file", ioctl(fd2, ANARCHY_IOC_SETUP_RINGS, &s), EBUSY);
	EXPECT("kick arg", ioctl(fd, ANARCHY_IOC_KICK, 1), EINVAL);
	EXPECT("kick", ioctl(fd, ANARCHY_IOC_KICK, 0), 0);
	EXPECT("mmap bad offset",
	       mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096) == MAP_FAILED ? -1 : 0, EINVAL);
	EXPECT("mmap too long",
	       mmap(NULL, s.tx_map_size + 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 :
											      0,
	       EINVAL);
	m = mmap(NULL, s.rx_map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)s.rx_offset);
	if (m == MAP_FAILED)
		fail("uapi", "mmap of the RX ring: %s", strerror(errno));
	else if (((struct anarchy_ring_header *)m)->magic != ANARCHY_RING_MAGIC ||
		 ((struct anarchy_ring_header *)m)->data_size != 4096)
		fail("uapi", "the RX ring header is wrong");
	else
		munmap(m, s.rx_map_size);
	EXPECT("mmap exec",
	       mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0,
	       EPERM);
	close(fd);
	EXPECT("rings after owner closed", ioctl(fd2, ANARCHY_IOC_SETUP_RINGS, &s), 0);

	/* Events: whole records only; none waiting is EAGAIN. */
	while (read(fd2, &ev, sizeof(ev)) > 0)
		;
	EXPECT("read short", (int)read(fd2, big, sizeof(ev) - 1), EINVAL);
	EXPECT("read none", (int)read(fd2, &ev, sizeof(ev)), EAGAIN);

	/* Privileges: set-parameters and connect need CAP_SYS_ADMIN. */
	if (fork() == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		p = (struct anarchy_params){ .mask = ANARCHY_PARAM_LOG_LEVEL, .log_level = 6 };
		if (ioctl(fd2, ANARCHY_IOC_SET_PARAMS, &p) == 0 || errno != EPERM)
			_exit(3);
		c = (struct anarchy_connect){ 0 };
		if (ioctl(fd2, ANARCHY_IOC_DISCONNECT, &c) == 0 || errno != EPERM)
			_exit(4);
		if (ioctl(fd2, ANARCHY_IOC_LINK_INFO, &info) < 0)
			_exit(5);
		if (open(near, O_RDWR) >= 0) {
			printf("uapi: an unprivileged user opened %s\n", near);
			_exit(6);
		}
		if (errno != EACCES) {
			printf("uapi: open as nobody: %s, expected EACCES\n", strerror(errno));
			_exit(6);
		}
		_exit(0);
	} else {
		int status = 0;

		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail("uapi", "unprivileged checks failed at step %d", WEXITSTATUS(status));
	}
	close(fd2);
	(void)far;
	if (failures == before)
		pass("uapi");
	return 0;
}

/* Random ioctls. */
static int cmd_fuzz(const char *near, uint64_t n, uint64_t seed)
{
	static const unsigned long cmds[] = {
		ANARCHY_IOC_VERSION,	 ANARCHY_IOC_LINK_INFO, ANARCHY_IOC_SET_PARAMS,
		ANARCHY_IOC_SETUP_RINGS, ANARCHY_IOC_KICK,	ANARCHY_IOC_CONNECT,
		ANARCHY_IOC_DISCONNECT,
	};
	uint64_t s = seed | 1;
	static uint8_t buf[8192];
	int fd = -1;
	uint64_t i;

	/* Random commands include the VFS's own (FIOASYNC asks for SIGIO). */
	signal(SIGIO, SIG_IGN);
	signal(SIGURG, SIG_IGN);

	/* A page followed by a hole: an argument at its end is partly unmapped. */
	uint8_t *edge =
		mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (edge == MAP_FAILED || munmap(edge + 4096, 4096) < 0) {
		fail("fuzz", "mmap: %s", strerror(errno));
		return 0;
	}

	for (i = 0; i < n; i++) {
		uint64_t r = xorshift(&s);
		unsigned long cmd;
		void *arg;

		if (fd < 0 || r % 997 == 0) {
			if (fd >= 0)
				close(fd);
			fd = open(near, O_RDWR | O_NONBLOCK);
			if (fd < 0) {
				fail("fuzz", "open: %s", strerror(errno));
				return 0;
			}
		}
		switch ((r >> 8) % 4) {
		case 0: /* one of ours, as it is */
			cmd = cmds[(r >> 12) % 7];
			break;
		case 1: /* ours with another size or direction */
			cmd = _IOC((r >> 12) % 4, ANARCHY_IOC_MAGIC, (r >> 16) % 10,
				   (r >> 20) % 2048);
			break;
		case 2: /* anything */
			cmd = (unsigned long)(uint32_t)(r >> 16);
			break;
		default: /* ours with random bytes */
			cmd = cmds[(r >> 12) % 7];
			break;
		}
		for (size_t k = 0; k < 64; k += 8) {
			uint64_t v = xorshift(&s);

			memcpy(buf + k, &v, 8);
		}
		/* Plausible ring sizes now and then, so that setup succeeds. */
		if ((r >> 40) % 8 == 0) {
			((struct anarchy_ring_setup *)buf)->tx_size = 4096U << ((r >> 44) % 6);
			((struct anarchy_ring_setup *)buf)->rx_size = 4096U << ((r >> 48) % 6);
			memset(((struct anarchy_ring_setup *)buf)->reserved, 0,
			       sizeof(((struct anarchy_ring_setup *)buf)->reserved));
		}
		switch ((r >> 52) % 6) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = (void *)(uintptr_t)(r >> 4);
			break;
		case 2:
			memcpy(edge + 4096 - 8, buf, 8);
			arg = edge + 4096 - 8;
			break;
		default:
			arg = buf;
			break;
		}
		(void)ioctl(fd, cmd, arg);
		if ((r >> 58) % 16 == 0) {
			void *m = mmap(NULL, 4096 << ((r >> 2) % 4), PROT_READ | PROT_WRITE,
				       MAP_SHARED, fd, (off_t)(4096 * ((r >> 6) % 80)));

			if (m != MAP_FAILED) {
				/* Scribble on the ring headers and data: the module must not care.
				 */
				memset(m, (int)(r & 0xff), 4096);
				ioctl(fd, ANARCHY_IOC_KICK, 0);
				munmap(m, 4096 << ((r >> 2) % 4));
			}
		}
		if ((r >> 60) == 0)
			(void)read(fd, buf, (r >> 3) % 200);
	}
	close(fd);
	/* The link still works after it all. */
	fd = open(near, O_RDWR);
	if (fd >= 0) {
		struct anarchy_connect c = { 0 };
		struct anarchy_params p = { .mask = ANARCHY_PARAM_ALL, .log_level = 6 };

		ioctl(fd, ANARCHY_IOC_CONNECT, &c);
		ioctl(fd, ANARCHY_IOC_SET_PARAMS, &p);
		close(fd);
	}
	printf("fuzz: %" PRIu64 " calls\n", n);
	pass("fuzz");
	return 0;
}

/* Traffic for a while, then exit with records in flight. */
static int cmd_traffic(const char *near, const char *far, unsigned int ms, const char *ready)
{
	struct side a = { .name = near }, b = { .name = far };
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;

	a.link = open_mapped(near);
	b.link = open_mapped(far);
	if (!a.link || !b.link) {
		fail("traffic", "cannot open and map");
		return 0;
	}
	if (ready)
		close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	wait_state(a.link, ANARCHY_LINK_UP, 2000);
	while (now_ns() < end) {
		send_one(&a);
		send_one(&b);
		while (receive_one(&a) == 0)
			;
		while (receive_one(&b) == 0)
			;
		anarchy_link_wait(a.link, POLLIN, 1);
	}
	if (a.received == 0 || b.received == 0)
		fail("traffic", "nothing flowed (%" PRIu64 ", %" PRIu64 ")", a.received,
		     b.received);
	/* Exit without closing: the kernel closes the files with records in flight. */
	return 0;
}

/* Throughput one way with records of `size`, for `ms`, and 64 B round trips. */
static int cmd_bench(const char *near, const char *far)
{
	struct anarchy_link *a = open_mapped(near), *b = open_mapped(far);
	struct anarchy_link_info info;
	uint64_t start, bytes = 0, end;
	static double rtts[2000];
	const uint32_t size = 16384;
	const void *data;
	uint32_t len;
	void *buf;
	int i;

	if (!a || !b || wait_state(a, ANARCHY_LINK_UP, 5000) < 0) {
		fail("bench", "the link did not come up");
		return 0;
	}
	anarchy_link_get_info(a, &info);
	start = now_ns();
	end = start + 3000000000ULL;
	while (now_ns() < end) {
		bool progress = false;

		while (anarchy_link_reserve(a, size, &buf) == 0) {
			anarchy_link_commit(a, 0);
			progress = true;
		}
		while (anarchy_link_receive(b, &data, &len, NULL) == 0) {
			bytes += len;
			anarchy_link_release(b);
			progress = true;
		}
		if (!progress)
			anarchy_link_wait(b, POLLIN, 5);
	}
	printf("BENCH throughput_mbps=%.0f model_mbps=%u record=%u\n",
	       (double)bytes * 8 / ((double)(now_ns() - start) / 1e9) / 1e6, info.dma_rate_mbps,
	       size);
	while (anarchy_link_receive_wait(b, &data, &len, NULL, 200) == 0)
		anarchy_link_release(b);
	print_counters(near, a);
	print_counters(far, b);

	for (i = 0; i < 2000; i++) {
		uint64_t t0 = now_ns();
		char msg[64] = { 0 };

		if (anarchy_link_send(a, msg, sizeof(msg), 1, 1000) < 0 ||
		    anarchy_link_receive_wait(b, &data, &len, NULL, 1000) < 0) {
			fail("bench", "round trip %d: no answer", i);
			return 0;
		}
		anarchy_link_release(b);
		if (anarchy_link_send(b, msg, sizeof(msg), 1, 1000) < 0 ||
		    anarchy_link_receive_wait(a, &data, &len, NULL, 1000) < 0) {
			fail("bench", "round trip %d: no answer back", i);
			return 0;
		}
		anarchy_link_release(a);
		rtts[i] = (double)(now_ns() - t0) / 1000.0;
	}
	for (i = 1; i < 2000; i++)
		for (int k = i; k > 0 && rtts[k - 1] > rtts[k]; k--) {
			double t = rtts[k];

			rtts[k] = rtts[k - 1];
			rtts[k - 1] = t;
		}
	printf("BENCH rtt64_p50_us=%.1f rtt64_p99_us=%.1f rtt64_min_us=%.1f\n", rtts[1000],
	       rtts[1980], rtts[0]);
	pass("bench");
	anarchy_link_close(a);
	anarchy_link_close(b);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "uapi") && argc == 4)
		cmd_uapi(argv[2], argv[3]);
	else if (!strcmp(cmd, "stream") && argc == 5)
		cmd_stream(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	else if (!strcmp(cmd, "faults") && argc == 5)
		cmd_faults(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	else if (!strcmp(cmd, "unplug") && argc == 5)
		cmd_unplug(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	else if (!strcmp(cmd, "downrelease") && argc == 4)
		cmd_downrelease(argv[2], argv[3]);
	else if (!strcmp(cmd, "remove") && argc == 4)
		cmd_remove(argv[2], argv[3]);
	else if (!strcmp(cmd, "bigrecord") && argc == 4)
		cmd_bigrecord(argv[2], argv[3]);
	else if (!strcmp(cmd, "idle") && argc == 5)
		cmd_idle(argv[2], argv[3], (unsigned int)strtoul(argv[4], NULL, 10));
	else if (!strcmp(cmd, "suspend") && argc == 4)
		cmd_suspend(argv[2], argv[3]);
	else if (!strcmp(cmd, "stall") && argc == 4)
		cmd_stall(argv[2], argv[3]);
	else if (!strcmp(cmd, "fuzz") && argc == 5)
		cmd_fuzz(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	else if (!strcmp(cmd, "traffic") && (argc == 5 || argc == 6))
		cmd_traffic(argv[2], argv[3], (unsigned int)strtoul(argv[4], NULL, 10),
			    argc == 6 ? argv[5] : NULL);
	else if (!strcmp(cmd, "bench") && argc == 4)
		cmd_bench(argv[2], argv[3]);
	else {
		fprintf(stderr, "usage: see the head of anarchy-selftest.c\n");
		return 2;
	}
	return failures ? 1 : 0;
}
