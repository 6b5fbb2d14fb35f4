// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: the character device of a link, /dev/anarchyN: ioctls, mmap of the
 * rings, poll and read of events.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "anarchy.h"

/* The UAPI layouts, pinned (anarchy/tests/test-header.c checks them in userspace). */
static_assert(sizeof(struct anarchy_version) == 56);
static_assert(sizeof(struct anarchy_link_info) == 856);
static_assert(sizeof(struct anarchy_params) == 48);
static_assert(sizeof(struct anarchy_ring_setup) == 64);
static_assert(sizeof(struct anarchy_connect) == 32);
static_assert(sizeof(struct anarchy_ring_header) == 192);
static_assert(offsetof(struct anarchy_ring_header, head) == 64);
static_assert(offsetof(struct anarchy_ring_header, tail) == 128);
static_assert(sizeof(struct anarchy_event) == 48);
static_assert(sizeof(struct anarchy_ring_header) <= PAGE_SIZE);

static void rings_free(struct anarchy_rings *rings)
{
	if (!rings)
		return;
	vfree(rings->tx_mem);
	vfree(rings->rx_mem);
	kfree(rings);
}

static void *ring_alloc(u32 data_size, struct anarchy_ring_header **ret_hdr,
			u8 **ret_data, u32 *ret_map_size)
{
	struct anarchy_ring_header *hdr;
	u32 map_size = PAGE_SIZE + data_size;
	void *mem;

	mem = vmalloc_user(map_size);
	if (!mem)
		return NULL;
	hdr = mem;
	hdr->magic = ANARCHY_RING_MAGIC;
	hdr->abi_major = ANARCHY_ABI_MAJOR;
	hdr->abi_minor = ANARCHY_ABI_MINOR;
	hdr->header_size = PAGE_SIZE;
	hdr->data_size = data_size;
	hdr->max_record = anarchy_ring_max_record(data_size);
	*ret_hdr = hdr;
	*ret_data = (u8 *)mem + PAGE_SIZE;
	*ret_map_size = map_size;
	return mem;
}

static int ioc_version(struct anarchy_file *file, void *arg)
{
	struct anarchy_version *v = arg;

	v->major = ANARCHY_ABI_MAJOR;
	v->minor = ANARCHY_ABI_MINOR;
	v->max_record = ANARCHY_MAX_RECORD;
	v->frame_size = ANARCHY_FRAME_SIZE;
	v->features = ANARCHY_FEATURE_FAULTS |
		      (file->ep->simulated ? ANARCHY_FEATURE_TEST_MODE : 0);
	return 0;
}

static int ioc_link_info(struct anarchy_file *file, void *arg)
{
	anarchy_ep_fill_info(file->ep, arg);
	return 0;
}

static bool all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static int ioc_set_params(struct anarchy_file *file, void *arg)
{
	struct anarchy_params *p = arg;

	if (!all_zero(p->reserved, sizeof(p->reserved)))
		return -EINVAL;
	return anarchy_ep_set_params(file->ep, p);
}

static int ioc_setup_rings(struct anarchy_file *file, void *arg)
{
	struct anarchy_ring_setup *s = arg;
	struct anarchy_rings *rings;
	int r;

	if (!all_zero(s->reserved, sizeof(s->reserved)))
		return -EINVAL;
	if (!anarchy_ring_size_valid(s->tx_size) ||
	    !anarchy_ring_size_valid(s->rx_size))
		return -EINVAL;
	if (file->rings)
		return -EBUSY;

	rings = kzalloc(sizeof(*rings), GFP_KERNEL);
	if (!rings)
		return -ENOMEM;
	rings->tx_size = s->tx_size;
	rings->rx_size = s->rx_size;
	rings->tx_mem = ring_alloc(s->tx_size, &rings->tx_hdr, &rings->tx_data,
				   &rings->tx_map_size);
	rings->rx_mem = ring_alloc(s->rx_size, &rings->rx_hdr, &rings->rx_data,
				   &rings->rx_map_size);
	if (!rings->tx_mem || !rings->rx_mem) {
		r = -ENOMEM;
		goto err_free;
	}

	r = anarchy_ep_attach_rings(file->ep, file, rings);
	if (r < 0)
		goto err_free;
	file->rings = rings;

	s->tx_offset = 0;
	s->rx_offset = PAGE_ALIGN(rings->tx_map_size);
	s->tx_map_size = rings->tx_map_size;
	s->rx_map_size = rings->rx_map_size;
	return 0;

err_free:
	rings_free(rings);
	return r;
}

static int ioc_kick(struct anarchy_file *file, void *arg)
{
	struct anarchy_ep *ep = file->ep;
	u32 state;

	if (!file->rings)
		return -EINVAL;
	if (file->rings->tx_dead)
		return -EPROTO;
	anarchy_ep_kick(ep);
	state = READ_ONCE(ep->state);
	if (state == ANARCHY_LINK_DOWN || state == ANARCHY_LINK_SUSPENDED)
		return -ENOLINK;
	return 0;
}

