// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: fault injection in debugfs, /sys/kernel/debug/anarchy/anarchyN/:
 *
 *   drop      write N: the next N frames this end sends are lost
 *   corrupt   write N: a byte of each of the next N frames is flipped (the CRC
 * catches it) delay_us  write N: every frame this end sends arrives N us later
 * (0: off) stall     write 1: this end goes silent, as a hung host would; 0: it
 * speaks again plugged   write 0: pull the cable of the link (both ends); 1:
 * plug it back in
 *
 * Reading a file gives its current value. Writing needs CAP_SYS_ADMIN.
 */
#include <linux/capability.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/uaccess.h>

#include "anarchy.h"

enum knob {
	KNOB_DROP,
	KNOB_CORRUPT,
	KNOB_DELAY,
	KNOB_STALL,
	KNOB_PLUGGED,
};

struct knob_file {
	const char *name;
	enum knob knob;
};

static const struct knob_file knobs[] = {
	{ "drop", KNOB_DROP },	     { "corrupt", KNOB_CORRUPT },
	{ "delay_us", KNOB_DELAY },  { "stall", KNOB_STALL },
	{ "plugged", KNOB_PLUGGED },
};

static atomic_t *knob_atomic(struct anarchy_ep *ep, enum knob knob)
{
	switch (knob) {
	case KNOB_DROP:
		return &ep->faults.drop;
	case KNOB_CORRUPT:
		return &ep->faults.corrupt;
	case KNOB_DELAY:
		return &ep->faults.delay_us;
	case KNOB_STALL:
		return &ep->faults.stall;
	default:
		return NULL;
	}
}

static int knob_open(struct inode *inode, struct file *filp)
{
	/* i_private is a struct anarchy_knob of the endpoint. */
	filp->private_data = inode->i_private;
	return nonseekable_open(inode, filp);
}

static ssize_t knob_read(struct file *filp, char __user *ubuf, size_t len,
			 loff_t *ppos)
{
	const struct anarchy_knob *knob = filp->private_data;
	const struct knob_file *k = &knobs[knob->id];
	struct anarchy_ep *ep = knob->ep;
	char buf[24];
	int n, v;

	if (k->knob == KNOB_PLUGGED)
		v = READ_ONCE(ep->carrier);
	else
		v = atomic_read(knob_atomic(ep, k->knob));
	n = scnprintf(buf, sizeof(buf), "%d\n", v);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static ssize_t knob_write(struct file *filp, const char __user *ubuf,
			  size_t len, loff_t *ppos)
{
	const struct anarchy_knob *knob = filp->private_data;
	const struct knob_file *k = &knobs[knob->id];
	struct anarchy_ep *ep = knob->ep;
	unsigned int v;
	int r;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	r = kstrtouint_from_user(ubuf, len, 0, &v);
	if (r < 0)
		return r;
	if (v > INT_MAX || (k->knob == KNOB_DELAY && v > 10000000) ||
	    ((k->knob == KNOB_STALL || k->knob == KNOB_PLUGGED) && v > 1))
		return -EINVAL;

	if (k->knob == KNOB_PLUGGED) {
		r = anarchy_sim_plug(ep, v);
		if (r < 0)
			return r;
	} else {
		atomic_set(knob_atomic(ep, k->knob), v);
		anarchy_ep_kick(ep);
	}
	if (ep->dev)
		dev_info(ep->dev, "fault injection: %s=%u\n", k->name, v);
	return len;
}

static const struct file_operations knob_fops = {
	.owner = THIS_MODULE,
	.open = knob_open,
	.read = knob_read,
	.write = knob_write,
	.llseek = no_llseek,
};

void anarchy_debugfs_add(struct anarchy_ep *ep)
{
	struct dentry *dir;
	unsigned int i;

	dir = debugfs_create_dir(dev_name(ep->dev), anarchy_debugfs_root);
	if (IS_ERR(dir))
		return;
	BUILD_BUG_ON(ARRAY_SIZE(knobs) != ANARCHY_KNOBS);
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		if (knobs[i].knob == KNOB_PLUGGED && !ep->simulated)
			continue;
		ep->knobs[i] = (struct anarchy_knob){ .ep = ep, .id = i };
		debugfs_create_file(knobs[i].name, 0600, dir, &ep->knobs[i],
				    &knob_fops);
	}
	ep->debugfs = dir;
}
