/* Integration tests of the gateway's static files (tests/integ_static.c). */
#define STATIC_TESTS(X)                                                                            \
	X(static_types_and_cache)                                                                  \
	X(static_ranges)                                                                           \
	X(static_precompressed)                                                                    \
	X(static_no_escape)                                                                        \
	X(static_big_file_streamed)                                                                \
	X(static_pipelined)

/* The web client in headless chromium (tests/integ_browser.c). */
#define BROWSER_TESTS(X)                                                                           \
	X(browser_h2)                                                                              \
	X(browser_h1)
