// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCP-SI encoder and decoder (tcpcp-si(5)).  Also compiled into tcpcp2.ko:
 * only what si_compat.h provides may be used here.
 *
 * Wire fields are read and written byte by byte in network order, so a
 * hostile buffer may be misaligned and nothing is ever cast onto it.
 */
#include "si_codec.h"

#define ALIGN4(x) (((x) + 3u) & ~3u)

/* TCP states a TCP-SI may carry (linux/tcp.h numbering). */
#define ST_ESTABLISHED 1
#define ST_FIN_WAIT1 4
#define ST_FIN_WAIT2 5
#define ST_CLOSE_WAIT 8
#define ST_LAST_ACK 9
#define ST_CLOSING 11

#define WSCALE_MAX 14
#define TCPI_OPTS_KNOWN 0x0f
#define FIN_KNOWN (TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_RCVD | \
		   TCPCP_SIE_FIN_SENT)
#define FD_KNOWN (TCPCP_SIE_FD_NONBLOCK | TCPCP_SIE_FD_CLOEXEC)

/* Socket options an extension element may carry; anything else is refused
 * so that a TCP-SI cannot be used to set arbitrary options. */
struct xopt_rule {
	uint16_t level;
	uint16_t name;
	bool is_string;
};

static const struct xopt_rule xopt_rules[] = {
	{ 1, 36, false },  /* SOL_SOCKET, SO_MARK */
	{ 1, 25, true },   /* SOL_SOCKET, SO_BINDTODEVICE */
	{ 6, 18, false },  /* IPPROTO_TCP, TCP_USER_TIMEOUT */
	{ 6, 13, true },   /* IPPROTO_TCP, TCP_CONGESTION */
	{ 6, 25, false },  /* IPPROTO_TCP, TCP_NOTSENT_LOWAT */
	{ 6, 3, false },   /* IPPROTO_TCP, TCP_CORK */
	{ 41, 67, false }, /* IPPROTO_IPV6, IPV6_TCLASS */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

/* Field offsets inside struct tcpcp_si_hdr (fixed by tcpcp_si.h). */
#define OFF(f) offsetof(struct tcpcp_si_hdr, f)
#define OFF_ID_V4 (OFF(id) + offsetof(struct tcpcp_sie_id, ip))
#define OFF_SPORT (OFF(id) + offsetof(struct tcpcp_sie_id, tcp_sport))
#define OFF_DPORT (OFF(id) + offsetof(struct tcpcp_sie_id, tcp_dport))
#define OFF_SCOPE (OFF_ID_V4 + offsetof(struct tcpcp_sie_id6, scope_id))
#define OFF_FG(f) (OFF(fixgen) + offsetof(struct tcpcp_sie_fixgen, f))
#define OFF_VG(f) (OFF(vargen) + offsetof(struct tcpcp_sie_vargen, f))
#define OFF_SO (OFF(sockopt))
#define OFF_SK(f) (OFF_SO + offsetof(struct tcpcp_sie_sk_sockopt, f))
#define OFF_IP (OFF_SO + offsetof(struct tcpcp_sie_sockopt, ip))
#define OFF_V4(f) (OFF_IP + offsetof(struct tcpcp_sie_ipv4_sockopt, f))
#define OFF_V6(f) (OFF_IP + offsetof(struct tcpcp_sie_ipv6_sockopt, f))
#define OFF_TCP(f) (OFF_SO + offsetof(struct tcpcp_sie_sockopt, tcp) + \
		    offsetof(struct tcpcp_sie_tcp_sockopt, f))

int si_check_total(const void *buf, uint32_t size, unsigned int *ret_count)
{
	const uint8_t *p = buf;

	if (!buf || size < TCPCP_SI_TOTAL_HDR_LEN || size % 4)
		return -EINVAL;
	if ((uint64_t)get32(p) * 4 != size)
		return -EINVAL;
	if (p[4] != TCPCP_SI_MAJOR)
		return -EINVAL;
	*ret_count = get16(p + 6);
	return 0;
}

