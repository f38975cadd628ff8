/* Integration tests of the metrics and the load generator (tests/integ_load.c). */
#define LOAD_TESTS(X)                                                                              \
	X(metrics_histograms)                                                                      \
	X(loadgen_smoke)
