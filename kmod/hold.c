// SPDX-License-Identifier: GPL-2.0-only
/*
 * The block of stopped connections and the hold that outlives them.
 *
 * A table of 4-tuples, per network namespace, read by netfilter hooks at
 * PRE_ROUTING (before TCP sees a segment, so nothing is ACKed after the
 * state was read) and LOCAL_OUT (nothing leaves: retransmissions, probes,
 * the RST of an abort) for IPv4 and IPv6.  A matching segment is dropped.
 *
 * An entry names the stopped socket that owns it.  While that socket lives
 * the entry stays; a worker notices when it is gone (closed, or its process
 * exited) and from then the entry lives hold_seconds more, so that a
 * restarted process finds the peer still waiting instead of reset.  Start
 * removes the entry at once.  A SYN that leaves from another socket with
 * the same tuple means a new connection has taken it: the entry goes.
 *
 * Entries never reference a socket or a namespace: owners are compared,
 * never dereferenced, and a namespace's entries go with it (pernet exit).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/workqueue.h>
#include <net/inet6_hashtables.h>
#include <net/inet_hashtables.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/netns/hash.h>

#include "tcpcp2.h"

#define HOLD_BITS 14
#define HOLD_BUCKETS BIT(HOLD_BITS)
#define GC_PERIOD (HZ / 2)

static_assert(sizeof(struct tcpcp_tuple) % sizeof(u32) == 0);

struct hold {
	struct hlist_node node;
	struct rcu_head rcu;
	struct net *net;          /* no reference: pernet exit purges */
	struct tcpcp_tuple t;
	const struct sock *owner; /* compared, never dereferenced */
	int dif;                  /* the owner's bound device, for lookups */
	unsigned int secs;        /* how long the entry outlives its owner */
	unsigned long expires;    /* jiffies; only without an owner */
	struct tcpcp_linger linger;
	bool dead;                /* unlinked, waiting for RCU */
};

static struct hlist_head *table;
static DEFINE_SPINLOCK(table_lock); /* writers; readers use RCU */
static unsigned int nr_holds;       /* under table_lock */
static unsigned int nr_owned;       /* under table_lock */
static atomic_t nr_live = ATOMIC_INIT(0); /* for the hooks' fast path */
static struct delayed_work gc_work;

unsigned int tcpcp_hold_secs(bool given, unsigned int secs)
{
	unsigned int def = min(READ_ONCE(tcpcp_hold_seconds),
			       TCPCP_IOC_HOLD_MAX);

	if (!given)
		return def;
	return min(secs, TCPCP_IOC_HOLD_MAX);
}

void tcpcp_tuple_of_sk(const struct sock *sk, struct tcpcp_tuple *t)
{
	const struct inet_sock *inet = inet_sk(sk);

	memset(t, 0, sizeof(*t));
	t->lport = inet->inet_sport;
	t->pport = inet->inet_dport;
	if (sk->sk_family == AF_INET6 && !ipv6_addr_v4mapped(&sk->sk_v6_daddr)) {
		t->family = AF_INET6;
		t->local = sk->sk_v6_rcv_saddr;
		t->peer = sk->sk_v6_daddr;
		return;
	}
	t->family = AF_INET;
	t->local.s6_addr32[0] = inet->inet_saddr;
	t->peer.s6_addr32[0] = inet->inet_daddr;
}

void tcpcp_tuple_of_conn(const struct tcpcp_conn *c, struct tcpcp_tuple *t)
{
	const struct in6_addr *peer = (const struct in6_addr *)c->peer_addr;

	memset(t, 0, sizeof(*t));
	t->lport = htons(c->local_port);
	t->pport = htons(c->peer_port);
	if (c->ip_version == 6 && !ipv6_addr_v4mapped(peer)) {
		t->family = AF_INET6;
		memcpy(&t->local, c->local_addr, sizeof(t->local));
		memcpy(&t->peer, c->peer_addr, sizeof(t->peer));
		return;
	}
	t->family = AF_INET;
	/* an IPv6 socket's v4-mapped address has the IPv4 one last */
	memcpy(&t->local, c->local_addr + (c->ip_version == 6 ? 12 : 0), 4);
	memcpy(&t->peer, c->peer_addr + (c->ip_version == 6 ? 12 : 0), 4);
}

