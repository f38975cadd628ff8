/* Integration tests of msgsvc (tests/integ_msg.c). */
#define MSG_TESTS(X)
