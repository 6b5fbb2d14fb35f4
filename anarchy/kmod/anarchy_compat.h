/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What anarchy_proto.c needs from its surroundings. In the kernel that is the
 * kernel's own headers; the userspace unit test and fuzz harness
 * (anarchy/tests) build the same file against anarchy_compat_user.h, which
 * provides the same names.
 */
#ifndef ANARCHY_COMPAT_H
#define ANARCHY_COMPAT_H

#ifdef __KERNEL__
#include <asm/byteorder.h>
#include <linux/bug.h>
#include <linux/crc32c.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/string.h>
#include <linux/time64.h>
#include <linux/types.h>
#else
#include "anarchy_compat_user.h"
#endif

#endif /* ANARCHY_COMPAT_H */