static int ioc_connect(struct anarchy_file *file, void *arg)
{
	struct anarchy_connect *c = arg;

	if (c->flags != 0 || c->reserved0 != 0 ||
	    !all_zero(c->reserved, sizeof(c->reserved)))
		return -EINVAL;
	return anarchy_ep_connect(file->ep, true);
}

static int ioc_disconnect(struct anarchy_file *file, void *arg)
{
	struct anarchy_connect *c = arg;

	if (c->flags != 0 || c->reserved0 != 0 ||
	    !all_zero(c->reserved, sizeof(c->reserved)))
		return -EINVAL;
	return anarchy_ep_connect(file->ep, false);
}

struct anarchy_ioc {
	unsigned int cmd;
	u32 min_size; /* the size of the structure in ABI 1.0 */
	bool admin;
	int (*fn)(struct anarchy_file *file, void *arg);
};

/* Indexed by command number. min_size is the kernel's size too, until a field
 * is appended to one of these structures.
 */
static const struct anarchy_ioc ioc_table[] = {
	[_IOC_NR(ANARCHY_IOC_VERSION)] = { ANARCHY_IOC_VERSION,
					   sizeof(struct anarchy_version),
					   false, ioc_version },
	[_IOC_NR(ANARCHY_IOC_LINK_INFO)] = { ANARCHY_IOC_LINK_INFO,
					     sizeof(struct anarchy_link_info),
					     false, ioc_link_info },
	[_IOC_NR(ANARCHY_IOC_SET_PARAMS)] = { ANARCHY_IOC_SET_PARAMS,
					      sizeof(struct anarchy_params),
					      true, ioc_set_params },
	[_IOC_NR(ANARCHY_IOC_SETUP_RINGS)] = { ANARCHY_IOC_SETUP_RINGS,
					       sizeof(struct anarchy_ring_setup),
					       false, ioc_setup_rings },
	[_IOC_NR(ANARCHY_IOC_KICK)] = { ANARCHY_IOC_KICK, 0, false, ioc_kick },
	[_IOC_NR(ANARCHY_IOC_CONNECT)] = { ANARCHY_IOC_CONNECT,
					   sizeof(struct anarchy_connect), true,
					   ioc_connect },
	[_IOC_NR(ANARCHY_IOC_DISCONNECT)] = { ANARCHY_IOC_DISCONNECT,
					      sizeof(struct anarchy_connect),
					      true, ioc_disconnect },
};

/*
 * Commands are matched on type, number and direction; the size field is the
 * caller's structure size (see the UAPI header): smaller than ABI 1.0's is
 * -EINVAL, larger is fine when its unknown tail is zero.
 */
