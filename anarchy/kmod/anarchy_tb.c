// SPDX-License-Identifier: GPL-2.0
/*
 * anarchy: real mode, the Thunderbolt XDomain service.
 *
 * At load the module publishes an "anarchy" directory in this host's XDomain
 * properties (with the GPUs of local_gpus) and registers a service driver for
 * it. When a far host that publishes the same directory is connected, the
 * Thunderbolt core creates a service device and probes us: we read the far
 * host's GPUs from its properties, allocate a TX and an RX DMA ring on the host
 * interface, open the DMA paths on HopID `hopid` both ways (both hosts use the
 * same HopID, so no login exchange is needed), and hand the link to the
 * protocol engine, which negotiates it with HELLO frames over those rings.
 *
 * This path has not run on Thunderbolt hardware: the build machines have no
 * controller. It builds, and registers cleanly next to the stock thunderbolt
 * module with none.
 */
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/thunderbolt.h>
#include <linux/utsname.h>

#include "anarchy.h"

#define TB_RING_FRAMES 256
#define TB_RX_BUFS 128
#define PDF_FRAME_START 1
#define PDF_FRAME_END 2

static unsigned int hopid = 12;
module_param(hopid, uint, 0444);
MODULE_PARM_DESC(hopid, "DMA path HopID both hosts use (default 12)");

/* The protocol UUID of the service directory. */
static const uuid_t anarchy_dir_uuid = UUID_INIT(0x5d2c1b8e, 0x0a3f, 0x4e61,
						 0x9c, 0x0b, 0x61, 0x6e, 0x61,
						 0x72, 0x63, 0x68);

static struct tb_property_dir *local_dir;
static bool driver_registered;

struct tb_link {
	struct tb_service *svc;
	struct tb_xdomain *xd;
	struct tb_ring *tx_ring;
	struct tb_ring *rx_ring;
	struct anarchy_ep *ep;
	struct anarchy_buf *rx_bufs[TB_RX_BUFS];
	int in_hopid;
	int out_hopid;
	bool paths;
};

static struct device *dma_dev(struct tb_ring *ring)
{
	return tb_ring_dma_device(ring);
}

static void tx_done(struct tb_ring *ring, struct ring_frame *frame,
		    bool canceled)
{
	struct anarchy_buf *buf =
		container_of(frame, struct anarchy_buf, frame);

	dma_unmap_single(dma_dev(ring), buf->dma, buf->len, DMA_TO_DEVICE);
	anarchy_buf_put(buf);
}

static void rx_done_cb(struct tb_ring *ring, struct ring_frame *frame,
		       bool canceled)
{
	struct anarchy_buf *buf =
		container_of(frame, struct anarchy_buf, frame);
	struct tb_link *link = buf->owner->lower;

	dma_unmap_single(dma_dev(ring), buf->dma, ANARCHY_FRAME_SIZE,
			 DMA_FROM_DEVICE);
	buf->dma = 0;
	if (canceled) {
		anarchy_buf_put(buf); /* the ring is stopping */
		return;
	}
	buf->len = frame->size ? frame->size : ANARCHY_FRAME_SIZE;
	if (frame->flags & RING_DESC_CRC_ERROR)
		buf->len = 0; /* the engine counts it as a bad frame */
	buf->due_ns = 0;
	anarchy_ep_deliver(link->ep, buf);
}

static int rx_post(struct tb_link *link, struct anarchy_buf *buf)
{
	struct device *dev = dma_dev(link->rx_ring);
	int r;

	buf->dma = dma_map_single(dev, buf->data, ANARCHY_FRAME_SIZE,
				  DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, buf->dma)) {
		buf->dma = 0;
		return -ENOMEM;
	}
	buf->frame.buffer_phy = buf->dma;
	buf->frame.callback = rx_done_cb;
	r = tb_ring_rx(link->rx_ring, &buf->frame);
	if (r < 0) {
		dma_unmap_single(dev, buf->dma, ANARCHY_FRAME_SIZE,
				 DMA_FROM_DEVICE);
		buf->dma = 0;
	}
	return r;
}

