// Rebuttal web client: the socket, the packets of PROTOCOL.md v1, and the
// page. Voice rooms (WebRTC) are in voice.js. No framework, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const IMAGE_MAX = 8 * 1024 * 1024; // the server's default upload limit

// Everything the server told us, replaced as new lists arrive.
const S = {
  ws: null, me: null, perms: [], users: new Map(), rooms: [],
  room: null,               // the text room shown
  segments: new Map(),      // roomid -> Map(segment -> messages)
  creds: null,              // {email, password} while logged in (to reconnect)
  onConnect: null,          // what to send once the socket says `connect`
  loggedIn: false,
  keepBottom: true,
};

function send(packet) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(packet));
}
const can = (perm) => S.perms.includes(perm);
const userName = (id) => (S.users.get(id) || {}).name || 'someone';

// ---------------------------------------------------------------- socket

function connect(onConnect) {
  if (S.ws) S.ws.close();
  S.onConnect = onConnect;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ipc`);
  S.ws = ws;
  ws.onmessage = (e) => {
    let p;
    try { p = JSON.parse(e.data); } catch { return; }
    if (p && typeof p.type === 'string' && Object.hasOwn(on, p.type)) on[p.type](p);
  };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.ws = null;
    Voice.teardown();
    if (S.loggedIn && S.creds) {
      // Lost after a login: log in again shortly, as the same user (once:
      // if that login fails, the login form comes back).
      S.loggedIn = false;
      status('Connection lost, reconnecting…');
      setTimeout(() => { if (!S.ws) connect(login); }, 2000);
    } else if (!$('app').hidden) {
      $('app').hidden = true;
      $('auth').hidden = false;
      authMessage('Disconnected. Log in again.');
    }
  };
}

function login() {
  send({ type: 'login', email: S.creds.email, password: S.creds.password, protocol: 'v1' });
}

// One function per server packet type (PROTOCOL.md §3, §4).
const on = {
  connect(p) {
    if (typeof p.message === 'string' && p.message) {
      $('server-name').textContent = p.message;
      $('title').textContent = p.message;
      document.title = p.message;
    }
    if (S.onConnect) S.onConnect();
  },
  login(p) {
    if (!p.success) return;
    S.me = p.userid;
    S.loggedIn = true;
    $('auth').hidden = true;
    $('app').hidden = false;
    status('');
  },
  error(p) {
    if (S.loggedIn) status(p.message);
    else authMessage(p.message);
  },
  refreshNow() {
    // A sign-up went through: back to the login form.
    history.replaceState(null, '', '/');
    $('signup-form').hidden = true;
    $('login-form').hidden = false;
    authMessage('Account created. Log in.');
  },
  updatePerms(p) { S.perms = Array.isArray(p.perms) ? p.perms : []; renderTools(); },
  updateGroups() {},
  welcome() {},
  updateUsers(p) {
    if (!Array.isArray(p.userList)) return;
    S.users = new Map(p.userList.map((u) => [u.id, u]));
    const me = S.users.get(S.me);
    $('me').textContent = me ? me.name : '';
    renderUsers();
    renderRooms();
    renderMessages();
  },
  updateRooms(p) {
    if (!Array.isArray(p.roomList)) return;
    S.rooms = p.roomList;
    if (!S.rooms.some((r) => r.id === S.room)) {
      const first = S.rooms.find((r) => r.type === 'text');
      selectRoom(first ? first.id : null);
    }
    renderRooms();
    Voice.sync();
  },
  updateText(p) {
    if (typeof p.roomid !== 'string' || !Number.isInteger(p.segment) || !Array.isArray(p.messages)) return;
    if (!S.segments.has(p.roomid)) S.segments.set(p.roomid, new Map());
    S.segments.get(p.roomid).set(p.segment, p.messages);
    if (p.roomid === S.room) renderMessages();
  },
  sendMessage() {}, // the room's newest segment follows in updateText
  joinRoom() {},
  leaveRoom() {},                          // updateRooms follows both
  disconnect() {},
  video(p) { Voice.signal(p.fromuserid, p.payload); },
  talking(p) {
    const u = S.users.get(p.userid);
    if (u) u.talking = !!p.talking;
    renderUsers();
    renderRooms();
    Voice.showTalking(p.userid, !!p.talking);
  },
  servermute(p) {
    const u = S.users.get(p.userid);
    if (u) u.suppress = !!p.message;
    renderUsers();
    Voice.showMuted(p.userid);
  },
  invite(p) {
    const el = $('invite-url');
    const link = `${location.origin}/invite/${encodeURIComponent(p.invite_code)}`;
    el.textContent = link;
    el.dataset.code = p.invite_code;
  },
  adminMessage(p) { status(String(p.message)); },
  chatdev() {}, golive() {}, letmesee() {}, presentcustomwindow() {},
};

// ---------------------------------------------------------------- page

function status(text) { $('status').textContent = text || ''; }
function authMessage(text) { $('auth-msg').textContent = text || ''; }

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function renderTools() {
  $('new-room').hidden = !can('createRoom');
  $('invite').hidden = !can('inviteUserAny');
}

function renderUsers() {
  const list = [...S.users.values()].filter((u) => !u.hidden)
    .sort((a, b) => (b.status - a.status) || a.name.localeCompare(b.name));
  $('users').replaceChildren(...list.map((u) => el('li', {
    className: `${u.status ? 'online' : ''} ${u.talking ? 'talking' : ''}`,
    textContent: u.name + (u.suppress ? ' (muted)' : ''),
    title: u.status ? 'online' : 'offline',
  })));
}

function renderRooms() {
  $('rooms').replaceChildren(...S.rooms.map((r) => {
    const li = el('li', { className: r.id === S.room || r.id === Voice.roomId() ? 'current' : '' },
      el('span', { className: 'kind', textContent: r.type === 'voice' ? '♫' : '#' }),
      el('span', { className: 'name', textContent: r.name }));
    li.dataset.id = r.id;
    li.dataset.type = r.type;
    if (can('renameRoom')) {
      li.append(el('button', { className: 'small rename', textContent: '✎', title: 'Rename',
        onclick: (e) => {
          e.stopPropagation();
          const name = prompt('New name for the room', r.name);
          if (name && name.trim()) send({ type: 'updateroom', roomid: r.id, roomName: name.trim() });
        } }));
    }
    if (r.type === 'voice' && Array.isArray(r.userlist) && r.userlist.length) {
      li.append(el('ul', { className: 'members' }, ...r.userlist.map((m) => {
        const u = S.users.get(m.id) || m;
        return el('li', { className: u.talking ? 'talking' : '', textContent: u.name });
      })));
    }
    li.onclick = () => (r.type === 'voice' ? Voice.join(r.id) : selectRoom(r.id));
    return li;
  }));
}

function selectRoom(id) {
  S.room = id;
  S.keepBottom = true;
  const r = S.rooms.find((x) => x.id === id);
  $('room-title').textContent = r ? `# ${r.name}` : 'Pick a room';
  $('send').hidden = !r;
  if (id && !S.segments.has(id)) send({ type: 'getmessages', roomid: id });
  renderRooms();
  renderMessages();
}