static long anarchy_ioctl(struct file *filp, unsigned int cmd,
			  unsigned long arg)
{
	struct anarchy_file *file = filp->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int nr = _IOC_NR(cmd);
	u32 usize = _IOC_SIZE(cmd);
	const struct anarchy_ioc *ioc;
	void *kbuf;
	int r;

	if (_IOC_TYPE(cmd) != ANARCHY_IOC_MAGIC || nr >= ARRAY_SIZE(ioc_table))
		return -ENOTTY;
	ioc = &ioc_table[nr];
	if (!ioc->fn || _IOC_DIR(cmd) != _IOC_DIR(ioc->cmd))
		return -ENOTTY;
	if (ioc->admin && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (READ_ONCE(file->ep->gone))
		return -ENODEV;

	if (ioc->min_size == 0) {
		if (usize != 0 || arg != 0)
			return -EINVAL;
		return ioc->fn(file, NULL);
	}
	if (usize < ioc->min_size)
		return -EINVAL;

	kbuf = kzalloc(ioc->min_size, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	if (_IOC_DIR(cmd) & _IOC_WRITE) {
		r = copy_struct_from_user(kbuf, ioc->min_size, uarg, usize);
		if (r < 0)
			goto out;
	}
	r = ioc->fn(file, kbuf);
	if (r < 0 || !(_IOC_DIR(cmd) & _IOC_READ))
		goto out;
	if (copy_to_user(uarg, kbuf, ioc->min_size) ||
	    (usize > ioc->min_size &&
	     clear_user(uarg + ioc->min_size, usize - ioc->min_size)))
		r = -EFAULT;
out:
	kfree(kbuf);
	return r;
}

static int anarchy_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct anarchy_file *file = filp->private_data;
	struct anarchy_rings *rings = file->rings;
	unsigned long offset = vma->vm_pgoff << PAGE_SHIFT;
	unsigned long len = vma->vm_end - vma->vm_start;
	void *mem;
	u32 size;

	if (!rings)
		return -EINVAL;
	if (offset == 0) {
		mem = rings->tx_mem;
		size = rings->tx_map_size;
	} else if (offset == PAGE_ALIGN(rings->tx_map_size)) {
		mem = rings->rx_mem;
		size = rings->rx_map_size;
	} else {
		return -EINVAL;
	}
	if (len > PAGE_ALIGN(size))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vma->vm_flags &= ~VM_MAYEXEC;
	return remap_vmalloc_range(vma, mem, 0);
}

static __poll_t anarchy_poll(struct file *filp, poll_table *wait)
{
	struct anarchy_file *file = filp->private_data;
	struct anarchy_ep *ep = file->ep;
	struct anarchy_rings *rings = file->rings;
	__poll_t mask = 0;

	poll_wait(filp, &ep->poll_wq, wait);
	if (READ_ONCE(ep->gone))
		mask |= EPOLLHUP | EPOLLERR;
	if (READ_ONCE(file->ev_count) || READ_ONCE(file->ev_lost))
		mask |= EPOLLPRI;
	if (rings) {
		u32 head, tail;

		/* Pairs with the engine's release of head: see rx_publish. */
		head = smp_load_acquire(&rings->rx_hdr->head);
		if (head != READ_ONCE(rings->rx_hdr->tail))
			mask |= EPOLLIN | EPOLLRDNORM;
		/* Pairs with the engine's release of tail in handle_ack. */
		tail = smp_load_acquire(&rings->tx_hdr->tail);
		if (anarchy_ring_free(rings->tx_size,
				      READ_ONCE(rings->tx_hdr->head),
				      tail) >= rings->tx_size / 2)
			mask |= EPOLLOUT | EPOLLWRNORM;
		if (rings->tx_dead)
			mask |= EPOLLERR;
	}
	return mask;
}

static ssize_t anarchy_read(struct file *filp, char __user *ubuf, size_t len,
			    loff_t *ppos)
{
	struct anarchy_file *file = filp->private_data;
	struct anarchy_ep *ep = file->ep;
	struct anarchy_event *evs;
	unsigned int n = 0, max = len / sizeof(*evs);
	ssize_t r;

	if (max == 0)
		return -EINVAL;
	max = min_t(unsigned int, max, ANARCHY_EVENT_QUEUE + 1);

	for (;;) {
		if (READ_ONCE(file->ev_count) || READ_ONCE(file->ev_lost))
			break;
		if (READ_ONCE(ep->gone))
			return 0;
		if (filp->f_flags & O_NONBLOCK)
			return -EAGAIN;
		r = wait_event_interruptible(ep->poll_wq,
					     READ_ONCE(file->ev_count) ||
						     READ_ONCE(file->ev_lost) ||
						     READ_ONCE(ep->gone));
		if (r < 0)
			return r;
	}

	evs = kcalloc(max, sizeof(*evs), GFP_KERNEL);
	if (!evs)
		return -ENOMEM;
	spin_lock(&file->ev_lock);
	if (file->ev_lost) {
		evs[n++] = (struct anarchy_event){
			.type = ANARCHY_EVENT_EVENTS_LOST,
			.link = ep->index,
			.time_ns = ktime_get_ns(),
			.seq = file->ev_seq,
			.state = READ_ONCE(ep->state),
			.value = file->ev_lost,
		};
		file->ev_lost = 0;
	}
	while (n < max && file->ev_count) {
		evs[n++] = file->events[file->ev_head];
		file->ev_head = (file->ev_head + 1) % ANARCHY_EVENT_QUEUE;
		file->ev_count--;
	}
	spin_unlock(&file->ev_lock);

	r = copy_to_user(ubuf, evs, n * sizeof(*evs)) ? -EFAULT :
							n * sizeof(*evs);
	kfree(evs);
	return r;
}

static int anarchy_open(struct inode *inode, struct file *filp)
{
	struct anarchy_file *file;
	struct anarchy_ep *ep;

	ep = anarchy_ep_get_by_minor(iminor(inode));
	if (!ep)
		return -ENODEV;
	file = kzalloc(sizeof(*file), GFP_KERNEL);
	if (!file) {
		anarchy_ep_put(ep);
		return -ENOMEM;
	}
	file->ep = ep;
	spin_lock_init(&file->ev_lock);
	spin_lock(&ep->files_lock);
	list_add_tail(&file->node, &ep->files);
	spin_unlock(&ep->files_lock);
	filp->private_data = file;
	return nonseekable_open(inode, filp);
}

static int anarchy_release(struct inode *inode, struct file *filp)
{
	struct anarchy_file *file = filp->private_data;
	struct anarchy_ep *ep = file->ep;

	spin_lock(&ep->files_lock);
	list_del(&file->node);
	spin_unlock(&ep->files_lock);
	if (file->rings) {
		anarchy_ep_detach_rings(ep, file);
		rings_free(file->rings);
	}
	kfree(file);
	anarchy_ep_put(ep);
	return 0;
}

const struct file_operations anarchy_fops = {
	.owner = THIS_MODULE,
	.open = anarchy_open,
	.release = anarchy_release,
	.unlocked_ioctl = anarchy_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = anarchy_mmap,
	.poll = anarchy_poll,
	.read = anarchy_read,
	.llseek = no_llseek,
};