static int tb_xmit(struct anarchy_ep *ep, struct anarchy_buf *buf)
{
	struct tb_link *link = ep->lower;
	struct device *dev;

	if (!link->paths)
		return -ENOLINK;
	dev = dma_dev(link->tx_ring);
	buf->dma = dma_map_single(dev, buf->data, buf->len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, buf->dma))
		return -ENOSPC;
	buf->frame.buffer_phy = buf->dma;
	buf->frame.callback = tx_done;
	buf->frame.size = buf->len & 0xfff; /* 0 is 4096 for the hardware */
	buf->frame.sof = PDF_FRAME_START;
	buf->frame.eof = PDF_FRAME_END;
	if (tb_ring_tx(link->tx_ring, &buf->frame) < 0) {
		dma_unmap_single(dev, buf->dma, buf->len, DMA_TO_DEVICE);
		return -ENOLINK;
	}
	return 0;
}

static void tb_rx_done(struct anarchy_ep *ep, struct anarchy_buf *buf)
{
	struct tb_link *link = ep->lower;

	/* Stopping, or the ring refused it: the buffer goes back to the pool. */
	if (!link->paths || rx_post(link, buf) < 0)
		anarchy_buf_put(buf);
}

static const struct anarchy_lower_ops tb_ops = {
	.xmit = tb_xmit,
	.rx_done = tb_rx_done,
};

static void tb_stop(struct tb_link *link)
{
	unsigned int i;

	if (link->paths) {
		link->paths = false;
		tb_xdomain_disable_paths(link->xd, link->out_hopid,
					 link->tx_ring->hop, link->in_hopid,
					 link->rx_ring->hop);
	}
	if (link->tx_ring) {
		tb_ring_stop(link->tx_ring);
		tb_ring_free(link->tx_ring);
		link->tx_ring = NULL;
	}
	if (link->rx_ring) {
		tb_ring_stop(link->rx_ring);
		tb_ring_free(link->rx_ring);
		link->rx_ring = NULL;
	}
	for (i = 0; i < TB_RX_BUFS; i++) {
		if (link->rx_bufs[i])
			anarchy_buf_put(link->rx_bufs[i]);
		link->rx_bufs[i] = NULL;
	}
	if (link->in_hopid >= 0)
		tb_xdomain_release_in_hopid(link->xd, link->in_hopid);
	if (link->out_hopid >= 0)
		tb_xdomain_release_out_hopid(link->xd, link->out_hopid);
	link->in_hopid = -1;
	link->out_hopid = -1;
}

static int tb_start(struct tb_link *link)
{
	struct tb_xdomain *xd = link->xd;
	unsigned int i;
	int r;

	link->tx_ring = tb_ring_alloc_tx(xd->tb->nhi, -1, TB_RING_FRAMES,
					 RING_FLAG_FRAME);
	if (!link->tx_ring)
		return -ENOMEM;
	link->rx_ring = tb_ring_alloc_rx(xd->tb->nhi, -1, TB_RING_FRAMES,
					 RING_FLAG_FRAME, 0,
					 BIT(PDF_FRAME_START),
					 BIT(PDF_FRAME_END), NULL, NULL);
	if (!link->rx_ring)
		return -ENOMEM;

	r = tb_xdomain_alloc_in_hopid(xd, hopid);
	if (r < 0)
		return r;
	link->in_hopid = r;
	r = tb_xdomain_alloc_out_hopid(xd, hopid);
	if (r < 0)
		return r;
	link->out_hopid = r;

	tb_ring_start(link->tx_ring);
	tb_ring_start(link->rx_ring);
	for (i = 0; i < TB_RX_BUFS; i++) {
		link->rx_bufs[i] = anarchy_buf_get(link->ep);
		if (!link->rx_bufs[i])
			return -ENOMEM;
	}
	r = tb_xdomain_enable_paths(xd, link->out_hopid, link->tx_ring->hop,
				    link->in_hopid, link->rx_ring->hop);
	if (r < 0)
		return r;
	link->paths = true;
	for (i = 0; i < TB_RX_BUFS; i++) {
		r = rx_post(link, link->rx_bufs[i]);
		if (r < 0)
			return r;
		/* The ring has it; it comes back through rx_done. */
		link->rx_bufs[i] = NULL;
	}
	return 0;
}

