/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio, version 2 (virtio 1.2 section 4.2.2), and the device
 * lifecycle of sections 2.1 and 3.1 that every virtio device shares: the
 * status state machine, feature negotiation, queue validation at DRIVER_OK,
 * interrupts and reset. This is the only transport, so the virtio_dev_*
 * functions of virtio.h live here too.
 */
#include "mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <linux/virtio_mmio.h>

#include "../../log.h"

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER VIRTIO_CONFIG_S_DRIVER
#define S_FEATURES_OK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAILED VIRTIO_CONFIG_S_FAILED

/*
 * The driver's side of initialization, 3.1.1: each step adds one bit, in
 * this order. Besides these, FAILED may be added in any state, and 0 resets
 * from any state. Everything else is refused. NEEDS_RESET is the device's
 * bit: ignored in what the driver writes, and while it is set only FAILED
 * and reset are accepted.
 */
static const struct {
	uint32_t from, to;
} status_steps[] = {
	{ 0, S_ACK },
	{ S_ACK, S_ACK | S_DRIVER },
	{ S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_FEATURES_OK },
	{ S_ACK | S_DRIVER | S_FEATURES_OK,
	  S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK },
};

static const char *dev_name(const struct virtio_dev *dev)
{
	return dev->ops->name ? dev->ops->name : "virtio";
}

static void raise_irq(struct virtio_dev *dev, uint32_t bit)
{
	dev->st.interrupt_status |= bit;
	if (dev->signal_irq)
		dev->signal_irq(dev);
}

/* ---- device-facing API (virtio.h) ----------------------------------- */

int virtio_dev_init(struct virtio_dev *dev, const struct virtio_dev_ops *ops,
		    const struct guest_mem *mem,
		    void (*signal_irq)(struct virtio_dev *dev), void *irq_opaque)
{
	const uint64_t transport_bits = ((1ull << (VIRTIO_TRANSPORT_F_END + 1)) - 1) &
					~((1ull << VIRTIO_TRANSPORT_F_START) - 1);
	int err;

	if (!ops || !mem || ops->nr_queues > VIRTIO_MAX_QUEUES ||
	    ops->config_size > VIRTIO_CONFIG_MAX)
		return -EINVAL;
	if (ops->features & transport_bits & ~VIRTIO_TRANSPORT_FEATURES)
		return -EINVAL;
	for (unsigned int i = 0; i < ops->nr_queues; i++) {
		uint16_t max = ops->queue_max[i];

		if (max == 0 || max > VIRTQ_MAX_SIZE || (max & (max - 1)))
			return -EINVAL;
	}
	memset(dev, 0, sizeof(*dev));
	err = pthread_mutex_init(&dev->lock, NULL);
	if (err)
		return -err;
	dev->ops = ops;
	dev->mem = mem;
	dev->signal_irq = signal_irq;
	dev->irq_opaque = irq_opaque;
	/* 6.1: a device without VERSION_1 is legacy; we are modern only. */
	dev->st.device_features = ops->features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *dev)
{
	if (dev->ops)
		pthread_mutex_destroy(&dev->lock);
	dev->ops = NULL;
}

void virtio_dev_lock(struct virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
}

void virtio_dev_unlock(struct virtio_dev *dev)
{
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned int bit)
{
	return bit < 64 && (dev->st.status & S_FEATURES_OK) &&
	       (dev->st.driver_features & VIRTIO_BIT(bit));
}

bool virtio_dev_is_active(const struct virtio_dev *dev)
{
	return dev->active && !(dev->st.status & S_NEEDS_RESET);
}

struct virtq *virtio_dev_queue(struct virtio_dev *dev, unsigned int qidx)
{
	return qidx < dev->ops->nr_queues ? &dev->vqs[qidx] : NULL;
}

