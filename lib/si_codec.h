/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TCP-SI codec.  One source, compiled into libtcpcp and tcpcp2.ko, so
 * both speak exactly the same format.  Decoding trusts nothing: every
 * length is checked against the buffer before it is read, and a bad buffer
 * is -EINVAL.
 */
#ifndef TCPCP_SI_CODEC_H
#define TCPCP_SI_CODEC_H

#include "si_conn.h"

/* Largest data length of one queue segment element. */
#define TCPCP_SI_SEG_MAX 65532u
/* Largest queue carried per direction; keeps sequence arithmetic sane. */
#define TCPCP_SI_QUEUE_MAX (1u << 30)

/* Checks the total header; *ret_count = connections that follow. */
int si_check_total(const void *buf, uint32_t size, unsigned int *ret_count);

/*
 * Decodes the connection at *offset (start at TCPCP_SI_TOTAL_HDR_LEN) and
 * advances *offset past it.  ret->raw points into buf.
 */
int si_decode_conn(const void *buf, uint32_t size, uint32_t *offset,
		   struct tcpcp_conn *ret);

/* Checks a whole buffer: total header and every connection. */
int si_check(const void *buf, uint32_t size, unsigned int *ret_count);

/* Copies a decoded connection's queue (TCPCP_SIE_BUF_SND or _RCV) into
 * dst, which holds sndq_len or rcvq_len bytes. */
void si_queue_gather(const struct tcpcp_conn *c, int type, uint8_t *dst);

/* Bytes si_encode_conn() will write for c. */
uint32_t si_conn_size(const struct tcpcp_conn *c);

/* Writes the total header for count connections in size bytes. */
void si_encode_total(void *buf, uint32_t size, uint16_t count);

/* Writes c at buf (si_conn_size(c) bytes). */
void si_encode_conn(void *buf, const struct tcpcp_conn *c);

#endif /* TCPCP_SI_CODEC_H */
