// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpcp2.ko: TCP connection checkpoint/restore, the TCPCP2 API in the
 * kernel.  /dev/tcpcp2 takes one ioctl per API call (include/tcpcp_ioctl.h);
 * everything a caller passes is checked here before any of it is used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "tcpcp2.h"

unsigned int tcpcp_hold_seconds = 120;
module_param_named(hold_seconds, tcpcp_hold_seconds, uint, 0644);
MODULE_PARM_DESC(hold_seconds,
		 "How long a stopped connection stays blocked after its socket is gone, unless the caller says (default 120, at most 86400)");

unsigned int tcpcp_max_holds = 1u << 18;
module_param_named(max_holds, tcpcp_max_holds, uint, 0644);
MODULE_PARM_DESC(max_holds,
		 "Most 4-tuples held at once, all namespaces together (default 262144)");

static bool reserved_zero(const __u64 *v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (v[i])
			return false;
	return true;
}

static long ioc_version(void __user *uarg)
{
	struct tcpcp_ioc_version v;

	if (copy_from_user(&v, uarg, sizeof(v)))
		return -EFAULT;
	if (v.size != sizeof(v) || v.flags ||
	    !reserved_zero(v.reserved, ARRAY_SIZE(v.reserved)))
		return -EINVAL;
	/* answered whatever version the caller speaks: that is its question */
	v.version = TCPCP_IOCTL_VERSION;
	v.si_major = TCPCP_SI_MAJOR;
	v.si_minor = TCPCP_SI_MINOR;
	v.hold_seconds = tcpcp_hold_secs(false, 0);
	return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
}

/* The flags each call takes. */
static u32 flags_allowed(unsigned int cmd)
{
	switch (cmd) {
	case TCPCP_IOC_STOP:
	case TCPCP_IOC_SET_SI:
		return TCPCP_IOC_F_ALL | TCPCP_IOC_F_HOLD;
	case TCPCP_IOC_HOLD:
		return TCPCP_IOC_F_HOLD;
	case TCPCP_IOC_GET_SI:
		return TCPCP_IOC_F_ALL;
	case TCPCP_IOC_START:
		return TCPCP_IOC_F_ALL | TCPCP_IOC_F_NOPROBE;
	}
	return 0; /* CLOSE: tcpcp_close() has no flag */
}

static int check_call(unsigned int cmd, const struct tcpcp_ioc_call *a)
{
	bool has_si = cmd == TCPCP_IOC_GET_SI || cmd == TCPCP_IOC_SET_SI ||
		      cmd == TCPCP_IOC_HOLD;

	if (a->size != sizeof(*a) || a->version != TCPCP_IOCTL_VERSION)
		return -EINVAL;
	if (a->flags & ~flags_allowed(cmd))
		return -EINVAL;
	if (!(a->flags & TCPCP_IOC_F_HOLD) && a->hold_seconds)
		return -EINVAL;
	if (a->hold_seconds > TCPCP_IOC_HOLD_MAX)
		return -EINVAL;
	if (a->results_cap > TCPCP_IOC_RESULTS_MAX ||
	    (a->results_cap && !a->results))
		return -EINVAL;
	if (!has_si && (a->si || a->si_size))
		return -EINVAL;
	if (has_si && (!a->si || !a->si_size))
		return -EFAULT; /* the manual's error for a bad bufptr */
	if (cmd == TCPCP_IOC_HOLD && a->fd != -1)
		return -EINVAL;
	if (a->results_count || a->results_ng || a->si_len ||
	    !reserved_zero(a->reserved, ARRAY_SIZE(a->reserved)))
		return -EINVAL;
	return 0;
}

static long ioc_call(unsigned int cmd, void __user *uarg)
{
	struct tcpcp_ioc_call a;
	long err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	err = check_call(cmd, &a);
	if (err)
		return err;
	err = tcpcp_call(cmd, &a);
	/* ENOSPC says how much room the call needs */
	if ((!err || err == -ENOSPC) && copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return err;
}

static long tcpcp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case TCPCP_IOC_VERSION:
		return ioc_version(uarg);
	case TCPCP_IOC_STOP:
	case TCPCP_IOC_GET_SI:
	case TCPCP_IOC_SET_SI:
	case TCPCP_IOC_START:
	case TCPCP_IOC_CLOSE:
	case TCPCP_IOC_HOLD:
		return ioc_call(cmd, uarg);
	}
	return -ENOTTY;
}

static const struct file_operations tcpcp_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = tcpcp_ioctl,
	/* the structs are the same for 32-bit callers */
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* Anyone may open it: each call checks its own privilege (tcpcp2.h). */
static struct miscdevice tcpcp_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "tcpcp2",
	.fops = &tcpcp_fops,
	.mode = 0666,
};

static int __init tcpcp_init(void)
{
	int err;

	err = tcpcp_hold_init();
	if (err)
		return err;
	err = misc_register(&tcpcp_dev);
	if (err)
		goto err_hold;
	pr_info("loaded: /dev/tcpcp2, ioctl ABI %u, TCP-SI %u.%u\n",
		TCPCP_IOCTL_VERSION, TCPCP_SI_MAJOR, TCPCP_SI_MINOR);
	return 0;

err_hold:
	tcpcp_hold_exit();
	return err;
}

static void __exit tcpcp_exit(void)
{
	misc_deregister(&tcpcp_dev);
	tcpcp_hold_exit();
}

module_init(tcpcp_init);
module_exit(tcpcp_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("tcpcp2");
MODULE_DESCRIPTION("TCP connection checkpoint/restore (the TCPCP2 API)");
MODULE_VERSION("0.1.0");