static bool state_ok(uint8_t state)
{
	switch (state) {
	case ST_ESTABLISHED:
	case ST_FIN_WAIT1:
	case ST_FIN_WAIT2:
	case ST_CLOSE_WAIT:
	case ST_LAST_ACK:
	case ST_CLOSING:
		return true;
	}
	return false;
}

static void decode_id(const uint8_t *h, struct tcpcp_conn *c)
{
	c->fd = get32(h + OFF(fd));
	c->ip_version = h[OFF(id)];
	memset(c->local_addr, 0, sizeof(c->local_addr));
	memset(c->peer_addr, 0, sizeof(c->peer_addr));
	if (c->ip_version == 4) {
		memcpy(c->local_addr, h + OFF_ID_V4, 4);
		memcpy(c->peer_addr, h + OFF_ID_V4 + 4, 4);
		c->scope_id = 0;
	} else {
		memcpy(c->local_addr, h + OFF_ID_V4, 16);
		memcpy(c->peer_addr, h + OFF_ID_V4 + 16, 16);
		c->scope_id = get32(h + OFF_SCOPE);
	}
	c->local_port = get16(h + OFF_SPORT);
	c->peer_port = get16(h + OFF_DPORT);
}

static void decode_general(const uint8_t *h, struct tcpcp_conn *c)
{
	c->tcp_opts = h[OFF_FG(tcp_flags)];
	c->snd_wscale = h[OFF_FG(snd_wscale)];
	c->rcv_wscale = h[OFF_FG(rcv_wscale)];
	c->snd_mss = get16(h + OFF_FG(snd_mss));
	c->rcv_mss = get16(h + OFF_FG(rcv_mss));
	c->state = h[OFF_VG(state)];
	c->snd_nxt = get32(h + OFF_VG(snd_nxt));
	c->rcv_nxt = get32(h + OFF_VG(rcv_nxt));
	c->snd_wnd = get32(h + OFF_VG(snd_wnd));
	c->rcv_wnd = get32(h + OFF_VG(rcv_wnd));
	c->ts_recent = get32(h + OFF_VG(ts_recent));
	c->ts_gen = get32(h + OFF_VG(ts_gen));
}

static void decode_sockopt(const uint8_t *h, struct tcpcp_conn *c)
{
	c->sk_flags = h[OFF_SK(flags)];
	c->userlocks = h[OFF_SK(userlocks)];
	c->priority = get32(h + OFF_SK(priority));
	c->sndbuf = get32(h + OFF_SK(sndbuf));
	c->rcvbuf = get32(h + OFF_SK(rcvbuf));
	c->l_linger = get32(h + OFF_SK(l_linger));
	if (c->ip_version == 4) {
		c->ip_flags = h[OFF_V4(flags)];
		c->ttl = h[OFF_V4(uc_ttl)];
		c->pmtudisc = h[OFF_V4(pmtudisc)];
		c->tos = h[OFF_V4(tos)];
		c->ip_opt_len = h[OFF_V4(opt_len)];
		memcpy(c->ip_opt, h + OFF_V4(opt_data), sizeof(c->ip_opt));
	} else {
		c->ip_flags = h[OFF_V6(flags)];
		c->ttl = h[OFF_V6(hop_limit)];
		c->pmtudisc = h[OFF_V6(pmtudisc)];
		c->tos = 0;
		c->ip_opt_len = 0;
		memset(c->ip_opt, 0, sizeof(c->ip_opt));
	}
	c->nonagle = h[OFF_TCP(nonagle)];
	c->keepcnt = h[OFF_TCP(keepcnt)];
	c->keepidle = get16(h + OFF_TCP(keepidle));
	c->keepintvl = get16(h + OFF_TCP(keepintvl));
}

