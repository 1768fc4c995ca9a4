// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer custom mutator for TCP-SI buffers, linked into the fuzzer only.
 *
 * Every byte inserted or removed breaks total_si_length and si_length, so
 * with plain mutations nearly every new layout (an element added, one cut
 * short) dies at the first length check and the element decoders never see
 * it: a conn with no send segment and an SNDQ element, say, was out of
 * reach.  Half the time the lengths are fixed up after libFuzzer's
 * mutation, the last connection taking whatever follows the others; the
 * other half the mutation is left alone, so the length checks themselves
 * stay fuzzed.
 */
#include <stddef.h>
#include <stdint.h>

#include "tcpcp_si.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Connections before the last keep their lengths while those still fit:
 * rewriting them too would undo the mutation that was just made. */
static void fix_lengths(uint8_t *buf, uint32_t size)
{
	unsigned int i, count = (unsigned int)(buf[6] << 8 | buf[7]);
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN, len;

	put32(buf, size / 4);
	for (i = 0; i < count && size - off >= TCPCP_SI_HDR_LEN; i++) {
		if (i == count - 1) {
			put32(buf + off, (size - off) / 4);
			return;
		}
		len = get32(buf + off);
		if (len < TCPCP_SI_HDR_LEN / 4 || len > (size - off) / 4)
			return;
		off += len * 4;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed & 1 || size < TCPCP_SI_TOTAL_HDR_LEN || size > UINT32_MAX)
		return size;
	size &= ~(size_t)3;
	fix_lengths(data, (uint32_t)size);
	return size;
}