static struct hlist_head *bucket(const struct net *net,
				 const struct tcpcp_tuple *t)
{
	u32 h = jhash2((const u32 *)t, sizeof(*t) / sizeof(u32),
		       net_hash_mix(net));

	return &table[h & (HOLD_BUCKETS - 1)];
}

/* Under rcu_read_lock or table_lock. */
static struct hold *find(const struct net *net, const struct tcpcp_tuple *t)
{
	struct hold *h;

	hlist_for_each_entry_rcu(h, bucket(net, t), node,
				 lockdep_is_held(&table_lock))
		if (net_eq(h->net, net) && !memcmp(&h->t, t, sizeof(*t)))
			return h;
	return NULL;
}

static void set_owner(struct hold *h, const struct sock *owner)
{
	if (!h->owner && owner)
		nr_owned++;
	else if (h->owner && !owner)
		nr_owned--;
	WRITE_ONCE(h->owner, owner);
}

static void unlink_hold(struct hold *h)
{
	set_owner(h, NULL);
	h->dead = true;
	hlist_del_rcu(&h->node);
	nr_holds--;
	atomic_dec(&nr_live);
	kfree_rcu(h, rcu);
}

static struct hold *insert(struct net *net, const struct tcpcp_tuple *t,
			   struct hold *fresh)
{
	fresh->net = net;
	fresh->t = *t;
	hlist_add_head_rcu(&fresh->node, bucket(net, t));
	nr_holds++;
	atomic_inc(&nr_live);
	return fresh;
}

static void gc_kick(void)
{
	queue_delayed_work(system_power_efficient_wq, &gc_work, GC_PERIOD);
}

/* Finds or makes the entry of t; fresh is used or freed. */
static int find_or_insert(struct net *net, const struct tcpcp_tuple *t,
			  struct hold *fresh, struct hold **ret,
			  bool *ret_created)
{
	struct hold *h = find(net, t);

	*ret_created = !h;
	if (h) {
		kfree(fresh);
		*ret = h;
		return 0;
	}
	if (nr_holds >= READ_ONCE(tcpcp_max_holds)) {
		kfree(fresh);
		pr_warn_ratelimited("hold table full (max_holds=%u)\n",
				    READ_ONCE(tcpcp_max_holds));
		return -ENOMEM;
	}
	*ret = insert(net, t, fresh);
	return 0;
}

int tcpcp_hold_stop(struct sock *sk, unsigned int secs)
{
	struct hold *fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	struct tcpcp_tuple t;
	struct hold *h;
	bool created;
	int err;

	if (!fresh)
		return -ENOMEM;
	tcpcp_tuple_of_sk(sk, &t);
	spin_lock_bh(&table_lock);
	err = find_or_insert(sock_net(sk), &t, fresh, &h, &created);
	if (!err && h->owner != sk) {
		h->linger.on = sock_flag(sk, SOCK_LINGER);
		h->linger.time = sk->sk_lingertime;
		h->dif = sk->sk_bound_dev_if;
		h->secs = secs;
		set_owner(h, sk);
		/* an abortive close: no orphan keeps the tuple (tcpcp2.h) */
		sock_set_flag(sk, SOCK_LINGER);
		WRITE_ONCE(sk->sk_lingertime, 0);
	}
	spin_unlock_bh(&table_lock);
	if (!err)
		gc_kick();
	return err;
}

bool tcpcp_hold_owned(const struct sock *sk, struct tcpcp_linger *ret)
{
	struct tcpcp_tuple t;
	struct hold *h;
	bool owned;

	if (!atomic_read(&nr_live))
		return false;
	tcpcp_tuple_of_sk(sk, &t);
	rcu_read_lock();
	h = find(sock_net(sk), &t);
	owned = h && READ_ONCE(h->owner) == sk;
	if (owned && ret)
		*ret = h->linger;
	rcu_read_unlock();
	return owned;
}