static int check_header(const struct tcpcp_conn *c)
{
	if (c->ip_version != 4 && c->ip_version != 6)
		return -EINVAL;
	if (!state_ok(c->state))
		return -EINVAL;
	if (c->tcp_opts & ~TCPI_OPTS_KNOWN)
		return -EINVAL;
	if (c->snd_wscale > WSCALE_MAX || c->rcv_wscale > WSCALE_MAX)
		return -EINVAL;
	if (c->ip_opt_len > sizeof(c->ip_opt) || c->ip_opt_len % 4)
		return -EINVAL;
	return 0;
}

/* A queue segment: appended to its queue, which must stay contiguous. */
static int decode_segment(const uint8_t *e, struct tcpcp_conn *c,
			  bool *seen_snd, bool *seen_rcv)
{
	uint32_t seq = get32(e + offsetof(struct tcpcp_si_skb, seq));
	uint32_t len = get16(e + 2);
	bool is_snd = e[0] == TCPCP_SIE_BUF_SND;
	uint32_t *qseq = is_snd ? &c->sndq_seq : &c->rcvq_seq;
	uint32_t *qlen = is_snd ? &c->sndq_len : &c->rcvq_len;
	bool *seen = is_snd ? seen_snd : seen_rcv;

	if (!*seen) {
		*seen = true;
		*qseq = seq;
	} else if (seq != *qseq + *qlen) {
		return -EINVAL;
	}
	if (*qlen + len > TCPCP_SI_QUEUE_MAX)
		return -EINVAL;
	*qlen += len;
	return 0;
}

static const struct xopt_rule *xopt_rule_find(uint16_t level, uint16_t name)
{
	size_t i;

	for (i = 0; i < sizeof(xopt_rules) / sizeof(xopt_rules[0]); i++)
		if (xopt_rules[i].level == level && xopt_rules[i].name == name)
			return &xopt_rules[i];
	return NULL;
}

/* Integer values are host order in struct tcpcp_xopt, network order on the
 * wire; strings are bytes in both. */
static int decode_xopt(const uint8_t *d, uint32_t len, struct tcpcp_conn *c)
{
	const struct xopt_rule *r;
	struct tcpcp_xopt *x;
	uint32_t v;

	if (len < 4 || len - 4 > TCPCP_XOPT_VAL_MAX)
		return -EINVAL;
	if (c->nxopts >= TCPCP_XOPT_MAX)
		return -EINVAL;
	r = xopt_rule_find(get16(d), get16(d + 2));
	if (!r || (!r->is_string && len - 4 != 4))
		return -EINVAL;
	x = &c->xopts[c->nxopts++];
	x->level = r->level;
	x->name = r->name;
	x->len = (uint8_t)(len - 4);
	memset(x->val, 0, sizeof(x->val));
	if (r->is_string) {
		memcpy(x->val, d + 4, x->len);
	} else {
		v = get32(d + 4);
		memcpy(x->val, &v, 4);
	}
	return 0;
}

static int decode_ext(const uint8_t *e, uint32_t len, struct tcpcp_conn *c)
{
	const uint8_t *d = e + TCPCP_SI_EXT_HDR_LEN;

	switch (e[0]) {
	case TCPCP_SIE_EXT_WINDOW:
		if (len != sizeof(struct tcpcp_sie_window))
			return -EINVAL;
		c->has_window = true;
		c->window.snd_wl1 = get32(d);
		c->window.snd_wnd = get32(d + 4);
		c->window.max_window = get32(d + 8);
		c->window.rcv_wnd = get32(d + 12);
		c->window.rcv_wup = get32(d + 16);
		return 0;
	case TCPCP_SIE_EXT_SNDQ:
		if (len != 4)
			return -EINVAL;
		c->unsent = get32(d);
		return 0;
	case TCPCP_SIE_EXT_MSS:
		if (len != 4 || get32(d) > 0xffff)
			return -EINVAL;
		c->mss_clamp = get32(d);
		return 0;
	case TCPCP_SIE_EXT_FIN:
		if (len != sizeof(struct tcpcp_sie_fin) || (d[0] & ~FIN_KNOWN))
			return -EINVAL;
		c->fin_flags = d[0];
		return 0;
	case TCPCP_SIE_EXT_SOCKOPT:
		return decode_xopt(d, len, c);
	case TCPCP_SIE_EXT_FDFLAGS:
		if (len != 4 || (get32(d) & ~FD_KNOWN))
			return -EINVAL;
		c->has_fd_flags = true;
		c->fd_flags = get32(d);
		return 0;
	case TCPCP_SIE_EXT_IFNAME:
		if (len != TCPCP_IFNAME_LEN || d[TCPCP_IFNAME_LEN - 1] != '\0')
			return -EINVAL;
		memcpy(c->ifname, d, TCPCP_IFNAME_LEN);
		return 0;
	}
	return 0; /* a newer minor's element: skipped */
}