// Only relative upload paths are shown as images.
const imageUrl = (img) => (typeof img === 'string' && /^uploads\/[\w.-]+\/[\w.-]+$/.test(img) ? `/${img}` : null);

function renderMessage(m) {
  const removed = m.userid === null && m.text === '*Message Removed*';
  const li = el('li', {},
    el('span', { className: 'who', textContent: m.username || userName(m.userid) }),
    el('span', { className: removed ? 'text removed' : 'text', textContent: removed ? 'message removed' : m.text }));
  li.dataset.idx = m.idx;
  if (typeof m.url === 'string' && /^https?:\/\//.test(m.url)) {
    li.append(' ', el('a', { href: m.url, textContent: m.url, target: '_blank', rel: 'noopener noreferrer' }));
  }
  const src = imageUrl(m.img);
  if (src) {
    // Loaded after the list is drawn: keep the view at the bottom if it was.
    li.append(el('img', { src, alt: 'image', onload: () => { if (S.keepBottom) scrollBottom(); } }));
  }
  if (!removed && m.userid && (m.userid === S.me || can('changeMessage'))) {
    li.append(el('span', { className: 'tools' },
      el('button', { className: 'small', textContent: 'edit', onclick: () => {
        const text = prompt('Edit message', m.text);
        if (text != null) send({ type: 'updatemessage', roomid: m.roomid, messageid: m.idx, message: { text } });
      } }),
      ' ',
      el('button', { className: 'small', textContent: 'delete', onclick: () => {
        if (confirm('Delete this message?')) send({ type: 'removemessage', roomid: m.roomid, messageid: m.idx });
      } })));
  }
  return li;
}

