/* reach.c -- can the shim fake the clock of a program about to be exec'd?
 * The reasons and the warning's wording are in reach.def, shared with the Rust
 * side (clock::reach), which must agree with these rules on the same files
 * (crates/clock/tests/reach_fixtures.rs checks that). */
#include "shim.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static int read_at(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);
	return r == (ssize_t)n;
}

/* The reason an ELF file escapes the shim, REACH_OK when it does not, or -1
 * when fd is not an ELF file of this host's byte order. */
static int elf_reason(int fd)
{
	unsigned char id[EI_NIDENT];
	if (!read_at(fd, id, sizeof id, 0) || memcmp(id, ELFMAG, SELFMAG) != 0)
		return -1;
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
		return -1;
	int is64 = id[EI_CLASS] == ELFCLASS64;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (id[EI_DATA] != ELFDATA2LSB)
		return -1;
#else
	if (id[EI_DATA] != ELFDATA2MSB)
		return -1;
#endif
	uint64_t phoff, shoff;
	unsigned phnum, phentsize, shnum, shentsize, shstrndx;
	if (is64) {
		Elf64_Ehdr e;
		if (!read_at(fd, &e, sizeof e, 0))
			return -1;
		phoff = e.e_phoff; phnum = e.e_phnum; phentsize = e.e_phentsize;
		shoff = e.e_shoff; shnum = e.e_shnum; shentsize = e.e_shentsize; shstrndx = e.e_shstrndx;
	} else {
		Elf32_Ehdr e;
		if (!read_at(fd, &e, sizeof e, 0))
			return -1;
		phoff = e.e_phoff; phnum = e.e_phnum; phentsize = e.e_phentsize;
		shoff = e.e_shoff; shnum = e.e_shnum; shentsize = e.e_shentsize; shstrndx = e.e_shstrndx;
	}
	int has_interp = 0, musl = 0, go = 0;
	for (unsigned i = 0; i < phnum && i < 4096; i++) {
		uint64_t type, off, size;
		if (is64) {
			Elf64_Phdr p;
			if (!read_at(fd, &p, sizeof p, (off_t)(phoff + (uint64_t)i * phentsize)))
				break;
			type = p.p_type; off = p.p_offset; size = p.p_filesz;
		} else {
			Elf32_Phdr p;
			if (!read_at(fd, &p, sizeof p, (off_t)(phoff + (uint64_t)i * phentsize)))
				break;
			type = p.p_type; off = p.p_offset; size = p.p_filesz;
		}
		if (type == PT_INTERP) {
			char path[256] = {0};
			size_t n = size < sizeof path - 1 ? size : sizeof path - 1;
			has_interp = 1;
			if (read_at(fd, path, n, (off_t)off) && strstr(path, "ld-musl"))
				musl = 1;
		} else if (type == PT_NOTE && !go) {
			unsigned char nb[4096];
			size_t n = size < sizeof nb ? size : sizeof nb;
			if (!read_at(fd, nb, n, (off_t)off))
				continue;
			/* Note headers have 32-bit fields in both classes; 4-byte alignment. */
			size_t p = 0;
			while (p + 12 <= n) {
				uint32_t namesz, descsz, ntype;
				memcpy(&namesz, nb + p, 4);
				memcpy(&descsz, nb + p + 4, 4);
				memcpy(&ntype, nb + p + 8, 4);
				if (namesz == 3 && ntype == 4 && p + 15 <= n && memcmp(nb + p + 12, "Go", 3) == 0)
					go = 1;
				size_t step = 12 + (((size_t)namesz + 3) & ~(size_t)3) + (((size_t)descsz + 3) & ~(size_t)3);
				if (step > n)
					break;
				p += step;
			}
		}
	}
	if (!go && shstrndx < shnum && shnum < 65280) {
		uint64_t stroff = 0;
		if (is64) {
			Elf64_Shdr s;
			if (read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)shstrndx * shentsize)))
				stroff = s.sh_offset;
		} else {
			Elf32_Shdr s;
			if (read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)shstrndx * shentsize)))
				stroff = s.sh_offset;
		}
		for (unsigned i = 0; stroff && i < shnum && i < 4096 && !go; i++) {
			uint64_t name;
			if (is64) {
				Elf64_Shdr s;
				if (!read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)i * shentsize)))
					break;
				name = s.sh_name;
			} else {
				Elf32_Shdr s;
				if (!read_at(fd, &s, sizeof s, (off_t)(shoff + (uint64_t)i * shentsize)))
					break;
				name = s.sh_name;
			}
			char nm[20] = {0};
			if (pread(fd, nm, sizeof nm - 1, (off_t)(stroff + name)) <= 0)
				continue;
			if (strcmp(nm, ".go.buildinfo") == 0 || strcmp(nm, ".note.go.buildid") == 0)
				go = 1;
		}
	}
	if (go)
		return REACH_GO;
	if (!has_interp)
		return REACH_STATIC;
	if (musl)
		return REACH_MUSL;
	return REACH_OK;
}

