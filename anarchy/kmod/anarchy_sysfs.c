// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: sysfs attributes of a link, /sys/class/anarchy/anarchyN/.
 */
#include <linux/capability.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/sysfs.h>

#include "anarchy.h"

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n",
			  anarchy_state_name(READ_ONCE(ep->state)));
}
static DEVICE_ATTR_RO(state);

static ssize_t link_speed_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(ep->carrier) ? ep->link_speed_mbps : 0);
}
static DEVICE_ATTR_RO(link_speed);

/* A counter of struct anarchy_counters, found by its offset. */
struct counter_attr {
	struct device_attribute attr;
	size_t offset;
};

static ssize_t counter_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);
	size_t offset = container_of(attr, struct counter_attr, attr)->offset;
	u64 v;

	mutex_lock(&ep->lock);
	v = *(u64 *)((u8 *)&ep->counters + offset);
	mutex_unlock(&ep->lock);
	return sysfs_emit(buf, "%llu\n", v);
}

static struct counter_attr counter_attrs[] = {
	{ __ATTR(tx_bytes, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, tx_bytes) },
	{ __ATTR(rx_bytes, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, rx_bytes) },
	{ __ATTR(tx_records, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, tx_records) },
	{ __ATTR(rx_records, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, rx_records) },
	{ __ATTR(errors, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, errors) },
	{ __ATTR(crc_errors, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, crc_errors) },
	{ __ATTR(drops, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, drops) },
	{ __ATTR(retransmits, 0444, counter_show, NULL),
	  offsetof(struct anarchy_counters, retransmits) },
};

static ssize_t bandwidth_limit_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", READ_ONCE(ep->bandwidth_cap_mbps));
}

static ssize_t bandwidth_limit_store(struct device *dev,
				     struct device_attribute *attr,
				     const char *buf, size_t len)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);
	struct anarchy_params p = { .mask = ANARCHY_PARAM_BANDWIDTH };
	int r;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	r = kstrtou32(buf, 0, &p.bandwidth_cap_mbps);
	if (r < 0)
		return r;
	r = anarchy_ep_set_params(ep, &p);
	return r < 0 ? r : len;
}
static DEVICE_ATTR_RW(bandwidth_limit);

static ssize_t far_name_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);
	ssize_t r;

	mutex_lock(&ep->lock);
	r = sysfs_emit(buf, "%s\n", ep->far_name);
	mutex_unlock(&ep->lock);
	return r;
}
static DEVICE_ATTR_RO(far_name);

static ssize_t far_gpu_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);
	ssize_t r;

	mutex_lock(&ep->lock);
	r = sysfs_emit(buf, "%s\n",
		       ep->far_gpus.count ? ep->far_gpus.gpus[0].name : "");
	mutex_unlock(&ep->lock);
	return r;
}
static DEVICE_ATTR_RO(far_gpu);

static ssize_t simulated_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	struct anarchy_ep *ep = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", ep->simulated);
}
static DEVICE_ATTR_RO(simulated);

static struct attribute *anarchy_attrs[] = {
	&dev_attr_state.attr,
	&dev_attr_link_speed.attr,
	&counter_attrs[0].attr.attr,
	&counter_attrs[1].attr.attr,
	&counter_attrs[2].attr.attr,
	&counter_attrs[3].attr.attr,
	&counter_attrs[4].attr.attr,
	&counter_attrs[5].attr.attr,
	&counter_attrs[6].attr.attr,
	&counter_attrs[7].attr.attr,
	&dev_attr_bandwidth_limit.attr,
	&dev_attr_far_name.attr,
	&dev_attr_far_gpu.attr,
	&dev_attr_simulated.attr,
	NULL,
};

static const struct attribute_group anarchy_group = {
	.attrs = anarchy_attrs,
};

const struct attribute_group *anarchy_groups[] = {
	&anarchy_group,
	NULL,
};
