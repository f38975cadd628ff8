// Voice rooms: microphone and camera, one RTCPeerConnection per other user
// in the room (a mesh), signalling relayed by the server as `video` packets
// (PROTOCOL.md §4): payload {description} (an offer or answer) or
// {candidate} (RTCIceCandidate.toJSON()). Of two users, the one with the
// smaller id makes the offer, so two offers never cross.
'use strict';

// No STUN/TURN server by default: peers on one network (or one machine)
// reach each other by their host candidates. Add servers here to cross NAT.
const ICE_SERVERS = [];
const TALK_LEVEL = 0.02;   // RMS of the microphone above which one is talking
const TALK_HOLD_MS = 600;  // quiet this long before `talking` goes false

const Voice = (() => {
  let app = null;            // {send, state, renderRooms}
  let room = null;           // the voice room asked for or in
  let confirmed = false;     // the server's lists show us in it
  let local = null;          // our MediaStream
  const peers = new Map();   // user id -> {pc, queued, chain}
  let talk = null;           // {ctx, timer, on, last}

  const me = () => app.state.me;
  const $ = (id) => document.getElementById(id);

  function init(a) {
    app = a;
    $('leave').onclick = leave;
    $('mute').onclick = () => toggle('audio', $('mute'), 'Mute', 'Unmute');
    $('camera').onclick = () => toggle('video', $('camera'), 'Camera off', 'Camera on');
  }

  function toggle(kind, button, onLabel, offLabel) {
    if (!local) return;
    const tracks = kind === 'audio' ? local.getAudioTracks() : local.getVideoTracks();
    for (const t of tracks) t.enabled = !t.enabled;
    const enabled = tracks.some((t) => t.enabled);
    button.textContent = enabled ? onLabel : offLabel;
    chatdev();
  }

  function chatdev() {
    app.send({ type: 'chatdev',
      video: !!local && local.getVideoTracks().some((t) => t.enabled),
      audio: !!local && local.getAudioTracks().some((t) => t.enabled) });
  }

  async function getMedia() {
    for (const want of [{ audio: true, video: true }, { audio: true }]) {
      try { return await navigator.mediaDevices.getUserMedia(want); } catch { /* try less */ }
    }
    return null; // listen only
  }

  async function join(roomId) {
    if (room === roomId) return;
    if (room) leave();
    room = roomId;
    confirmed = false;
    $('voice').hidden = false;
    local = await getMedia();
    if (room !== roomId) { stopLocal(); return; } // left while asking for devices
    tile(me(), local, true);
    startTalkDetector();
    app.send({ type: 'joinroom', roomid: roomId });
    chatdev();
    app.renderRooms();
  }

  function leave() {
    if (room) app.send({ type: 'leaveroom', roomid: room });
    teardown();
  }

  function stopLocal() {
    if (local) for (const t of local.getTracks()) t.stop();
    local = null;
  }

  function teardown() {
    for (const id of [...peers.keys()]) closePeer(id);
    stopLocal();
    if (talk) {
      clearInterval(talk.timer);
      talk.ctx.close();
      if (talk.on) app.send({ type: 'talking', talking: false });
      talk = null;
    }
    room = null;
    confirmed = false;
    $('videos').replaceChildren();
    $('voice').hidden = true;
    if (app) app.renderRooms();
  }

  // After every updateRooms: a connection for each other member, none for
  // those who left.
  function sync() {
    if (!room) return;
    const r = app.state.rooms.find((x) => x.id === room);
    const members = r && Array.isArray(r.userlist) ? r.userlist.map((u) => u.id) : [];
    if (!members.includes(me())) {
      if (confirmed) teardown(); // moved out (another tab joined elsewhere, or removed)
      return;
    }
    confirmed = true;
    for (const id of members) if (id !== me() && !peers.has(id)) peer(id);
    for (const id of [...peers.keys()]) if (!members.includes(id)) closePeer(id);
  }

  function peer(id) {
    const pc = new RTCPeerConnection({ iceServers: ICE_SERVERS });
    const p = { pc, queued: [], chain: Promise.resolve() };
    peers.set(id, p);
    if (local) for (const t of local.getTracks()) pc.addTrack(t, local);
    pc.onicecandidate = (e) => {
      if (e.candidate) app.send({ type: 'video', touserid: id, payload: { candidate: e.candidate.toJSON() } });
    };
    pc.ontrack = (e) => tile(id, e.streams[0] || new MediaStream([e.track]), false);
    pc.onconnectionstatechange = () => {
      const f = figure(id);
      if (f) f.dataset.state = pc.connectionState;
    };
    if (me() < id) {
      // The offerer asks to receive what it does not send itself.
      for (const kind of ['audio', 'video']) {
        if (!local || !local.getTracks().some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
      }
      p.chain = p.chain.then(async () => {
        await pc.setLocalDescription(await pc.createOffer());
        app.send({ type: 'video', touserid: id, payload: { description: pc.localDescription.toJSON() } });
      }).catch((e) => console.warn('offer failed', e));
    }
    return p;
  }

  function closePeer(id) {
    const p = peers.get(id);
    if (p) p.pc.close();
    peers.delete(id);
    const f = figure(id);
    if (f) f.remove();
  }

  // A relayed `video` packet. Handled one at a time per peer, in order.
  function signal(from, payload) {
    if (!room || typeof from !== 'string' || from === me() || !payload || typeof payload !== 'object') return;
    const p = peers.get(from) || peer(from);
    p.chain = p.chain.then(() => handle(from, p, payload)).catch((e) => console.warn('signal failed', e));
  }

  async function handle(from, p, payload) {
    const { pc } = p;
    const d = payload.description;
    if (d && (d.type === 'offer' || d.type === 'answer') && typeof d.sdp === 'string') {
      await pc.setRemoteDescription({ type: d.type, sdp: d.sdp });
      if (d.type === 'offer') {
        await pc.setLocalDescription(await pc.createAnswer());
        app.send({ type: 'video', touserid: from, payload: { description: pc.localDescription.toJSON() } });
      }
      for (const c of p.queued.splice(0)) await pc.addIceCandidate(c);
    } else if (payload.candidate && typeof payload.candidate === 'object') {
      const c = payload.candidate;
      if (typeof c.candidate !== 'string') return;
      if (pc.remoteDescription) await pc.addIceCandidate(c);
      else p.queued.push(c);
    }
  }

  const figure = (id) => $('videos').querySelector(`figure[data-user="${CSS.escape(id)}"]`);

  function tile(id, stream, mine) {
    let f = figure(id);
    if (!f) {
      f = document.createElement('figure');
      f.dataset.user = id;
      const v = document.createElement('video');
      v.autoplay = true;
      v.playsInline = true;
      v.muted = mine; // never play our own microphone back
      const cap = document.createElement('figcaption');
      cap.textContent = mine ? 'you' : ((app.state.users.get(id) || {}).name || 'someone');
      f.append(v, cap);
      $('videos').append(f);
    }
    const v = f.querySelector('video');
    if (stream && v.srcObject !== stream) v.srcObject = stream;
    showMuted(id);
  }

  function showTalking(id, on) {
    const f = figure(id);
    if (f) f.classList.toggle('talking', on);
  }

  // A server-muted user (`servermute`) is not heard.
  function showMuted(id) {
    const f = figure(id);
    if (f && id !== me()) f.querySelector('video').muted = !!(app.state.users.get(id) || {}).suppress;
  }

  // Sends `talking` when the microphone's level crosses TALK_LEVEL (and
  // false after TALK_HOLD_MS of quiet).
  function startTalkDetector() {
    if (!local || !local.getAudioTracks().length || !window.AudioContext) return;
    const ctx = new AudioContext();
    ctx.resume().catch(() => {});
    const an = ctx.createAnalyser();
    an.fftSize = 4096; // ~85 ms at 48 kHz: most of each 100 ms poll, so short sounds count
    ctx.createMediaStreamSource(local).connect(an);
    const buf = new Float32Array(an.fftSize);
    talk = { ctx, on: false, last: 0, timer: 0 };
    talk.timer = setInterval(() => {
      const enabled = local && local.getAudioTracks().some((t) => t.enabled);
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      const now = Date.now();
      if (enabled && Math.sqrt(sum / buf.length) > TALK_LEVEL) talk.last = now;
      const on = now - talk.last < TALK_HOLD_MS;
      if (on !== talk.on) {
        talk.on = on;
        app.send({ type: 'talking', talking: on });
      }
    }, 100);
  }

  return {
    init, join, leave, teardown, sync, signal, showTalking, showMuted,
    roomId: () => room,
    peers,
    states: () => [...peers.values()].map((p) => p.pc.connectionState),
  };
})();