static uint32_t fin_queued(const struct tcpcp_conn *c)
{
	return !!(c->fin_flags & TCPCP_SIE_FIN_QUEUED);
}

static uint32_t fin_sent(const struct tcpcp_conn *c)
{
	return fin_queued(c) && (c->fin_flags & TCPCP_SIE_FIN_SENT);
}

static uint32_t fin_rcvd(const struct tcpcp_conn *c)
{
	return !!(c->fin_flags & TCPCP_SIE_FIN_RCVD);
}

/* Walks the elements in [p, end); each must fit entirely. */
static int decode_elements(const uint8_t *p, const uint8_t *end,
			   struct tcpcp_conn *c)
{
	bool seen_snd = false, seen_rcv = false;

	while (p < end) {
		uint32_t avail = (uint32_t)(end - p);
		uint32_t len, hdr, step;
		int err;

		if (avail < TCPCP_SI_EXT_HDR_LEN)
			return -EINVAL;
		len = get16(p + 2);
		if (p[0] == TCPCP_SIE_BUF_SND || p[0] == TCPCP_SIE_BUF_RCV)
			hdr = TCPCP_SI_SKB_HDR_LEN;
		else if (p[0] >= TCPCP_SIE_EXT_MIN)
			hdr = TCPCP_SI_EXT_HDR_LEN;
		else
			return -EINVAL;
		step = hdr + ALIGN4(len);
		if (step > avail)
			return -EINVAL;
		if (hdr == TCPCP_SI_SKB_HDR_LEN)
			err = decode_segment(p, c, &seen_snd, &seen_rcv);
		else
			err = decode_ext(p, len, c);
		if (err)
			return err;
		p += step;
	}
	if (!seen_snd)
		c->sndq_seq = c->snd_nxt + c->unsent - fin_sent(c);
	if (!seen_rcv)
		c->rcvq_seq = c->rcv_nxt - fin_rcvd(c);
	return 0;
}

/* The FINs must be the ones the state implies. */
static int check_fins(const struct tcpcp_conn *c)
{
	bool want_rcvd = c->state == ST_CLOSE_WAIT || c->state == ST_LAST_ACK ||
			 c->state == ST_CLOSING;
	bool want_queued = c->state == ST_FIN_WAIT1 ||
			   c->state == ST_LAST_ACK || c->state == ST_CLOSING;

	if (!!fin_rcvd(c) != want_rcvd || !!fin_queued(c) != want_queued)
		return -EINVAL;
	if ((c->fin_flags & TCPCP_SIE_FIN_SENT) && !fin_queued(c))
		return -EINVAL;
	return 0;
}

/*
 * The queues must end where the sequence numbers say they do.  Our FIN
 * takes the sequence number after the send queue; a FIN not yet sent is
 * counted like an unsent byte.  The peer's FIN is the one before rcv_nxt.
 */
