// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer custom mutator for checkpoint images, linked into the fuzzer
 * only.
 *
 * A mutated image almost always fails the CRC, and one that grew or shrank
 * fails the length checks before that, so plain mutations would fuzz
 * little beyond parse_frame().  Half the time the lengths are fixed up
 * after libFuzzer's mutation (the TCP-SI taking whatever the header and
 * the records leave, and its own total length following) and the CRC is
 * recomputed; the other half the mutation is left alone, so the length
 * and CRC checks themselves stay fuzzed.
 */
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "tcpcp_si.h"

#define H_N_CONNS 104
#define H_SI_LEN 108

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* The TCP-SI's own total length is big-endian, in 4-byte words. */
static void put32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void fix_up(uint8_t *buf, size_t size)
{
	size_t body = size - IMAGE_HDR_LEN - IMAGE_CRC_LEN;
	uint64_t recs = (uint64_t)get32le(buf + H_N_CONNS) * IMAGE_REC_LEN;
	uint32_t si_len;

	if (recs > body) {
		recs = body / IMAGE_REC_LEN;
		put32le(buf + H_N_CONNS, (uint32_t)recs);
		recs *= IMAGE_REC_LEN;
	}
	si_len = (uint32_t)(body - recs);
	put32le(buf + H_SI_LEN, si_len);
	if (si_len >= TCPCP_SI_TOTAL_HDR_LEN && si_len % 4 == 0)
		put32be(buf + IMAGE_HDR_LEN, si_len / 4);
	put32le(buf + size - IMAGE_CRC_LEN,
		crc32c(0, buf, size - IMAGE_CRC_LEN));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed & 1 || size < IMAGE_HDR_LEN + IMAGE_CRC_LEN ||
	    size > IMAGE_SIZE_MAX)
		return size;
	fix_up(data, size);
	return size;
}
