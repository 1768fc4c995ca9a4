// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Runs inputs through the fuzz target without libFuzzer.  libFuzzer needs
 * clang, and the default build (and CI) uses gcc: this driver lets every
 * build replay the seed corpus and the saved crashes through the same
 * checks.  Arguments are files or directories (every file in them, in name
 * order, dot files skipped).  Fails if nothing was replayed, so a missing
 * corpus cannot pass unnoticed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	size_t n;

	if (!f || fstat(fileno(f), &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* never NULL, even for an empty file, as under libFuzzer */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		abort();
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	/* named first: if the target aborts, this says which input did it */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int not_hidden(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static int replay_dir(const char *dir, unsigned int *count)
{
	struct dirent **names;
	int i, n, err = 0;

	n = scandir(dir, &names, not_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!err && !replay_file(path))
			(*count)++;
		else
			err = -1;
		free(names[i]);
	}
	free(names);
	return err;
}

int main(int argc, char **argv)
{
	unsigned int count = 0;
	struct stat st;
	int i;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count))
				return 1;
		} else if (replay_file(argv[i])) {
			return 1;
		} else {
			count++;
		}
	}
	if (!count) {
		fprintf(stderr, "replay: no input replayed\n");
		return 1;
	}
	printf("replay: %u inputs, all passed\n", count);
	return 0;
}
