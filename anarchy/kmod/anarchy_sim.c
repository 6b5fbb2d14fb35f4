// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: test mode. A simulated link is a cable with an endpoint at each end;
 * a frame one end sends is handed to the other after the link model's delay
 * (its rate and latency), as the far host's DMA engine would. Fault injection
 * (debugfs) acts here, on the frames an end sends.
 */
#include <linux/capability.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/thunderbolt.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>

#include "anarchy.h"

static unsigned int sim_link_mbps = 40000;
module_param(sim_link_mbps, uint, 0444);
MODULE_PARM_DESC(sim_link_mbps,
		 "Simulated link signalling rate (Mb/s, default 40000: TB3)");

static unsigned int sim_dma_mbps = 10000;
module_param(sim_dma_mbps, uint, 0444);
MODULE_PARM_DESC(sim_dma_mbps,
		 "Simulated DMA rate (Mb/s, default 10000: a TB3 rail); 0: no model");

static unsigned int sim_latency_us = 1;
module_param(sim_latency_us, uint, 0444);
MODULE_PARM_DESC(sim_latency_us, "Simulated one-way latency (us, default 1)");

static char *sim_far_name = "anarchy-sim";
module_param(sim_far_name, charp, 0444);
MODULE_PARM_DESC(sim_far_name, "Host name of the simulated far host");

static char *sim_gpus = "NVIDIA GeForce RTX 4090:24564:nvidia:h264+hevc+av1";
module_param(sim_gpus, charp, 0444);
MODULE_PARM_DESC(sim_gpus,
		 "GPUs of the simulated far host: NAME:VRAM_MIB:DRIVER:ENC[+ENC] separated by ;");

struct sim_link {
	unsigned int index;
	struct anarchy_ep *ep[2]; /* 0: this host's end, 1: the far host's */
	bool removed; /* the far host's service went away (debugfs "present") */
	struct dentry *debugfs;
	struct anarchy_gpu_props gpus[2]; /* what each end advertises */
	uuid_t uuid[2];
	bool plugged;
};

static struct sim_link *links;
static unsigned int n_links;
/* Serializes plugging, removal and addition of the simulated links. */
static DEFINE_MUTEX(sim_lock);
/*
 * Serializes whole removals and additions (debugfs "present"): a removal drops
 * sim_lock while it stops the engines, and an addition must not run then.
 */
static DEFINE_MUTEX(present_lock);

static struct anarchy_ep *peer_of(struct anarchy_ep *ep)
{
	struct sim_link *link = ep->lower;

	return link->ep[link->ep[0] == ep ? 1 : 0];
}

static int sim_xmit(struct anarchy_ep *ep, struct anarchy_buf *buf)
{
	struct sim_link *link = ep->lower;
	u64 now = ktime_get_ns();

	if (!READ_ONCE(link->plugged))
		return -ENOLINK;

	/* Faults: a frame that is lost is still "sent" as far as the sender can
	 * tell.
	 */
	if (atomic_read(&ep->faults.stall) ||
	    atomic_dec_if_positive(&ep->faults.drop) >= 0) {
		anarchy_buf_put(buf);
		return 0;
	}
	if (atomic_dec_if_positive(&ep->faults.corrupt) >= 0)
		buf->data[get_random_u32_below(buf->len)] ^= 0x5a;

	buf->due_ns = anarchy_model_schedule(&ep->model, now, buf->len) +
		      (u64)atomic_read(&ep->faults.delay_us) * NSEC_PER_USEC;
	anarchy_ep_deliver(peer_of(ep), buf);
	return 0;
}

static void sim_rx_done(struct anarchy_ep *ep, struct anarchy_buf *buf)
{
	anarchy_buf_put(buf);
}

static const struct anarchy_lower_ops sim_ops = {
	.xmit = sim_xmit,
	.rx_done = sim_rx_done,
};

/*
 * What the far end advertises, the way the Thunderbolt core hands it over: a
 * root directory holding the "anarchy" service directory, read with the code
 * real mode uses on a far host's properties. (The core's block formatter and
 * parser, which sit between the two in real mode, are not exported to modules.)
 */
static int far_props(struct sim_link *link, int far,
		     struct anarchy_gpu_props *ret)
{
	struct tb_property_dir *root, *svc;
	int r;

	root = tb_property_create_dir(NULL);
	if (!root)
		return -ENOMEM;
	svc = anarchy_props_build(&link->uuid[far], &link->gpus[far]);
	if (!svc) {
		r = -ENOMEM;
		goto out;
	}
	r = tb_property_add_dir(root, ANARCHY_SERVICE_KEY, svc);
	if (r < 0) {
		tb_property_free_dir(svc);
		goto out;
	}
	r = anarchy_props_read_root(root, ret);
out:
	tb_property_free_dir(root);
	return r;
}

static int sim_plug_locked(struct sim_link *link, bool plug)
{
	struct anarchy_gpu_props gpus;
	int side, r;

	if (plug) {
		if (READ_ONCE(link->plugged))
			return 0;
		WRITE_ONCE(link->plugged, true);
		for (side = 0; side < 2; side++) {
			r = far_props(link, !side, &gpus);
			if (r < 0)
				return r;
			anarchy_ep_carrier(link->ep[side], true,
					   &link->uuid[!side], &gpus);
		}
		return 0;
	}
	if (!READ_ONCE(link->plugged))
		return 0;
	/* Cable out: frames on the wire are lost. */
	WRITE_ONCE(link->plugged, false);
	for (side = 0; side < 2; side++)
		anarchy_ep_carrier(link->ep[side], false, NULL, NULL);
	for (side = 0; side < 2; side++)
		anarchy_ep_flush(link->ep[side]);
	return 0;
}