static const char *const reach_texts[] = {
	[REACH_OK] = "",
#define REACH_REASON(code, rust, text) [REACH_##code] = text,
#define REACH_TEXT(name, text)
#include "reach.def"
#undef REACH_REASON
#undef REACH_TEXT
};

#define REACH_REASON(code, rust, text)
#define REACH_TEXT(name, text) static const char name[] = text;
#include "reach.def"
#undef REACH_REASON
#undef REACH_TEXT

const char *reach_text(enum reach_code code)
{
	if ((size_t)code >= sizeof reach_texts / sizeof reach_texts[0])
		return "";
	return reach_texts[code];
}

static void inspect_depth(const char *path, struct reach *out, int depth)
{
	out->code = REACH_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char head[256];
	ssize_t n = pread(fd, head, sizeof head - 1, 0);
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		close(fd);
		if (depth > 0)
			return;
		/* The kernel's reading: the first word after #! and blanks, up to a
		 * blank or the end of the line. */
		head[n] = '\0';
		char *p = head + 2;
		while (*p == ' ' || *p == '\t')
			p++;
		char *e = p;
		while (*e && *e != ' ' && *e != '\t' && *e != '\n')
			e++;
		*e = '\0';
		if (!*p || (size_t)(e - p) >= sizeof out->interpreter)
			return;
		struct reach sub;
		inspect_depth(p, &sub, depth + 1);
		if (sub.code != REACH_OK) {
			out->code = sub.code;
			memcpy(out->interpreter, p, (size_t)(e - p) + 1);
		}
		return;
	}
	int r = elf_reason(fd);
	struct stat st;
	if (r == REACH_OK && fstat(fd, &st) == 0) {
		char cap_buf[64];
		if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
		    ((st.st_mode & S_ISGID) && st.st_gid != getegid()))
			r = REACH_SETUID;
		else if (fgetxattr(fd, "security.capability", cap_buf, sizeof cap_buf) > 0)
			r = REACH_FILECAPS;
	}
	close(fd);
	if (r > 0)
		out->code = (enum reach_code)r;
}

void reach_inspect(const char *path, struct reach *out)
{
	out->interpreter[0] = '\0';
	inspect_depth(path, out, 0);
}

void reach_message(struct line *l, const char *path, const struct reach *r)
{
	l_str(l, path);
	l_str(l, ": ");
	if (r->interpreter[0]) {
		l_str(l, INTERP_PREFIX);
		l_str(l, r->interpreter);
		l_str(l, INTERP_INFIX);
	}
	l_str(l, reach_text(r->code));
	l_str(l, WARN_SUFFIX);
}

void check_reach(const char *path)
{
	if (g_trace_path[0]) {
		struct line l;
		l_begin(&l, "exec\t");
		l_esc(&l, path);
		l_emit(&l);
	}
	if (g_mode == M_OFF || g_watched || path == NULL)
		return;
	int saved = errno;
	struct reach r;
	reach_inspect(path, &r);
	if (r.code == REACH_OK) {
		errno = saved;
		return;
	}
	struct line m;
	m.len = 0;
	reach_message(&m, path, &r);
	m.buf[m.len] = '\0';
	struct line l;
	l.len = 0;
	l_str(&l, WARN_PREFIX);
	l_raw(&l, m.buf, m.len);
	l_str(&l, "\n");
	ssize_t w = write(2, l.buf, l.len);
	(void)w;
	l_begin(&l, "warn\t");
	l_esc(&l, m.buf);
	l_emit(&l);
	errno = saved;
}

/* PATH search for the check only (the real execvp does the real search). */
void check_reach_path(const char *file, const char *pathenv)
{
	if (g_mode == M_OFF && !g_trace_path[0])
		return;
	if (file == NULL || strchr(file, '/')) {
		check_reach(file);
		return;
	}
	const char *p = pathenv ? pathenv : "/bin:/usr/bin";
	char buf[4096];
	while (1) {
		const char *e = strchr(p, ':');
		size_t dl = e ? (size_t)(e - p) : strlen(p);
		size_t fl = strlen(file);
		if (dl + fl + 2 < sizeof buf) {
			memcpy(buf, dl ? p : ".", dl ? dl : 1);
			size_t k = dl ? dl : 1;
			buf[k++] = '/';
			memcpy(buf + k, file, fl + 1);
			if (access(buf, X_OK) == 0) {
				check_reach(buf);
				return;
			}
		}
		if (!e)
			return;
		p = e + 1;
	}
}

