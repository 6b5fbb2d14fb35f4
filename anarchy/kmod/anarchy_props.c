// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: GPU capabilities in the XDomain property directory.
 *
 * A host advertises its GPUs in its "anarchy" service directory: gpucount, and
 * per GPU i gpuiname (text), gpuivram (MiB), gpuidrv (text), gpuienc
 * (ANARCHY_ENC_* bits). Keys are at most 8 characters (TB_PROPERTY_KEY_SIZE).
 * The far host's directory is read with the same code in both modes
 * (anarchy_props_read_root()).
 */
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/thunderbolt.h>

#include "anarchy.h"

static int parse_encoders(char *s, u32 *ret)
{
	char *tok;
	u32 enc = 0;

	while ((tok = strsep(&s, "+"))) {
		if (!strcmp(tok, "h264"))
			enc |= ANARCHY_ENC_H264;
		else if (!strcmp(tok, "hevc"))
			enc |= ANARCHY_ENC_HEVC;
		else if (!strcmp(tok, "av1"))
			enc |= ANARCHY_ENC_AV1;
		else if (*tok)
			return -EINVAL;
	}
	*ret = enc;
	return 0;
}

/* "NAME:VRAM_MIB:DRIVER:ENC[+ENC...]" entries separated by ';'. */
int anarchy_props_parse_gpus(const char *spec, struct anarchy_gpu_props *ret)
{
	struct anarchy_gpu_props props = {};
	char *copy, *s, *entry;
	int r = 0;

	if (!spec || !*spec) {
		*ret = props;
		return 0;
	}
	copy = kstrdup(spec, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	s = copy;
	while ((entry = strsep(&s, ";"))) {
		struct anarchy_gpu *gpu = &props.gpus[props.count];
		char *name, *vram, *driver;
		u32 mib;

		if (!*entry)
			continue;
		if (props.count == ANARCHY_MAX_GPUS) {
			r = -E2BIG;
			break;
		}
		name = strsep(&entry, ":");
		vram = strsep(&entry, ":");
		driver = strsep(&entry, ":");
		if (!entry || !*name || strlen(name) >= sizeof(gpu->name) ||
		    !driver || strlen(driver) >= sizeof(gpu->driver) ||
		    kstrtou32(vram, 10, &mib) < 0 ||
		    parse_encoders(entry, &gpu->encoders) < 0) {
			r = -EINVAL;
			break;
		}
		strscpy(gpu->name, name, sizeof(gpu->name));
		strscpy(gpu->driver, driver, sizeof(gpu->driver));
		gpu->vram_bytes = (u64)mib << 20;
		props.count++;
	}
	kfree(copy);
	if (r == 0)
		*ret = props;
	return r;
}

static int add_gpu(struct tb_property_dir *dir, unsigned int i,
		   const struct anarchy_gpu *gpu)
{
	char key[TB_PROPERTY_KEY_SIZE + 1];
	u32 mib;
	int r;

	snprintf(key, sizeof(key), "gpu%uname", i);
	r = tb_property_add_text(dir, key, gpu->name);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "gpu%uvram", i);
	mib = min_t(u64, gpu->vram_bytes >> 20, U32_MAX);
	r = tb_property_add_immediate(dir, key, mib);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "gpu%udrv", i);
	r = tb_property_add_text(dir, key, gpu->driver);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "gpu%uenc", i);
	return tb_property_add_immediate(dir, key, gpu->encoders);
}

/* The service directory: the standard protocol entries, then the GPUs. */
struct tb_property_dir *
anarchy_props_build(const uuid_t *uuid, const struct anarchy_gpu_props *gpus)
{
	struct tb_property_dir *dir;
	unsigned int i;
	int r;

	dir = tb_property_create_dir(uuid);
	if (!dir)
		return NULL;
	r = tb_property_add_immediate(dir, "prtcid", ANARCHY_SERVICE_ID);
	if (!r)
		r = tb_property_add_immediate(dir, "prtcvers",
					      ANARCHY_SERVICE_VERSION);
	if (!r)
		r = tb_property_add_immediate(dir, "prtcrevs",
					      ANARCHY_ABI_MINOR);
	if (!r)
		r = tb_property_add_immediate(dir, "prtcstns", 0);
	if (!r)
		r = tb_property_add_immediate(dir, "gpucount", gpus->count);
	for (i = 0; !r && i < gpus->count; i++)
		r = add_gpu(dir, i, &gpus->gpus[i]);
	if (r < 0) {
		tb_property_free_dir(dir);
		return NULL;
	}
	return dir;
}

static void read_text(struct tb_property_dir *dir, const char *key, char *out,
		      size_t size)
{
	struct tb_property *p =
		tb_property_find(dir, key, TB_PROPERTY_TYPE_TEXT);

	out[0] = '\0';
	if (p)
		strscpy(out, p->value.text, size);
}

static u32 read_value(struct tb_property_dir *dir, const char *key)
{
	struct tb_property *p =
		tb_property_find(dir, key, TB_PROPERTY_TYPE_VALUE);

	return p ? p->value.immediate : 0;
}

/* Reads the GPUs of a service directory; what is missing or malformed is left
 * out.
 */
void anarchy_props_read(struct tb_property_dir *dir,
			struct anarchy_gpu_props *ret)
{
	char key[TB_PROPERTY_KEY_SIZE + 1];
	unsigned int i, n;

	memset(ret, 0, sizeof(*ret));
	n = min_t(u32, read_value(dir, "gpucount"), ANARCHY_MAX_GPUS);
	for (i = 0; i < n; i++) {
		struct anarchy_gpu *gpu = &ret->gpus[ret->count];

		snprintf(key, sizeof(key), "gpu%uname", i);
		read_text(dir, key, gpu->name, sizeof(gpu->name));
		if (!gpu->name[0])
			continue;
		snprintf(key, sizeof(key), "gpu%udrv", i);
		read_text(dir, key, gpu->driver, sizeof(gpu->driver));
		snprintf(key, sizeof(key), "gpu%uvram", i);
		gpu->vram_bytes = (u64)read_value(dir, key) << 20;
		snprintf(key, sizeof(key), "gpu%uenc", i);
		gpu->encoders =
			read_value(dir, key) &
			(ANARCHY_ENC_H264 | ANARCHY_ENC_HEVC | ANARCHY_ENC_AV1);
		ret->count++;
	}
}

/* Reads the GPUs from a host's root property directory: -ENOENT without the
 * service.
 */
int anarchy_props_read_root(struct tb_property_dir *root,
			    struct anarchy_gpu_props *ret)
{
	struct tb_property *p;

	p = tb_property_find(root, ANARCHY_SERVICE_KEY,
			     TB_PROPERTY_TYPE_DIRECTORY);
	if (!p)
		return -ENOENT;
	anarchy_props_read(p->value.dir, ret);
	return 0;
}