static int tb_probe(struct tb_service *svc, const struct tb_service_id *id)
{
	struct tb_xdomain *xd = tb_service_parent(svc);
	struct anarchy_gpu_props gpus = {};
	struct tb_link *link;
	int r;

	link = kzalloc(sizeof(*link), GFP_KERNEL);
	if (!link)
		return -ENOMEM;
	link->svc = svc;
	link->xd = xd;
	link->in_hopid = -1;
	link->out_hopid = -1;

	link->ep = anarchy_ep_new(&tb_ops, link, false, utsname()->nodename,
				  xd->local_uuid);
	if (!link->ep) {
		r = -ENOMEM;
		goto err_free;
	}
	link->ep->link_speed_mbps = xd->link_speed * xd->link_width * 1000;
	r = anarchy_ep_register(link->ep);
	if (r < 0)
		goto err_ep;

	if (xd->remote_properties)
		(void)anarchy_props_read_root(xd->remote_properties,
					      &gpus); /* none: no GPUs */

	r = tb_start(link);
	if (r < 0) {
		dev_err(&svc->dev, "cannot open DMA paths on HopID %u: %d\n",
			hopid, r);
		goto err_stop;
	}
	tb_service_set_drvdata(svc, link);
	anarchy_ep_carrier(link->ep, true, xd->remote_uuid, &gpus);
	return 0;

err_stop:
	tb_stop(link);
	anarchy_ep_unregister(link->ep);
	anarchy_ep_flush(link->ep);
err_ep:
	anarchy_ep_put(link->ep);
err_free:
	kfree(link);
	return r;
}

static void tb_remove(struct tb_service *svc)
{
	struct tb_link *link = tb_service_get_drvdata(svc);

	anarchy_ep_gone(link->ep);
	anarchy_ep_unregister(link->ep);
	tb_stop(link);
	anarchy_ep_flush(link->ep);
	anarchy_ep_put(link->ep);
	kfree(link);
}

static const struct tb_service_id anarchy_ids[] = {
	{ TB_SERVICE(ANARCHY_SERVICE_KEY, ANARCHY_SERVICE_ID) },
	{},
};
MODULE_DEVICE_TABLE(tbsvc, anarchy_ids);

static struct tb_service_driver anarchy_driver = {
	.driver = {
		.owner = THIS_MODULE,
		.name = "anarchy",
	},
	.probe = tb_probe,
	.remove = tb_remove,
	.id_table = anarchy_ids,
};

int anarchy_tb_init(void)
{
	struct anarchy_gpu_props gpus;
	int r;

	r = anarchy_props_parse_gpus(anarchy_local_gpus, &gpus);
	if (r < 0) {
		pr_err("anarchy: local_gpus='%s': expected NAME:VRAM_MIB:DRIVER:ENC;...\n",
		       anarchy_local_gpus);
		return r;
	}
	if (hopid < 8 || hopid > 63) {
		pr_err("anarchy: hopid=%u: must be 8 to 63\n", hopid);
		return -EINVAL;
	}
	local_dir = anarchy_props_build(&anarchy_dir_uuid, &gpus);
	if (!local_dir)
		return -ENOMEM;
	r = tb_register_property_dir(ANARCHY_SERVICE_KEY, local_dir);
	if (r < 0)
		goto err_dir;
	r = tb_register_service_driver(&anarchy_driver);
	if (r < 0)
		goto err_unregister_dir;
	driver_registered = true;
	return 0;

err_unregister_dir:
	tb_unregister_property_dir(ANARCHY_SERVICE_KEY, local_dir);
err_dir:
	tb_property_free_dir(local_dir);
	local_dir = NULL;
	return r;
}

void anarchy_tb_exit(void)
{
	if (driver_registered)
		tb_unregister_service_driver(&anarchy_driver);
	driver_registered = false;
	if (local_dir) {
		tb_unregister_property_dir(ANARCHY_SERVICE_KEY, local_dir);
		tb_property_free_dir(local_dir);
	}
	local_dir = NULL;
}
