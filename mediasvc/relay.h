/* Packets mediasvc passes on without keeping state: WebRTC signalling
 * (`video`, `letmesee`) to every connection of the target user, and the
 * extension hooks (`contextoption`, `windowinput`) to rb.evt.media.<type>.
 * Request thread. */
#ifndef MEDIA_RELAY_H
#define MEDIA_RELAY_H

#include "buf.h"
#include "svc.h"

void h_video(svc_req *r);
void h_letmesee(svc_req *r);
void h_contextoption(svc_req *r);
void h_windowinput(svc_req *r);
/* Health thread. */
void relay_metrics(buf *out);

#endif
