/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checkpoint image: what the shim writes on the control signal and a
 * restarted process reads back (DESIGN section 4).  Internal to tcpcp2:
 * the shim, the tool and the fuzzers link it; libtcpcp does not export it.
 *
 * On disk, every integer little-endian:
 *
 *	header   magic "TCPCPIMG", version, header length, creation time,
 *	         pid, backend name, host name, connection count, TCP-SI length
 *	TCP-SI   the buffer tcpcp_get_si() produced, verbatim
 *	records  one per TCP-SI connection, in the same order
 *	crc32c   over everything before it
 *
 * An image is untrusted input: the reader checks every length, the CRC,
 * the TCP-SI (si_check) and that the record count matches it.  The format
 * is canonical (padding must be zero, every length exact), so an image the
 * reader accepts re-encodes to the same bytes; the fuzzer holds it to that.
 *
 * Header (IMAGE_HDR_LEN bytes):
 *
 *	  0  magic "TCPCPIMG"
 *	  8  u16 version (IMAGE_VERSION)
 *	 10  u16 header length (IMAGE_HDR_LEN)
 *	 12  u64 creation time, ns since the epoch
 *	 20  u32 pid
 *	 24  backend name, NUL-padded: IMAGE_BACKEND_MAX bytes, at least
 *	     one of them NUL
 *	 40  host name, NUL-padded: IMAGE_HOST_MAX bytes, at least one NUL
 *	104  u32 connection count
 *	108  u32 TCP-SI length
 *
 * Record (IMAGE_REC_LEN bytes):
 *
 *	  0  i32 fd, >= 0
 *	  4  u8 kind (enum image_kind)
 *	  5  u8 listener family: 0 (connected), 4 or 6 (accepted)
 *	  6  u16 listener port
 *	  8  listener address, network order; IPv4 in the first 4 bytes, the
 *	     rest zero; all zero for family 0
 *	 24  u32 listener IPv6 scope id; zero unless family 6
 *
 * Every "why" below is one line that does not repeat the path: callers
 * prefix it with the path they passed.
 */
#ifndef TCPCP_IMAGE_H
#define TCPCP_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define IMAGE_VERSION 1
#define IMAGE_HOST_MAX 64
#define IMAGE_BACKEND_MAX 16
/* Largest image a reader accepts: a TCP-SI bigger than this is not ours. */
#define IMAGE_SIZE_MAX (1u << 31)

#define IMAGE_MAGIC "TCPCPIMG"
#define IMAGE_MAGIC_LEN 8
#define IMAGE_HDR_LEN 112
#define IMAGE_REC_LEN 28
#define IMAGE_CRC_LEN 4

/* How the process came to own the connection. */
enum image_kind {
	IMAGE_KIND_ACCEPTED = 1,  /* from a listener of the process */
	IMAGE_KIND_CONNECTED = 2, /* the process called connect() */
};

/* The shim's record of one connection. */
struct image_conn {
	int32_t fd;     /* its descriptor in the checkpointed process */
	uint8_t kind;   /* enum image_kind */
	/* accepted: the address its listener was bound to (the restarted
	 * program's bind() of this address claims the connection) */
	struct sockaddr_storage listener;
	socklen_t listener_len; /* 0 for connected */
};

struct image {
	uint64_t created_ns; /* CLOCK_REALTIME */
	uint32_t pid;
	char host[IMAGE_HOST_MAX + 1];
	char backend[IMAGE_BACKEND_MAX + 1];
	void *si; /* the TCP-SI buffer, malloc'ed */
	uint32_t si_len;
	uint32_t n_conns; /* = connections in the TCP-SI = records */
	struct image_conn *conns;
};

/*
 * The on-disk bytes of img, malloc'ed, into *ret_buf and *ret_len.  0,
 * -ENOMEM, -EFBIG past IMAGE_SIZE_MAX, or -EINVAL for an image the reader
 * would refuse: a TCP-SI that si_check() refuses or whose count is not
 * n_conns, a record that does not fit its kind, a backend name of
 * IMAGE_BACKEND_MAX bytes or more.  A host name is cut to IMAGE_HOST_MAX - 1
 * bytes instead: it only informs, and gethostname() may return 64 bytes, so
 * a checkpoint must not fail over it.
 */
int image_encode(const struct image *img, void **ret_buf, size_t *ret_len);

/*
 * Writes img to path atomically: a temporary file in the same directory,
 * mode 0600, O_NOFOLLOW|O_EXCL, fsync'ed, renamed over path, directory
 * fsync'ed.  A crash at any point leaves the previous image intact.
 * 0 or -errno, with a one-line reason in why.
 */
int image_write(const char *path, const struct image *img, char *why,
		size_t why_len);

/*
 * Parses an image held in memory into ret (which owns copies of everything
 * and is released with image_free).  0, or -EINVAL with a one-line reason
 * ("bad CRC", "wrong magic", "version 7, this build reads 1", ...).
 */
int image_parse(const void *buf, size_t len, struct image *ret, char *why,
		size_t why_len);

/*
 * Opens path (O_NOFOLLOW: a symbolic link is -ELOOP), refuses it unless it
 * is a regular file (-EINVAL) owned by the caller's effective uid and not
 * writable by group or others (-EPERM) of at most IMAGE_SIZE_MAX bytes
 * (-EFBIG), reads and parses it.  0 or -errno, with a one-line reason in
 * why; *ret is untouched on failure.
 */
int image_read(const char *path, struct image *ret, char *why,
	       size_t why_len);

void image_free(struct image *img); /* accepts a zeroed or freed image */

/*
 * The atomic write behind image_write() and image_done_write(): the iovcnt
 * pieces of iov, in order, into a new file "<dir>/.<base>.XXXXXX" (mode
 * 0600), renamed over path; with IMAGE_DURABLE, the file is fsync'ed
 * before the rename and the directory after it.  The temporary file is
 * removed on any failure.  0 or -errno, with a one-line reason in why.
 */
#define IMAGE_DURABLE 1u
int image_file_write(const char *path, const struct iovec *iov, int iovcnt,
		     unsigned int flags, char *why, size_t why_len);

/*
 * IMAGE.done: the checkpoint's outcome, next to the image, written
 * atomically after the image is durable (or after the checkpoint failed).
 * Text, one key=value per line:
 *
 *	outcome=ok | failed
 *	pid=1234
 *	connections=5        saved in the image
 *	failed=0             connections that could not be saved
 *	image=/path/to/img
 *	bytes=123456         image size
 *	freeze_us=850        control signal to image durable
 *	action=exit | term | continue | stop
 *	error=one line       only when outcome=failed
 */
struct image_done {
	int ok;
	uint32_t pid;
	uint32_t connections;
	uint32_t failed;
	uint64_t bytes;
	uint64_t freeze_us;
	char action[16];
	char image[4096];
	char error[256];
};

/* The done file's path for an image path: path + ".done". */
int image_done_path(const char *image_path, char *ret, size_t len);
int image_done_write(const char *image_path, const struct image_done *d);
/* 0, -ENOENT if not there yet, -EINVAL if malformed. */
int image_done_read(const char *image_path, struct image_done *ret);

/* CRC32C (Castagnoli), as iSCSI and ext4 use; crc starts at 0. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* TCPCP_IMAGE_H */