int tcpcp_hold_release(struct sock *sk)
{
	struct tcpcp_tuple t;
	struct hold *h;
	int err = -ENOENT;

	tcpcp_tuple_of_sk(sk, &t);
	spin_lock_bh(&table_lock);
	h = find(sock_net(sk), &t);
	if (h && h->owner == sk) {
		if (h->linger.on)
			sock_set_flag(sk, SOCK_LINGER);
		else
			sock_reset_flag(sk, SOCK_LINGER);
		WRITE_ONCE(sk->sk_lingertime, h->linger.time);
		unlink_hold(h);
		err = 0;
	}
	spin_unlock_bh(&table_lock);
	return err;
}

int tcpcp_hold_claim(struct net *net, const struct tcpcp_tuple *t,
		     bool *ret_created)
{
	struct hold *fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	struct hold *h;
	int err;

	if (!fresh)
		return -ENOMEM;
	spin_lock_bh(&table_lock);
	err = find_or_insert(net, t, fresh, &h, ret_created);
	if (!err && *ret_created)
		h->expires = jiffies + tcpcp_hold_secs(false, 0) * HZ;
	spin_unlock_bh(&table_lock);
	if (!err)
		gc_kick();
	return err;
}

int tcpcp_hold_add(struct net *net, const struct tcpcp_tuple *t,
		   unsigned int secs)
{
	struct hold *fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	struct hold *h;
	bool created;
	int err;

	if (!fresh)
		return -ENOMEM;
	spin_lock_bh(&table_lock);
	err = find_or_insert(net, t, fresh, &h, &created);
	/* never shorter than it was: a stopped socket may hold it already */
	if (!err) {
		h->secs = created ? secs : max(h->secs, secs);
		if (created || time_after(jiffies + secs * HZ, h->expires))
			h->expires = jiffies + secs * HZ;
	}
	spin_unlock_bh(&table_lock);
	if (!err)
		gc_kick();
	return err;
}

void tcpcp_hold_unclaim(struct net *net, const struct tcpcp_tuple *t)
{
	struct hold *h;

	spin_lock_bh(&table_lock);
	h = find(net, t);
	if (h && !h->owner)
		unlink_hold(h);
	spin_unlock_bh(&table_lock);
}

/* The hooks */

static void release_tuple(struct net *net, const struct tcpcp_tuple *t,
			  const struct sock *sender)
{
	struct hold *h;

	spin_lock_bh(&table_lock);
	h = find(net, t);
	if (h && h->owner != sender)
		unlink_hold(h);
	spin_unlock_bh(&table_lock);
}

static unsigned int verdict(const struct nf_hook_state *state,
			    const struct sk_buff *skb, struct tcpcp_tuple *t,
			    const struct tcphdr *th)
{
	bool out = state->hook == NF_INET_LOCAL_OUT;
	bool syn = th->syn && !th->ack;
	unsigned int v = NF_ACCEPT;
	struct hold *h;

	t->lport = out ? th->source : th->dest;
	t->pport = out ? th->dest : th->source;
	rcu_read_lock();
	h = find(state->net, t);
	if (h && !(out && syn && skb->sk != READ_ONCE(h->owner)))
		v = NF_DROP;
	rcu_read_unlock();
	if (h && v == NF_ACCEPT)
		release_tuple(state->net, t, skb->sk);
	return v;
}

