/*
 * A real ClickHouse HTTP server for the storage tests, built from the libchdb.so that the
 * chdb npm package ships (so the tests need no ClickHouse installation).
 *
 * Usage: chdb-server /path/to/libchdb.so <clickhouse-local arguments...>
 *
 * libchdb exports chdb_query_cmdline(), which runs clickhouse-local with the given argv.
 * clickhouse-local starts its HTTP listener when told to (`SYSTEM START LISTEN HTTP`) and
 * serves it for as long as its --query runs, so the caller passes a query that sleeps for
 * the server's whole (bounded) lifetime. See test/helpers/clickhouse-server.ts.
 *
 * This has to be a separate process: it is the only way to kill the server abruptly
 * (outage tests), and chdb_query_cmdline cannot be called from Node itself (its stack
 * check fails on the libuv thread pool).
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

typedef void *(*chdb_query_cmdline_fn)(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s /path/to/libchdb.so <clickhouse-local args...>\n", argv[0]);
        return 2;
    }
#ifdef __linux__
    /* A test runner that crashes or is SIGKILLed must not leave a server behind. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 3; /* the parent died before prctl took effect */
#endif
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s failed: %s\n", argv[1], dlerror());
        return 2;
    }
    chdb_query_cmdline_fn run = (chdb_query_cmdline_fn)dlsym(lib, "chdb_query_cmdline");
    if (run == NULL) {
        fprintf(stderr, "chdb_query_cmdline not found in %s: %s\n", argv[1], dlerror());
        return 2;
    }
    /* clickhouse-local expects its own program name in argv[0]. */
    argv[1] = "clickhouse";
    run(argc - 1, argv + 1);
    return 0;
}
