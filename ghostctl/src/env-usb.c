/* SPDX-License-Identifier: MIT */
/* USB devices from /sys/bus/usb/devices, and the vendor:product ids users give. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "env-internal.h"
#include "env.h"

/* Exactly four hexadecimal digits of s, either case. */
static int parse_hex16(const char *s, uint16_t *ret)
{
	uint16_t v = 0;

	for (size_t i = 0; i < 4; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EINVAL;
		v = (uint16_t)(v << 4 | d);
	}
	*ret = v;
	return 0;
}

int gc_usb_id_parse(const char *s, uint16_t *ret_vendor, uint16_t *ret_product)
{
	uint16_t vendor, product;

	if (strlen(s) != 9 || s[4] != ':' || parse_hex16(s, &vendor) < 0 ||
	    parse_hex16(s + 5, &product) < 0)
		return -EINVAL;
	*ret_vendor = vendor;
	*ret_product = product;
	return 0;
}

void gc_env_usb_dev_done(struct gc_env_usb_dev *dev)
{
	dev->name = mfree(dev->name);
	dev->manufacturer = mfree(dev->manufacturer);
	dev->product_name = mfree(dev->product_name);
}

void gc_env_usb_list_free(struct gc_env_usb_dev *devs, size_t n)
{
	for (size_t i = 0; devs && i < n; i++)
		gc_env_usb_dev_done(&devs[i]);
	free(devs);
}

/* An attribute's first line; NULL when it is missing or empty. */
static int read_string_attr(const char *dir, const char *name, char **ret)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	r = gc_env__read_line(path, &line);
	if (r == -ENOMEM)
		return r;
	*ret = r < 0 || isempty(line) ? NULL : TAKE_PTR(line);
	return 0;
}

/* One device; -ENODEV for what is not a device (an interface, a hub port). */
static int usb_read(const char *name, struct gc_env_usb_dev *ret)
{
	_cleanup_free_ char *dir = NULL, *vendor = NULL, *product = NULL, *bus = NULL,
			    *devnum = NULL;
	struct gc_env_usb_dev dev = { .name = NULL };

	if (asprintf(&dir, "/sys/bus/usb/devices/%s", name) < 0)
		return -ENOMEM;
	if (read_string_attr(dir, "idVendor", &vendor) < 0 ||
	    read_string_attr(dir, "idProduct", &product) < 0 ||
	    read_string_attr(dir, "busnum", &bus) < 0 ||
	    read_string_attr(dir, "devnum", &devnum) < 0)
		return -ENOMEM;
	if (!vendor || !product || strlen(vendor) != 4 || strlen(product) != 4 ||
	    parse_hex16(vendor, &dev.vendor) < 0 || parse_hex16(product, &dev.product) < 0)
		return -ENODEV;
	if (bus && safe_atou(bus, &dev.bus) < 0)
		dev.bus = 0;
	if (devnum && safe_atou(devnum, &dev.device) < 0)
		dev.device = 0;
	dev.name = strdup(name);
	if (!dev.name || read_string_attr(dir, "manufacturer", &dev.manufacturer) < 0 ||
	    read_string_attr(dir, "product", &dev.product_name) < 0) {
		gc_env_usb_dev_done(&dev);
		return -ENOMEM;
	}
	*ret = dev;
	return 0;
}

static int cmp_usb(const void *a, const void *b)
{
	const struct gc_env_usb_dev *x = a, *y = b;

	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	return strcmp(x->name, y->name);
}

int gc_env_usb_list(struct gc_env_usb_dev **ret_devs, size_t *ret_n)
{
	_cleanup_strv_free_ char **names = NULL;
	struct gc_env_usb_dev *devs;
	size_t n = 0;
	int r;

	r = gc_env__list_dir("/sys/bus/usb/devices", &names);
	if (r == -ENOENT) {
		*ret_devs = NULL;
		*ret_n = 0;
		return 0;
	}
	if (r < 0)
		return r;
	devs = calloc(gc_strv_length(names) + 1, sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	for (char **name = names; *name; name++) {
		r = usb_read(*name, &devs[n]);
		if (r == -ENODEV)
			continue;
		if (r < 0) {
			gc_env_usb_list_free(devs, n);
			return r;
		}
		n++;
	}
	qsort(devs, n, sizeof(*devs), cmp_usb);
	*ret_devs = devs;
	*ret_n = n;
	return 0;
}

int gc_env_usb_find(uint16_t vendor, uint16_t product, struct gc_env_usb_dev *ret)
{
	struct gc_env_usb_dev *devs = NULL;
	size_t n = 0;
	int r;

	r = gc_env_usb_list(&devs, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (devs[i].vendor == vendor && devs[i].product == product) {
			*ret = devs[i];
			devs[i] = (struct gc_env_usb_dev){ .name = NULL };
			r = 0;
			break;
		}
	gc_env_usb_list_free(devs, n);
	return r;
}