int anarchy_sim_plug(struct anarchy_ep *ep, bool plug)
{
	struct sim_link *link = ep->lower;
	int r = -ENODEV;

	if (!ep->simulated)
		return -EOPNOTSUPP;
	mutex_lock(&sim_lock);
	if (!link->removed && (link->ep[0] == ep || link->ep[1] == ep))
		r = sim_plug_locked(link, plug);
	mutex_unlock(&sim_lock);
	return r;
}

static int link_init(struct sim_link *link)
{
	int side, r;

	for (side = 0; side < 2; side++) {
		struct anarchy_ep *ep;

		uuid_gen(&link->uuid[side]);
		ep = anarchy_ep_new(&sim_ops, link, true,
				    side == 0 ? utsname()->nodename :
						sim_far_name,
				    &link->uuid[side]);
		if (!ep)
			return -ENOMEM;
		link->ep[side] = ep;
		ep->link_speed_mbps = sim_link_mbps;
		ep->dma_rate_mbps = sim_dma_mbps;
		ep->latency_us = sim_latency_us;
		ep->model.rate_bps = anarchy_model_rate(sim_dma_mbps, 0);
		ep->model.latency_ns = (u64)sim_latency_us * NSEC_PER_USEC;
		r = anarchy_ep_register(ep);
		if (r < 0)
			return r;
	}
	return sim_plug_locked(link, true);
}

/*
 * Takes both ends of a link away, as when the far host's service disappears: open
 * files see the link gone (ENODEV, POLLHUP) and keep their endpoint alive until they
 * close. The engines stop before link->ep[] is cleared, since xmit looks there.
 */
static void link_exit(struct sim_link *link, bool gone)
{
	struct anarchy_ep *ep[2];
	int side;

	mutex_lock(&sim_lock);
	WRITE_ONCE(link->plugged, false);
	ep[0] = link->ep[0];
	ep[1] = link->ep[1];
	link->removed = true;
	mutex_unlock(&sim_lock);

	for (side = 0; side < 2; side++)
		if (ep[side] && gone)
			anarchy_ep_gone(ep[side]);
	for (side = 0; side < 2; side++)
		if (ep[side])
			anarchy_ep_unregister(ep[side]);
	for (side = 0; side < 2; side++)
		if (ep[side])
			anarchy_ep_flush(ep[side]);

	mutex_lock(&sim_lock);
	link->ep[0] = NULL;
	link->ep[1] = NULL;
	mutex_unlock(&sim_lock);
	for (side = 0; side < 2; side++)
		anarchy_ep_put(ep[side]);
}

static int link_add(struct sim_link *link)
{
	int r;

	mutex_lock(&sim_lock);
	link->removed = false;
	r = link_init(link);
	mutex_unlock(&sim_lock);
	if (r < 0)
		link_exit(link, false);
	return r;
}

static ssize_t present_read(struct file *filp, char __user *ubuf, size_t len,
			    loff_t *ppos)
{
	struct sim_link *link = filp->private_data;
	char buf[4];
	int n;

	n = scnprintf(buf, sizeof(buf), "%d\n", !READ_ONCE(link->removed));
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static ssize_t present_write(struct file *filp, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	struct sim_link *link = filp->private_data;
	bool present;
	int r;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	r = kstrtobool_from_user(ubuf, len, &present);
	if (r < 0)
		return r;
	mutex_lock(&present_lock);
	if (present != !READ_ONCE(link->removed)) {
		pr_info("anarchy: simulated link %u: far host service %s\n",
			link->index, present ? "back" : "gone");
		if (present)
			r = link_add(link);
		else
			link_exit(link, true);
	}
	mutex_unlock(&present_lock);
	return r < 0 ? r : len;
}

static const struct file_operations present_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = present_read,
	.write = present_write,
	.llseek = no_llseek,
};

int anarchy_sim_init(unsigned int count)
{
	struct anarchy_gpu_props far_gpus, near_gpus;
	unsigned int i;
	int r;

	r = anarchy_props_parse_gpus(sim_gpus, &far_gpus);
	if (r < 0) {
		pr_err("anarchy: sim_gpus='%s': expected NAME:VRAM_MIB:DRIVER:ENC[+ENC];...\n",
		       sim_gpus);
		return r;
	}
	r = anarchy_props_parse_gpus(anarchy_local_gpus, &near_gpus);
	if (r < 0)
		return r; /* anarchy_tb_init() said why */

	links = kcalloc(count, sizeof(*links), GFP_KERNEL);
	if (!links)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		char name[24];

		links[i].index = i;
		links[i].gpus[0] = near_gpus;
		links[i].gpus[1] = far_gpus;
		n_links = i + 1;
		r = link_add(&links[i]);
		if (r < 0) {
			anarchy_sim_exit();
			return r;
		}
		snprintf(name, sizeof(name), "sim-link%u", i);
		links[i].debugfs = debugfs_create_dir(name, anarchy_debugfs_root);
		debugfs_create_file("present", 0600, links[i].debugfs, &links[i],
				    &present_fops);
	}
	return 0;
}

void anarchy_sim_exit(void)
{
	unsigned int i;

	for (i = 0; i < n_links; i++) {
		debugfs_remove_recursive(links[i].debugfs);
		link_exit(&links[i], false);
	}
	kfree(links);
	links = NULL;
	n_links = 0;
}
