// args: dumps what the loader put on the initial stack -- argv, envp and selected auxv
// entries -- in a form that is identical natively and in the sandbox for the same
// argv, environment and credentials. Exits 0 if every consistency check passed.
#define _GNU_SOURCE
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include "check.h"

extern char _start[];
extern char **environ;

int main(int argc, char **argv, char **envp) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    check(argv[argc] == NULL, "argv NULL-terminated");
    check(envp == argv + argc + 1, "envp follows argv");
    check(envp == environ, "environ == envp");

    char **e = envp;
    for (; *e != NULL; e++) printf("env=%s\n", *e);

    // The auxiliary vector follows envp's NULL. Walk it and compare with getauxval.
    Elf64_auxv_t *auxv = (Elf64_auxv_t *)(e + 1);
    int n = 0, agree = 1;
    for (; auxv[n].a_type != AT_NULL && n < 256; n++) {
        // glibc rewrites AT_HWCAP for its own use (dl_hwcap), so skip that one.
        if (auxv[n].a_type == AT_HWCAP) continue;
        if (getauxval(auxv[n].a_type) != auxv[n].a_un.a_val) agree = 0;
    }
    check(n < 256, "auxv AT_NULL-terminated");
    check(agree, "auxv on stack agrees with getauxval");

    printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
    printf("AT_UID=%lu\n", getauxval(AT_UID));
    printf("AT_EUID=%lu\n", getauxval(AT_EUID));
    printf("AT_GID=%lu\n", getauxval(AT_GID));
    printf("AT_EGID=%lu\n", getauxval(AT_EGID));
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
    printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));
    printf("AT_BASE=%lu\n", getauxval(AT_BASE)); // 0: static executable, no interpreter
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN=%s\n", execfn ? execfn : "(null)");
    const char *platform = (const char *)getauxval(AT_PLATFORM);
    printf("AT_PLATFORM=%s\n", platform ? platform : "(null)");
    check(getauxval(AT_RANDOM) != 0, "AT_RANDOM non-null");

    // The program headers at AT_PHDR describe this very executable.
    const Elf64_Phdr *phdr = (const Elf64_Phdr *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM), phent = getauxval(AT_PHENT);
    printf("AT_PHENT=%lu\n", phent);
    check(phent == sizeof(Elf64_Phdr), "AT_PHENT == sizeof(Elf64_Phdr)");
    check(phdr != NULL && phnum > 0, "AT_PHDR and AT_PHNUM set");
    int loads = 0, tls = 0;
    if (phdr != NULL)
        for (unsigned long i = 0; i < phnum; i++) {
            if (phdr[i].p_type == PT_LOAD) loads++;
            if (phdr[i].p_type == PT_TLS) tls++;
        }
    check(loads > 0, "phdrs contain PT_LOAD");
    check(tls == 1, "phdrs contain one PT_TLS");
    printf("PT_LOAD count=%d\n", loads);

    // The entry point is _start of this executable (also true for static-PIE).
    check(getauxval(AT_ENTRY) == (unsigned long)_start, "AT_ENTRY == _start");

    return finish("args");
}
