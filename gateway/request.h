/* Requests to services: the reply side (its loop items: item.h). */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include "gw.h"
#include "item.h"
#include "parse.h"
#include "rebuttal.pb-c.h"

/* 1 while s has a request to service p waiting or in flight. */
int request_pending(const session *s, enum part p);

#endif