static int check_queues(const struct tcpcp_conn *c)
{
	uint32_t end = c->sndq_seq + c->sndq_len + fin_queued(c);
	uint32_t unsent_fin = fin_queued(c) - fin_sent(c);

	if (c->unsent > c->sndq_len || (fin_sent(c) && c->unsent))
		return -EINVAL;
	if (end != c->snd_nxt + c->unsent + unsent_fin)
		return -EINVAL;
	if (c->rcvq_seq + c->rcvq_len + fin_rcvd(c) != c->rcv_nxt)
		return -EINVAL;
	return check_fins(c);
}

int si_decode_conn(const void *buf, uint32_t size, uint32_t *offset,
		   struct tcpcp_conn *ret)
{
	struct tcpcp_conn c;
	const uint8_t *h;
	uint32_t len;
	int err;

	if (*offset > size || size - *offset < TCPCP_SI_HDR_LEN)
		return -EINVAL;
	h = (const uint8_t *)buf + *offset;
	len = get32(h);
	if ((uint64_t)len * 4 < TCPCP_SI_HDR_LEN ||
	    (uint64_t)len * 4 > size - *offset)
		return -EINVAL;
	len *= 4;

	/* *ret is written only once the connection is known good */
	memset(&c, 0, sizeof(c));
	decode_id(h, &c);
	decode_general(h, &c);
	decode_sockopt(h, &c);
	err = check_header(&c);
	if (!err)
		err = decode_elements(h + TCPCP_SI_HDR_LEN, h + len,
				      &c);
	if (!err)
		err = check_queues(&c);
	if (err)
		return err;
	c.raw = h;
	c.raw_len = len;
	*ret = c;
	*offset += len;
	return 0;
}

int si_check(const void *buf, uint32_t size, unsigned int *ret_count)
{
	struct tcpcp_conn c;
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i, count;
	int err;

	err = si_check_total(buf, size, &count);
	if (err)
		return err;
	for (i = 0; i < count; i++) {
		err = si_decode_conn(buf, size, &off, &c);
		if (err)
			return err;
	}
	if (off != size)
		return -EINVAL;
	*ret_count = count;
	return 0;
}

void si_queue_gather(const struct tcpcp_conn *c, int type, uint8_t *dst)
{
	const uint8_t *p = c->raw + TCPCP_SI_HDR_LEN;
	const uint8_t *end = c->raw + c->raw_len;

	while (p < end) {
		uint32_t len = get16(p + 2);
		bool is_seg = p[0] == TCPCP_SIE_BUF_SND ||
			      p[0] == TCPCP_SIE_BUF_RCV;
		uint32_t hdr = is_seg ? TCPCP_SI_SKB_HDR_LEN :
					TCPCP_SI_EXT_HDR_LEN;

		if (p[0] == type) {
			memcpy(dst, p + hdr, len);
			dst += len;
		}
		p += hdr + ALIGN4(len);
	}
}

static uint32_t queue_size(uint32_t len)
{
	uint32_t full = len / TCPCP_SI_SEG_MAX, rest = len % TCPCP_SI_SEG_MAX;

	return full * (TCPCP_SI_SKB_HDR_LEN + TCPCP_SI_SEG_MAX) +
	       (rest ? TCPCP_SI_SKB_HDR_LEN + ALIGN4(rest) : 0);
}

static uint32_t ext_size(uint32_t payload)
{
	return TCPCP_SI_EXT_HDR_LEN + ALIGN4(payload);
}

uint32_t si_conn_size(const struct tcpcp_conn *c)
{
	uint32_t n = TCPCP_SI_HDR_LEN;
	unsigned int i;

	n += queue_size(c->sndq_len) + queue_size(c->rcvq_len);
	if (c->has_window)
		n += ext_size(sizeof(struct tcpcp_sie_window));
	if (c->unsent)
		n += ext_size(4);
	if (c->mss_clamp)
		n += ext_size(4);
	if (c->fin_flags)
		n += ext_size(sizeof(struct tcpcp_sie_fin));
	if (c->has_fd_flags)
		n += ext_size(4);
	if (c->ifname[0])
		n += ext_size(TCPCP_IFNAME_LEN);
	for (i = 0; i < c->nxopts; i++)
		if (xopt_rule_find(c->xopts[i].level, c->xopts[i].name))
			n += ext_size(4 + c->xopts[i].len);
	return n;
}