void virtio_dev_needs_reset(struct virtio_dev *dev)
{
	bool was = dev->st.status & S_NEEDS_RESET;

	dev->st.status |= S_NEEDS_RESET;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_set_broken(&dev->vqs[i]);
	/* 2.1.2: once DRIVER_OK is set, the driver learns of it through a
	 * configuration change notification. */
	if (!was && (dev->st.status & S_DRIVER_OK))
		raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_dev_config_changed(struct virtio_dev *dev)
{
	/* 4.2.2: ConfigGeneration changes whenever the configuration may
	 * have; the notification only makes sense to a live driver. */
	dev->st.config_generation++;
	if (dev->st.status & S_DRIVER_OK)
		raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

int virtio_dev_pop(struct virtio_dev *dev, unsigned int qidx,
		   struct virtq_chain *chain)
{
	int ret;

	if (qidx >= dev->ops->nr_queues || !dev->active)
		return -EAGAIN;
	ret = virtq_pop(&dev->vqs[qidx], dev->mem, chain);
	if (ret == -EIO && !(dev->st.status & S_NEEDS_RESET)) {
		log_guest_once("%s: queue %u broken, device needs reset", dev_name(dev),
			       qidx);
		virtio_dev_needs_reset(dev);
	}
	return ret;
}

int virtio_dev_push(struct virtio_dev *dev, unsigned int qidx, uint16_t head,
		    uint32_t len)
{
	if (qidx >= dev->ops->nr_queues)
		return -EINVAL;
	return virtq_push(&dev->vqs[qidx], head, len);
}

void virtio_dev_notify_queue(struct virtio_dev *dev, unsigned int qidx)
{
	if (qidx < dev->ops->nr_queues && virtq_needs_notify(&dev->vqs[qidx]))
		raise_irq(dev, VIRTIO_MMIO_INT_VRING);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* 2.4: reset brings every register and queue back to its initial state and
 * the device forgets what was negotiated. ConfigGeneration keeps counting so
 * that a driver never sees an old value again. */
static void dev_reset(struct virtio_dev *dev)
{
	uint64_t offered = dev->st.device_features;
	uint32_t generation = dev->st.config_generation;

	if (dev->ops->reset)
		dev->ops->reset(dev);
	dev->active = false;
	dev->reset_count++;
	memset(&dev->st, 0, sizeof(dev->st));
	dev->st.device_features = offered;
	dev->st.config_generation = generation;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&dev->vqs[i]);
}

/* 3.1.1 step 5 and 6.1: FEATURES_OK only for a subset of what we offered
 * that includes VERSION_1 (we have no legacy interface). */
static bool features_acceptable(const struct virtio_dev *dev)
{
	uint64_t drv = dev->st.driver_features;

	if (!(drv & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		log_guest_once("%s: FEATURES_OK without VERSION_1", dev_name(dev));
		return false;
	}
	if (drv & ~dev->st.device_features) {
		log_guest_once("%s: FEATURES_OK with features %#" PRIx64 " never offered",
			       dev_name(dev), drv & ~dev->st.device_features);
		return false;
	}
	return true;
}

/*
 * DRIVER_OK was accepted: validate every queue the driver enabled (DESIGN
 * rule 2) and start the device. Any bad queue means DEVICE_NEEDS_RESET and
 * no activate.
 */
static void dev_activate(struct virtio_dev *dev)
{
	const struct virtio_dev_ops *ops = dev->ops;
	int ret;

	for (unsigned int i = 0; i < ops->nr_queues; i++) {
		const struct virtio_queue_cfg *q = &dev->st.queues[i];

		if (!q->ready)
			continue; /* a driver need not use every queue */
		if (q->num > ops->queue_max[i])
			ret = -EINVAL;
		else
			ret = virtq_init(&dev->vqs[i], dev->mem, q->num, q->desc,
					 q->driver, q->device, dev->st.driver_features);
		if (ret) {
			log_guest_once("%s: queue %u (size %u, desc %#" PRIx64
				       ", avail %#" PRIx64 ", used %#" PRIx64 ") invalid",
				       dev_name(dev), i, q->num, q->desc, q->driver,
				       q->device);
			goto err_queues;
		}
	}
	dev->active = true;
	if (ops->activate) {
		ret = ops->activate(dev);
		if (ret) {
			log_warn("%s: activation failed: %s", dev_name(dev),
				 strerror(-ret));
			dev->active = false;
			virtio_dev_needs_reset(dev);
		}
	}
	return;

err_queues:
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&dev->vqs[i]);
	virtio_dev_needs_reset(dev);
}

static bool status_step_legal(uint32_t from, uint32_t to)
{
	if (to == (from | S_FAILED))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(status_steps); i++) {
		if (status_steps[i].from == from && status_steps[i].to == to)
			return true;
	}
	return false;
}

static void status_write(struct virtio_dev *dev, uint32_t v)
{
	uint32_t cur = dev->st.status;
	uint32_t from = cur & ~(uint32_t)S_NEEDS_RESET;
	uint32_t to = v & ~(uint32_t)S_NEEDS_RESET;

	if (v == 0) {
		dev_reset(dev);
		return;
	}
	if (to == from)
		return; /* Linux re-writes the status it read back */
	if (!status_step_legal(from, to) ||
	    ((cur & S_NEEDS_RESET) && to != (from | S_FAILED))) {
		log_guest_once("%s: status %#x -> %#x refused", dev_name(dev), cur, v);
		return;
	}
	/* 3.1.1 step 6: the driver re-reads Status; FEATURES_OK left clear
	 * tells it the subset is not supported. */
	if ((to & S_FEATURES_OK) && !(from & S_FEATURES_OK) && !features_acceptable(dev))
		return;
	dev->st.status = to | (cur & S_NEEDS_RESET);
	if ((to & S_DRIVER_OK) && !(from & S_DRIVER_OK))
		dev_activate(dev);
}

/* ---- registers ------------------------------------------------------------ */

/* 3.1.1 step 4: features are written after DRIVER and before FEATURES_OK. */
static bool driver_features_writable(const struct virtio_dev *dev)
{
	uint32_t s = dev->st.status;

	return (s & S_DRIVER) && !(s & (S_FEATURES_OK | S_FAILED | S_NEEDS_RESET));
}

/* 3.1.1 step 7: queues are set up after FEATURES_OK and before DRIVER_OK;
 * afterwards they are frozen (DESIGN rule 2). */
static struct virtio_queue_cfg *writable_queue(struct virtio_dev *dev)
{
	uint32_t s = dev->st.status;

	if (!(s & S_FEATURES_OK) || (s & (S_DRIVER_OK | S_FAILED | S_NEEDS_RESET))) {
		log_guest_once("%s: queue register written in status %#x", dev_name(dev),
			       s);
		return NULL;
	}
	if (dev->st.queue_sel >= dev->ops->nr_queues) {
		log_guest_once("%s: queue register written for queue %u", dev_name(dev),
			       dev->st.queue_sel);
		return NULL;
	}
	return &dev->st.queues[dev->st.queue_sel];
}

static uint32_t reg_read(struct virtio_dev *dev, uint64_t offset)
{
	const struct virtio_dev_state *st = &dev->st;
	uint32_t sel = st->queue_sel;
	bool q_ok = sel < dev->ops->nr_queues;

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VMMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VMMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VMMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (st->device_features_sel > 1)
			return 0;
		return (uint32_t)(st->device_features >> (32 * st->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		/* 4.2.2: zero when the queue is not available. */
		return q_ok ? dev->ops->queue_max[sel] : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q_ok ? st->queues[sel].ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return st->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return st->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* 4.2.2: a length of -1 means "no such shared memory region";
		 * we have none. */
		return UINT32_MAX;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return st->config_generation;
	default:
		/* Write-only registers, legacy and unknown ones (DESIGN rule 7). */
		return 0;
	}
}

static void set_low(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffff00000000ull) | v;
}

static void set_high(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffull) | (uint64_t)v << 32;
}

