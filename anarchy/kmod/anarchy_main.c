// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: the Thunderbolt eGPU link. Module parameters, the device class and
 * the start and end of everything.
 *
 * Real mode registers the "anarchy" XDomain service (anarchy_tb.c). With
 * test_mode=1 the module also makes sim_links simulated links (anarchy_sim.c),
 * each a pair of endpoints joined back to back: /dev/anarchy(2k) is this host's
 * end of link k and /dev/anarchy(2k+1) the simulated far host's.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "anarchy.h"

static bool test_mode;
module_param(test_mode, bool, 0444);
MODULE_PARM_DESC(test_mode,
		 "Simulate sim_links links to a far host (default off)");

static unsigned int sim_links = 1;
module_param(sim_links, uint, 0444);
MODULE_PARM_DESC(sim_links,
		 "Simulated links in test mode (default 1, at most 16)");

unsigned int anarchy_log_level = 6;
module_param_named(log_level, anarchy_log_level, uint, 0644);
MODULE_PARM_DESC(log_level,
		 "Log level of new links: 3 error, 4 warning, 6 info (default), 7 debug");

char *anarchy_local_gpus = "";
module_param_named(local_gpus, anarchy_local_gpus, charp, 0444);
MODULE_PARM_DESC(local_gpus,
		 "GPUs this host advertises to far hosts: NAME:VRAM_MIB:DRIVER:ENC[+ENC];...");

struct class *anarchy_class;
dev_t anarchy_devt;
struct kmem_cache *anarchy_buf_cache;
struct dentry *anarchy_debugfs_root;

static char *anarchy_devnode(struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0660;
	return NULL;
}

static int anarchy_suspend(struct device *dev)
{
	anarchy_ep_suspend(dev_get_drvdata(dev), true);
	return 0;
}

static int anarchy_resume(struct device *dev)
{
	anarchy_ep_suspend(dev_get_drvdata(dev), false);
	return 0;
}

static SIMPLE_DEV_PM_OPS(anarchy_pm_ops, anarchy_suspend, anarchy_resume);

static int __init anarchy_init(void)
{
	int r;

	if (test_mode && (sim_links == 0 || sim_links > 16)) {
		pr_err("anarchy: sim_links=%u: must be 1 to 16\n", sim_links);
		return -EINVAL;
	}
	if (anarchy_log_level > 7) {
		pr_err("anarchy: log_level=%u: must be 0 to 7\n",
		       anarchy_log_level);
		return -EINVAL;
	}

	anarchy_buf_cache = kmem_cache_create("anarchy_buf",
					      sizeof(struct anarchy_buf), 0, 0,
					      NULL);
	if (!anarchy_buf_cache)
		return -ENOMEM;

	r = alloc_chrdev_region(&anarchy_devt, 0, ANARCHY_MAX_LINKS, "anarchy");
	if (r < 0)
		goto err_cache;

	anarchy_class = class_create(THIS_MODULE, "anarchy");
	if (IS_ERR(anarchy_class)) {
		r = PTR_ERR(anarchy_class);
		goto err_chrdev;
	}
	anarchy_class->devnode = anarchy_devnode;
	anarchy_class->pm = &anarchy_pm_ops;

	anarchy_debugfs_root = debugfs_create_dir("anarchy", NULL);

	r = anarchy_tb_init();
	if (r < 0)
		goto err_class;

	if (test_mode) {
		r = anarchy_sim_init(sim_links);
		if (r < 0)
			goto err_tb;
	}
	pr_info("anarchy: ABI %u.%u, %s\n", ANARCHY_ABI_MAJOR,
		ANARCHY_ABI_MINOR, test_mode ? "test mode" : "real mode");
	return 0;

err_tb:
	anarchy_tb_exit();
err_class:
	debugfs_remove_recursive(anarchy_debugfs_root);
	class_destroy(anarchy_class);
err_chrdev:
	unregister_chrdev_region(anarchy_devt, ANARCHY_MAX_LINKS);
err_cache:
	kmem_cache_destroy(anarchy_buf_cache);
	return r;
}

static void __exit anarchy_exit(void)
{
	if (test_mode)
		anarchy_sim_exit();
	anarchy_tb_exit();
	debugfs_remove_recursive(anarchy_debugfs_root);
	class_destroy(anarchy_class);
	unregister_chrdev_region(anarchy_devt, ANARCHY_MAX_LINKS);
	kmem_cache_destroy(anarchy_buf_cache);
}

module_init(anarchy_init);
module_exit(anarchy_exit);

MODULE_DESCRIPTION("anarchy: message rings between hosts over Thunderbolt");
MODULE_LICENSE("GPL");
