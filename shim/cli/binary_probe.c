/*
 * binary_probe.c - executables LD_PRELOAD cannot reach
 * (../shared/reference/interposition.md section 6), so that the launcher
 * refuses them with a reason instead of starting a server that silently
 * sends its headers unchanged:
 *
 *   - static binaries: no PT_INTERP, no dynamic loader, LD_PRELOAD ignored
 *     (static-pie included);
 *   - Go binaries: the runtime makes its system calls itself
 *     (golang/go#35432), even when cgo links it dynamically. Recognised by
 *     the build-id note (name "Go", type 4), or a .note.go.buildid or
 *     .go.buildinfo section;
 *   - setuid/setgid binaries and binaries with file capabilities: ld.so(8)
 *     secure-execution mode ignores preload paths that contain a slash.
 *
 * Only the ELF headers and notes are read, never the whole file.
 */
#include "cli.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define GO_NOTE_TYPE 4 /* Go's ELF_NOTE_GOBUILDID_TAG */

/* What the probe found in the ELF file. */
typedef struct elf_facts {
    bool is_elf;
    bool has_interp;
    bool go;
} elf_facts;

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    if (off > (uint64_t)INT64_MAX)
        return false;
    ssize_t got = pread(fd, buf, n, (off_t)off);
    return got == (ssize_t)n;
}

/* A uniform view over Elf32 and Elf64 headers, in the file's byte order. */
typedef struct elf_view {
    int fd;
    bool is64;
    bool swap;
} elf_view;

static uint16_t u16(const elf_view *v, uint16_t x)
{
    return v->swap ? (uint16_t)((x >> 8) | (x << 8)) : x;
}

static uint32_t u32(const elf_view *v, uint32_t x)
{
    return v->swap ? __builtin_bswap32(x) : x;
}

static uint64_t u64(const elf_view *v, uint64_t x)
{
    return v->swap ? __builtin_bswap64(x) : x;
}

/* Looks for a note named "Go" of type GO_NOTE_TYPE in [off, off+size). */
static bool has_go_note(const elf_view *v, uint64_t off, uint64_t size)
{
    if (size > 65536)
        size = 65536; /* build-id notes are tiny; bound the read */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL || !read_at(v->fd, buf, size, off)) {
        free(buf);
        return false;
    }
    bool found = false;
    uint64_t pos = 0;
    while (!found && pos + sizeof(Elf32_Nhdr) <= size) {
        Elf32_Nhdr nh; /* Elf64_Nhdr has the same 32-bit fields */
        memcpy(&nh, buf + pos, sizeof nh);
        uint64_t namesz = u32(v, nh.n_namesz), descsz = u32(v, nh.n_descsz);
        uint64_t name_at = pos + sizeof nh;
        uint64_t next = name_at + ((namesz + 3) & ~3ull) +
                        ((descsz + 3) & ~3ull);
        if (name_at + namesz > size)
            break;
        /* Go's linker writes the name "Go\0\0" with namesz 4
         * (cmd/link ELF_NOTE_GO_NAME); the ELF convention is 3. */
        found = u32(v, nh.n_type) == GO_NOTE_TYPE &&
                (namesz == 3 || namesz == 4) &&
                memcmp(buf + name_at, "Go", 3) == 0;
        if (next <= pos)
            break;
        pos = next;
    }
    free(buf);
    return found;
}

/* Program headers: PT_INTERP, and Go's note in a PT_NOTE segment (which
 * survives stripping of section headers). */
static void scan_segments(const elf_view *v, uint64_t phoff, unsigned phnum,
                          unsigned phentsize, elf_facts *f)
{
    for (unsigned i = 0; i < phnum && i < 4096; i++) {
        uint64_t at = phoff + (uint64_t)i * phentsize;
        uint32_t type;
        uint64_t off, filesz;
        if (v->is64) {
            Elf64_Phdr ph;
            if (phentsize < sizeof ph || !read_at(v->fd, &ph, sizeof ph, at))
                return;
            type = u32(v, ph.p_type);
            off = u64(v, ph.p_offset);
            filesz = u64(v, ph.p_filesz);
        } else {
            Elf32_Phdr ph;
            if (phentsize < sizeof ph || !read_at(v->fd, &ph, sizeof ph, at))
                return;
            type = u32(v, ph.p_type);
            off = u32(v, ph.p_offset);
            filesz = u32(v, ph.p_filesz);
        }
        if (type == PT_INTERP)
            f->has_interp = true;
        else if (type == PT_NOTE && !f->go && has_go_note(v, off, filesz))
            f->go = true;
    }
}