void si_encode_total(void *buf, uint32_t size, uint16_t count)
{
	uint8_t *p = buf;

	memset(p, 0, TCPCP_SI_TOTAL_HDR_LEN);
	put32(p, size / 4);
	p[4] = TCPCP_SI_MAJOR;
	p[5] = TCPCP_SI_MINOR;
	put16(p + 6, count);
}

static void encode_header(uint8_t *h, const struct tcpcp_conn *c, uint32_t len)
{
	memset(h, 0, TCPCP_SI_HDR_LEN);
	put32(h, len / 4);
	put32(h + OFF(fd), c->fd);
	h[OFF(id)] = c->ip_version;
	memcpy(h + OFF_ID_V4, c->local_addr, c->ip_version == 4 ? 4 : 16);
	memcpy(h + OFF_ID_V4 + (c->ip_version == 4 ? 4 : 16), c->peer_addr,
	       c->ip_version == 4 ? 4 : 16);
	if (c->ip_version == 6)
		put32(h + OFF_SCOPE, c->scope_id);
	put16(h + OFF_SPORT, c->local_port);
	put16(h + OFF_DPORT, c->peer_port);
	h[OFF_FG(tcp_flags)] = c->tcp_opts;
	h[OFF_FG(snd_wscale)] = c->snd_wscale;
	h[OFF_FG(rcv_wscale)] = c->rcv_wscale;
	put16(h + OFF_FG(snd_mss), c->snd_mss);
	put16(h + OFF_FG(rcv_mss), c->rcv_mss);
	h[OFF_VG(state)] = c->state;
	put32(h + OFF_VG(snd_nxt), c->snd_nxt);
	put32(h + OFF_VG(rcv_nxt), c->rcv_nxt);
	put32(h + OFF_VG(snd_wnd), c->snd_wnd);
	put32(h + OFF_VG(rcv_wnd), c->rcv_wnd);
	put32(h + OFF_VG(ts_recent), c->ts_recent);
	put32(h + OFF_VG(ts_gen), c->ts_gen);
}

static void encode_sockopt(uint8_t *h, const struct tcpcp_conn *c)
{
	h[OFF_SK(flags)] = c->sk_flags;
	h[OFF_SK(userlocks)] = c->userlocks;
	put32(h + OFF_SK(priority), c->priority);
	put32(h + OFF_SK(sndbuf), c->sndbuf);
	put32(h + OFF_SK(rcvbuf), c->rcvbuf);
	put32(h + OFF_SK(l_linger), c->l_linger);
	if (c->ip_version == 4) {
		h[OFF_V4(flags)] = c->ip_flags;
		h[OFF_V4(uc_ttl)] = c->ttl;
		h[OFF_V4(pmtudisc)] = c->pmtudisc;
		h[OFF_V4(tos)] = c->tos;
		h[OFF_V4(opt_len)] = c->ip_opt_len;
		memcpy(h + OFF_V4(opt_data), c->ip_opt, sizeof(c->ip_opt));
	} else {
		h[OFF_V6(flags)] = c->ip_flags;
		h[OFF_V6(hop_limit)] = c->ttl;
		h[OFF_V6(pmtudisc)] = c->pmtudisc;
	}
	h[OFF_TCP(nonagle)] = c->nonagle;
	h[OFF_TCP(keepcnt)] = c->keepcnt;
	put16(h + OFF_TCP(keepidle), c->keepidle);
	put16(h + OFF_TCP(keepintvl), c->keepintvl);
}