static void queue_notify(struct virtio_dev *dev, uint32_t qidx)
{
	if (qidx >= dev->ops->nr_queues || !virtio_dev_is_active(dev) ||
	    !virtq_is_ready(&dev->vqs[qidx])) {
		log_guest_once("%s: notify for queue %u ignored", dev_name(dev), qidx);
		return;
	}
	if (dev->ops->queue_notify)
		dev->ops->queue_notify(dev, qidx);
}

static void reg_write(struct virtio_dev *dev, uint64_t offset, uint32_t v)
{
	struct virtio_dev_state *st = &dev->st;
	struct virtio_queue_cfg *q;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		st->device_features_sel = v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (!driver_features_writable(dev)) {
			log_guest_once("%s: DriverFeatures written in status %#x",
				       dev_name(dev), st->status);
			return;
		}
		if (st->driver_features_sel == 0)
			set_low(&st->driver_features, v);
		else if (st->driver_features_sel == 1)
			set_high(&st->driver_features, v);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		st->driver_features_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		st->queue_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		queue_notify(dev, v);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		st->interrupt_status &= ~v;
		return;
	case VIRTIO_MMIO_STATUS:
		status_write(dev, v);
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		break;
	default:
		log_guest_once("%s: write to register %#" PRIx64 " ignored",
			       dev_name(dev), offset);
		return;
	}

	q = writable_queue(dev);
	if (!q)
		return;
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		q->ready = v & 1;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_low(&q->desc, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_high(&q->desc, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_low(&q->driver, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_high(&q->driver, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_low(&q->device, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_high(&q->device, v);
		break;
	}
}

/* 4.2.2.2: device configuration takes accesses as wide as its fields; the
 * range must lie inside the device's configuration. */
static bool config_access_ok(const struct virtio_dev *dev, uint64_t off,
			     unsigned int size)
{
	uint32_t len = dev->ops->config_size;

	if (size != 1 && size != 2 && size != 4 && size != 8) {
		log_guest_once("%s: %u-byte config access", dev_name(dev), size);
		return false;
	}
	if (off >= len || size > len - off) {
		log_guest_once("%s: config access %#" PRIx64 "+%u past %u bytes",
			       dev_name(dev), off, size, len);
		return false;
	}
	return true;
}

void vmmio_read(void *opaque, uint64_t offset, void *data, unsigned int size)
{
	struct virtio_dev *dev = opaque;
	uint32_t v;

	memset(data, 0, size);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;

		virtio_dev_lock(dev);
		if (config_access_ok(dev, off, size) && dev->ops->config_read)
			dev->ops->config_read(dev, (uint32_t)off, data, size);
		virtio_dev_unlock(dev);
		return;
	}
	/* 4.2.2.2: control registers take 32-bit aligned accesses only. */
	if (size != 4) {
		log_guest_once("%s: %u-byte read of register %#" PRIx64, dev_name(dev),
			       size, offset);
		return;
	}
	virtio_dev_lock(dev);
	v = reg_read(dev, offset);
	virtio_dev_unlock(dev);
	put_le32(data, v);
}

void vmmio_write(void *opaque, uint64_t offset, const void *data, unsigned int size)
{
	struct virtio_dev *dev = opaque;

	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;

		virtio_dev_lock(dev);
		if (config_access_ok(dev, off, size) && dev->ops->config_write)
			dev->ops->config_write(dev, (uint32_t)off, data, size);
		virtio_dev_unlock(dev);
		return;
	}
	if (size != 4) {
		log_guest_once("%s: %u-byte write to register %#" PRIx64, dev_name(dev),
			       size, offset);
		return;
	}
	virtio_dev_lock(dev);
	reg_write(dev, offset, get_le32(data));
	virtio_dev_unlock(dev);
}