/* Section names: .note.go.buildid and .go.buildinfo. */
static void scan_sections(const elf_view *v, uint64_t shoff, unsigned shnum,
                          unsigned shentsize, unsigned shstrndx, elf_facts *f)
{
    if (shoff == 0 || shnum == 0 || shstrndx >= shnum || shnum > 65535)
        return;
    uint64_t names_off, names_size;
    uint64_t at = shoff + (uint64_t)shstrndx * shentsize;
    if (v->is64) {
        Elf64_Shdr sh;
        if (shentsize < sizeof sh || !read_at(v->fd, &sh, sizeof sh, at))
            return;
        names_off = u64(v, sh.sh_offset);
        names_size = u64(v, sh.sh_size);
    } else {
        Elf32_Shdr sh;
        if (shentsize < sizeof sh || !read_at(v->fd, &sh, sizeof sh, at))
            return;
        names_off = u32(v, sh.sh_offset);
        names_size = u32(v, sh.sh_size);
    }
    if (names_size == 0 || names_size > (1u << 20))
        return;
    char *names = malloc(names_size + 1);
    if (names == NULL || !read_at(v->fd, names, names_size, names_off)) {
        free(names);
        return;
    }
    names[names_size] = '\0';
    for (unsigned i = 0; i < shnum && !f->go; i++) {
        uint32_t name;
        at = shoff + (uint64_t)i * shentsize;
        if (v->is64) {
            Elf64_Shdr sh;
            if (!read_at(v->fd, &sh, sizeof sh, at))
                break;
            name = u32(v, sh.sh_name);
        } else {
            Elf32_Shdr sh;
            if (!read_at(v->fd, &sh, sizeof sh, at))
                break;
            name = u32(v, sh.sh_name);
        }
        if (name < names_size &&
            (strcmp(names + name, ".note.go.buildid") == 0 ||
             strcmp(names + name, ".go.buildinfo") == 0))
            f->go = true;
    }
    free(names);
}

static elf_facts probe_elf(int fd)
{
    elf_facts f = {0};
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, ident, sizeof ident, 0) ||
        memcmp(ident, ELFMAG, SELFMAG) != 0)
        return f;
    elf_view v = {.fd = fd, .is64 = ident[EI_CLASS] == ELFCLASS64};
    if (ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32)
        return f;
    uint16_t one = 1;
    bool host_le = *(unsigned char *)&one == 1;
    if (ident[EI_DATA] != ELFDATA2LSB && ident[EI_DATA] != ELFDATA2MSB)
        return f;
    v.swap = (ident[EI_DATA] == ELFDATA2LSB) != host_le;
    uint64_t phoff, shoff;
    unsigned phnum, phentsize, shnum, shentsize, shstrndx;
    if (v.is64) {
        Elf64_Ehdr eh;
        if (!read_at(fd, &eh, sizeof eh, 0))
            return f;
        phoff = u64(&v, eh.e_phoff);
        shoff = u64(&v, eh.e_shoff);
        phnum = u16(&v, eh.e_phnum);
        phentsize = u16(&v, eh.e_phentsize);
        shnum = u16(&v, eh.e_shnum);
        shentsize = u16(&v, eh.e_shentsize);
        shstrndx = u16(&v, eh.e_shstrndx);
    } else {
        Elf32_Ehdr eh;
        if (!read_at(fd, &eh, sizeof eh, 0))
            return f;
        phoff = u32(&v, eh.e_phoff);
        shoff = u32(&v, eh.e_shoff);
        phnum = u16(&v, eh.e_phnum);
        phentsize = u16(&v, eh.e_phentsize);
        shnum = u16(&v, eh.e_shnum);
        shentsize = u16(&v, eh.e_shentsize);
        shstrndx = u16(&v, eh.e_shstrndx);
    }
    f.is_elf = true;
    scan_segments(&v, phoff, phnum, phentsize, &f);
    if (!f.go)
        scan_sections(&v, shoff, shnum, shentsize, shstrndx, &f);
    return f;
}

const char *cli_preload_obstacle(const char *path, char *why, size_t why_len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL; /* exec will say what is wrong */
    if (st.st_mode & S_ISUID) {
        snprintf(why, why_len, "is setuid: the dynamic loader runs it in "
                 "secure-execution mode, which ignores LD_PRELOAD paths "
                 "(ld.so(8))");
        return why;
    }
    /* setgid without group execute is mandatory locking, not setgid. */
    if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) {
        snprintf(why, why_len, "is setgid: the dynamic loader runs it in "
                 "secure-execution mode, which ignores LD_PRELOAD paths "
                 "(ld.so(8))");
        return why;
    }
    if (getxattr(path, "security.capability", NULL, 0) > 0) {
        snprintf(why, why_len, "has file capabilities (setcap): the "
                 "dynamic loader runs it in secure-execution mode, which "
                 "ignores LD_PRELOAD paths (ld.so(8))");
        return why;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    elf_facts f = probe_elf(fd);
    close(fd);
    if (f.is_elf && f.go) {
        snprintf(why, why_len, "is a Go binary: the Go runtime makes its "
                 "system calls itself, past any LD_PRELOAD library");
        return why;
    }
    if (f.is_elf && !f.has_interp) {
        snprintf(why, why_len, "is statically linked (no PT_INTERP): "
                 "there is no dynamic loader to honour LD_PRELOAD");
        return why;
    }
    return NULL;
}