static uint8_t *encode_queue(uint8_t *p, int type, uint32_t seq,
			     const uint8_t *data, uint32_t len)
{
	while (len) {
		uint32_t n = len < TCPCP_SI_SEG_MAX ? len : TCPCP_SI_SEG_MAX;

		memset(p, 0, TCPCP_SI_SKB_HDR_LEN + ALIGN4(n));
		p[0] = (uint8_t)type;
		put16(p + 2, (uint16_t)n);
		p[4] = 0x10; /* ACK */
		put32(p + offsetof(struct tcpcp_si_skb, seq), seq);
		memcpy(p + TCPCP_SI_SKB_HDR_LEN, data, n);
		p += TCPCP_SI_SKB_HDR_LEN + ALIGN4(n);
		data += n;
		seq += n;
		len -= n;
	}
	return p;
}

static uint8_t *encode_ext(uint8_t *p, uint8_t type, const void *payload,
			   uint32_t len)
{
	memset(p, 0, ext_size(len));
	p[0] = type;
	put16(p + 2, (uint16_t)len);
	memcpy(p + TCPCP_SI_EXT_HDR_LEN, payload, len);
	return p + ext_size(len);
}

static uint8_t *encode_u32_ext(uint8_t *p, uint8_t type, uint32_t v)
{
	uint8_t be[4];

	put32(be, v);
	return encode_ext(p, type, be, 4);
}

static uint8_t *encode_window(uint8_t *p, const struct tcpcp_sie_window *w)
{
	uint8_t be[sizeof(*w)];

	put32(be, w->snd_wl1);
	put32(be + 4, w->snd_wnd);
	put32(be + 8, w->max_window);
	put32(be + 12, w->rcv_wnd);
	put32(be + 16, w->rcv_wup);
	return encode_ext(p, TCPCP_SIE_EXT_WINDOW, be, sizeof(be));
}

static uint8_t *encode_xopts(uint8_t *p, const struct tcpcp_conn *c)
{
	unsigned int i;

	for (i = 0; i < c->nxopts; i++) {
		const struct tcpcp_xopt *x = &c->xopts[i];
		const struct xopt_rule *r = xopt_rule_find(x->level, x->name);
		uint8_t d[4 + TCPCP_XOPT_VAL_MAX];
		uint32_t v;

		if (!r)
			continue;
		put16(d, x->level);
		put16(d + 2, x->name);
		if (r->is_string) {
			memcpy(d + 4, x->val, x->len);
		} else {
			memcpy(&v, x->val, 4);
			put32(d + 4, v);
		}
		p = encode_ext(p, TCPCP_SIE_EXT_SOCKOPT, d, 4u + x->len);
	}
	return p;
}

void si_encode_conn(void *buf, const struct tcpcp_conn *c)
{
	uint8_t *p = buf;
	struct tcpcp_sie_fin fin = { .flags = c->fin_flags };

	encode_header(p, c, si_conn_size(c));
	encode_sockopt(p, c);
	p += TCPCP_SI_HDR_LEN;
	p = encode_queue(p, TCPCP_SIE_BUF_SND, c->sndq_seq, c->sndq,
			 c->sndq_len);
	p = encode_queue(p, TCPCP_SIE_BUF_RCV, c->rcvq_seq, c->rcvq,
			 c->rcvq_len);
	if (c->has_window)
		p = encode_window(p, &c->window);
	if (c->unsent)
		p = encode_u32_ext(p, TCPCP_SIE_EXT_SNDQ, c->unsent);
	if (c->mss_clamp)
		p = encode_u32_ext(p, TCPCP_SIE_EXT_MSS, c->mss_clamp);
	if (c->fin_flags)
		p = encode_ext(p, TCPCP_SIE_EXT_FIN, &fin, sizeof(fin));
	if (c->has_fd_flags)
		p = encode_u32_ext(p, TCPCP_SIE_EXT_FDFLAGS, c->fd_flags);
	if (c->ifname[0])
		p = encode_ext(p, TCPCP_SIE_EXT_IFNAME, c->ifname,
			       TCPCP_IFNAME_LEN);
	encode_xopts(p, c);
}
