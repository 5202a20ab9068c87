// Benchmark fixture: the smallest program, for start-to-exit wall time.
int main(void) { return 0; }