static unsigned int hook_v4(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *state)
{
	const struct iphdr *iph;
	const struct tcphdr *th;
	struct tcpcp_tuple t;
	struct iphdr _iph;
	struct tcphdr _th;

	if (!atomic_read(&nr_live))
		return NF_ACCEPT;
	/* raw sockets reach LOCAL_OUT with headers of their own making */
	iph = skb_header_pointer(skb, skb_network_offset(skb), sizeof(_iph),
				 &_iph);
	if (!iph || iph->ihl < 5 || iph->protocol != IPPROTO_TCP ||
	    (ntohs(iph->frag_off) & IP_OFFSET))
		return NF_ACCEPT;
	th = skb_header_pointer(skb, skb_network_offset(skb) + iph->ihl * 4,
				sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	if (state->hook == NF_INET_LOCAL_OUT) {
		t.local.s6_addr32[0] = iph->saddr;
		t.peer.s6_addr32[0] = iph->daddr;
	} else {
		t.local.s6_addr32[0] = iph->daddr;
		t.peer.s6_addr32[0] = iph->saddr;
	}
	return verdict(state, skb, &t, th);
}

static unsigned int hook_v6(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *state)
{
	const struct ipv6hdr *ip6h;
	const struct tcphdr *th;
	struct tcpcp_tuple t;
	struct ipv6hdr _ip6h;
	struct tcphdr _th;
	__be16 frag_off = 0;
	u8 nexthdr;
	int off;

	if (!atomic_read(&nr_live))
		return NF_ACCEPT;
	ip6h = skb_header_pointer(skb, skb_network_offset(skb), sizeof(_ip6h),
				  &_ip6h);
	if (!ip6h)
		return NF_ACCEPT;
	nexthdr = ip6h->nexthdr;
	off = ipv6_skip_exthdr(skb, skb_network_offset(skb) + sizeof(_ip6h),
			       &nexthdr, &frag_off);
	if (off < 0 || nexthdr != IPPROTO_TCP || (ntohs(frag_off) & ~0x7))
		return NF_ACCEPT;
	th = skb_header_pointer(skb, off, sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	memset(&t, 0, sizeof(t));
	t.family = AF_INET6;
	if (state->hook == NF_INET_LOCAL_OUT) {
		t.local = ip6h->saddr;
		t.peer = ip6h->daddr;
	} else {
		t.local = ip6h->daddr;
		t.peer = ip6h->saddr;
	}
	return verdict(state, skb, &t, th);
}

/* Ahead of conntrack, like the repair backend's nftables chains. */
static const struct nf_hook_ops hook_ops[] = {
	{ .hook = hook_v4, .pf = NFPROTO_IPV4, .hooknum = NF_INET_PRE_ROUTING,
	  .priority = NF_IP_PRI_RAW },
	{ .hook = hook_v4, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP_PRI_RAW },
	{ .hook = hook_v6, .pf = NFPROTO_IPV6, .hooknum = NF_INET_PRE_ROUTING,
	  .priority = NF_IP6_PRI_RAW },
	{ .hook = hook_v6, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP6_PRI_RAW },
};

/* Owners: is the stopped socket still there? */

struct owned {
	struct hold *h; /* valid while the snapshot's RCU section lasts */
	const struct sock *owner;
	struct sock *sk; /* the owner, referenced, if alive */
};

static struct sock *lookup(struct net *net, const struct tcpcp_tuple *t,
			   int dif)
{
	struct inet_hashinfo *hi = tcpcp_ehash(net);

	if (t->family == AF_INET)
		return __inet_lookup_established(net, hi, t->peer.s6_addr32[0],
						 t->pport, t->local.s6_addr32[0],
						 ntohs(t->lport), dif, 0);
	return __inet6_lookup_established(net, hi, &t->peer, t->pport,
					  &t->local, ntohs(t->lport), dif, 0);
}

/*
 * Under rcu_read_lock: up to cap owned entries, each with its owner
 * referenced in ->sk when that socket still has the tuple.  A namespace
 * that is being dismantled is skipped (its entries go with it).
 */
static unsigned int snapshot(struct owned *v, unsigned int cap)
{
	unsigned int i, n = 0;
	struct hold *h;

	for (i = 0; i < HOLD_BUCKETS && n < cap; i++) {
		if (hlist_empty(&table[i]))
			continue;
		spin_lock_bh(&table_lock);
		hlist_for_each_entry(h, &table[i], node) {
			struct net *net;
			struct sock *sk;

			if (!h->owner || n == cap)
				continue;
			net = maybe_get_net(h->net);
			sk = net ? lookup(net, &h->t, h->dif) : NULL;
			if (net)
				put_net(net);
			if (sk && sk != h->owner) {
				sock_gen_put(sk);
				sk = NULL;
			}
			v[n++] = (struct owned){ h, h->owner, sk };
		}
		spin_unlock_bh(&table_lock);
	}
	return n;
}

static struct owned *snapshot_alloc(unsigned int *ret_cap)
{
	unsigned int cap = READ_ONCE(nr_owned) + 16;

	*ret_cap = cap;
	return kvmalloc_array(cap, sizeof(struct owned), GFP_KERNEL);
}

static void gc_apply(struct owned *v, unsigned int n)
{
	unsigned long now = jiffies;
	struct hold *h;
	unsigned int i;

	spin_lock_bh(&table_lock);
	for (i = 0; i < n; i++) {
		h = v[i].h;
		if (h->dead || h->owner != v[i].owner || v[i].sk)
			continue;
		set_owner(h, NULL);
		h->expires = now + h->secs * HZ;
	}
	spin_unlock_bh(&table_lock);
}

static void gc_expire(void)
{
	struct hlist_node *tmp;
	unsigned int i;
	struct hold *h;

	for (i = 0; i < HOLD_BUCKETS; i++) {
		if (hlist_empty(&table[i]))
			continue;
		spin_lock_bh(&table_lock);
		hlist_for_each_entry_safe(h, tmp, &table[i], node)
			if (!h->owner && time_after_eq(jiffies, h->expires))
				unlink_hold(h);
		spin_unlock_bh(&table_lock);
	}
}

static void gc(struct work_struct *work)
{
	unsigned int i, n = 0, cap;
	struct owned *v = snapshot_alloc(&cap);

	if (v) {
		rcu_read_lock();
		n = snapshot(v, cap);
		gc_apply(v, n);
		rcu_read_unlock();
		for (i = 0; i < n; i++)
			if (v[i].sk)
				sock_gen_put(v[i].sk);
		kvfree(v);
	}
	gc_expire();
	if (atomic_read(&nr_live))
		gc_kick();
}

/*
 * Unloading: sockets still stopped get their linger back and their block
 * lifted (they run again, without a window probe), so nothing the module
 * changed outlives it.
 */
static void release_owners(void)
{
	unsigned int i, n, cap;
	struct owned *v = snapshot_alloc(&cap);

	if (!v)
		return;
	rcu_read_lock();
	n = snapshot(v, cap);
	rcu_read_unlock();
	for (i = 0; i < n; i++) {
		struct sock *sk = v[i].sk;

		if (!sk)
			continue;
		lock_sock(sk);
		tcpcp_hold_release(sk);
		release_sock(sk);
		sock_gen_put(sk);
	}
	kvfree(v);
}

static void purge(const struct net *net)
{
	struct hlist_node *tmp;
	unsigned int i;
	struct hold *h;

	spin_lock_bh(&table_lock);
	for (i = 0; i < HOLD_BUCKETS; i++)
		hlist_for_each_entry_safe(h, tmp, &table[i], node)
			if (!net || net_eq(h->net, net))
				unlink_hold(h);
	spin_unlock_bh(&table_lock);
}

static int __net_init hold_net_init(struct net *net)
{
	return nf_register_net_hooks(net, hook_ops, ARRAY_SIZE(hook_ops));
}

static void __net_exit hold_net_exit(struct net *net)
{
	nf_unregister_net_hooks(net, hook_ops, ARRAY_SIZE(hook_ops));
	purge(net);
}

static struct pernet_operations hold_net_ops = {
	.init = hold_net_init,
	.exit = hold_net_exit,
};

int tcpcp_hold_init(void)
{
	int err;

	table = kvcalloc(HOLD_BUCKETS, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	INIT_DELAYED_WORK(&gc_work, gc);
	err = register_pernet_subsys(&hold_net_ops);
	if (err)
		kvfree(table);
	return err;
}

void tcpcp_hold_exit(void)
{
	cancel_delayed_work_sync(&gc_work);
	release_owners();
	unregister_pernet_subsys(&hold_net_ops);
	/* the hooks are gone: nothing can queue the worker again */
	cancel_delayed_work_sync(&gc_work);
	purge(NULL);
	rcu_barrier(); /* the entries' kfree_rcu */
	kvfree(table);
}