function renderMessages() {
  const segs = S.segments.get(S.room);
  const log = $('log');
  if (!segs) { $('messages').replaceChildren(); $('older').hidden = true; return; }
  const keys = [...segs.keys()].sort((a, b) => a - b);
  const oldHeight = log.scrollHeight, oldTop = log.scrollTop;
  $('messages').replaceChildren(...keys.flatMap((k) => segs.get(k).map(renderMessage)));
  // History is paged by segment: "older" asks for the one before the first.
  $('older').hidden = !keys.length || keys[0] <= 0;
  if (S.keepBottom) scrollBottom();
  else log.scrollTop = oldTop + (log.scrollHeight - oldHeight); // older ones came in above
}

function scrollBottom() { $('log').scrollTop = $('log').scrollHeight; }

function loadOlder() {
  const segs = S.segments.get(S.room);
  if (!segs || !segs.size) return;
  const first = Math.min(...segs.keys());
  if (first > 0) {
    S.keepBottom = false;
    send({ type: 'getmessages', roomid: S.room, segment: first - 1 });
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function sendMessage(e) {
  e.preventDefault();
  const text = $('text').value, file = $('file').files[0];
  if (!S.room || (!text.trim() && !file)) return;
  const packet = { type: 'message', roomid: S.room, message: { text } };
  if (file) {
    if (file.size > IMAGE_MAX) { status('Images up to 8 MiB'); return; }
    packet.filename = file.name.replace(/[^\w.-]/g, '_').slice(-100) || 'image';
    packet.rawfile = await readBase64(file);
  }
  send(packet);
  $('text').value = '';
  $('file').value = '';
  S.keepBottom = true;
}

function createRoom() {
  const name = prompt('Name of the new room');
  if (!name || !name.trim()) return;
  const voice = confirm('A voice room? (Cancel for a text room)');
  send({ type: 'createroom', roomName: name.trim(), roomType: voice ? 'voice' : 'text' });
}

// ---------------------------------------------------------------- start

function start() {
  const invite = new URLSearchParams(location.search).get('invite');
  if (invite) {
    $('login-form').hidden = true;
    $('signup-form').hidden = false;
  }
  $('have-account').onclick = (e) => {
    e.preventDefault();
    $('signup-form').hidden = true;
    $('login-form').hidden = false;
  };
  $('login-form').onsubmit = (e) => {
    e.preventDefault();
    const f = e.target;
    S.creds = { email: f.email.value, password: f.password.value };
    authMessage('');
    connect(login);
  };
  $('signup-form').onsubmit = (e) => {
    e.preventDefault();
    const f = e.target;
    $('login-form').email.value = f.email.value;
    authMessage('');
    connect(() => send({ type: 'signup', userName: f.userName.value, email: f.email.value,
      password: f.password.value, signUp: invite }));
  };
  $('send').onsubmit = sendMessage;
  $('older').onclick = loadOlder;
  // Follow new messages only while the reader is at the bottom.
  $('log').onscroll = () => {
    const log = $('log');
    S.keepBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
  };
  $('new-room').onclick = createRoom;
  $('invite').onclick = () => send({ type: 'invite', groupName: 'user' });
  Voice.init({ send, state: S, renderRooms });
}

start();
// For tests and the curious: the client's state.
window.rebuttal = { state: S, voice: Voice };
