// sellerdesk live chat: one websocket (/ws/chat/) per page that has a [data-chat] element.
//   data-chat="portal": the merchant's conversation page: messages appear, the reply box sends
//                       over the socket (the form still posts when the socket is down or files
//                       are attached), "Support is typing".
//   data-chat="desk":   the agents' conversation page: messages and notes appear, typing, who
//                       else is viewing.
//   data-chat="inbox":  the agents' inbox: "N new or changed — refresh" over the list.
// Every message shown carries its stored id; after a reconnect (with backoff) the page asks
// for what came after the last id it has. A message sent over the socket carries a client id
// and is sent again until acknowledged: the server stores it once. Plain JS, no build step.
(function () {
  "use strict";
  var root = document.querySelector("[data-chat]");
  if (!root || !window.WebSocket || !window.JSON) return;
  var mode = root.getAttribute("data-chat");
  var conversation = parseInt(root.getAttribute("data-chat-conversation") || "0", 10);
  var lastId = parseInt(root.getAttribute("data-chat-after") || "0", 10);
  var thread = document.querySelector("[data-chat-thread]");
  var form = document.querySelector("[data-chat-form]");
  var statusLine = document.querySelector("[data-chat-status]");
  var typingLine = document.querySelector("[data-chat-typing]");
  var viewersLine = document.querySelector("[data-chat-viewers]");
  var banner = document.querySelector("[data-chat-banner]");
  var seenInput = document.querySelector("input[name=seen_message_id]");
  var socket = null;
  var delay = 500;
  var pending = {};       // client id → the "send" frame, until acknowledged
  var viewers = {};       // socket token → name (desk)
  var changed = {};       // conversation ids changed since the inbox was loaded
  var typingTimer = null;
  var lastTyping = 0;
  // The merchant's page says these in its own language (portal_tags.chat_strings, rendered
  // into <script id="chat-strings" type="application/json">); the desk's stay English.
  var strings = {};
  var stringsNode = document.getElementById("chat-strings");
  if (stringsNode) { try { strings = JSON.parse(stringsNode.textContent); } catch (e) { strings = {}; } }
  function t(key, english, fill) {
    var text = strings[key] || english;
    Object.keys(fill || {}).forEach(function (name) { text = text.split("{" + name + "}").join(fill[name]); });
    return text;
  }

  function say(text) { if (statusLine) statusLine.textContent = text; }
  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function clientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/chat/");
    socket.onopen = function () {
      delay = 500;
      say("");
      root.setAttribute("data-chat-live", "1");
      if (conversation) send({ type: "subscribe", conversation: conversation, after: lastId });
      Object.keys(pending).forEach(function (key) { send(pending[key]); });
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var handler = handlers[frame.type];
      if (handler) handler(frame);
    };
    socket.onclose = function (event) {
      root.removeAttribute("data-chat-live");
      if (event.code === 4401 || event.code === 4403) { say(t("offline", "Live updates are off: sign in again.")); return; }
      say(t("reconnecting", "Reconnecting…"));
      viewers = {};
      renderViewers();
      window.setTimeout(connect, delay + Math.random() * delay / 2);
      delay = Math.min(delay * 2, 30000);
    };
  }

  function authorLabel(m) {
    if (mode === "portal") {
      if (m.author_type === "merchant") return m.author_name || t("you", "You");
      if (m.author_type === "agent") return t("support_suffix", "{name} · Support", { name: m.author_name || t("support", "Support") });
      return t("automatic", "Automatic message");
    }
    return (m.public ? "" : "Internal note · ") + (m.author_name || m.author_type);
  }

  function appendMessage(m) {
    if (!thread || m.conversation !== conversation) return;
    var id = (mode === "portal" ? "m-" : "m") + m.id;
    if (document.getElementById(id)) return;
    var item = document.createElement("li");
    item.id = id;
    item.className = "message " + (!m.public ? "note" : m.author_type) + " live";
    var header = document.createElement("header");
    var who = document.createElement("strong");
    who.textContent = authorLabel(m);
    var when = document.createElement("time");
    when.setAttribute("datetime", m.created_at);
    when.textContent = new Date(m.created_at).toLocaleString(document.documentElement.lang || undefined);
    header.appendChild(who);
    header.appendChild(document.createTextNode(" "));
    header.appendChild(when);
    var body = document.createElement("div");
    body.className = "body";
    body.textContent = m.body;  // text, never markup
    item.appendChild(header);
    item.appendChild(body);
    thread.appendChild(item);
    if (typingLine) typingLine.hidden = true;
  }

  var handlers = {
    message: function (m) {
      if (m.client_id && pending[m.client_id]) delete pending[m.client_id];
      if (mode === "inbox") { if (m.author_type === "merchant") markChanged(m.conversation); return; }
      if (m.conversation !== conversation) return;
      appendMessage(m);
      if (m.id > lastId) {
        lastId = m.id;
        // The agent has it on screen: the reply's "new messages arrived" check counts it seen.
        if (seenInput) seenInput.value = String(lastId);
      }
    },
    ack: function (a) { delete pending[a.client_id]; },
    replayed: function (r) {
      if (!r.complete) say(t("incomplete", "Some messages are not shown: reload the page to read them all."));
    },
    typing: function (tp) {
      if (!typingLine || tp.conversation !== conversation) return;
      typingLine.textContent = t("typing", "{name} is typing…", { name: mode === "portal" && tp.staff ? t("support", "Support") : tp.name });
      typingLine.hidden = false;
      window.clearTimeout(typingTimer);
      typingTimer = window.setTimeout(function () { typingLine.hidden = true; }, 5000);
    },
    viewing: function (v) {
      if (v.conversation !== conversation) return;
      if (v.state === "leave") delete viewers[v.viewer]; else viewers[v.viewer] = v.name;
      renderViewers();
    },
    conversation: function (c) {
      if (mode === "inbox") { markChanged(c.conversation); return; }
      if (c.conversation === conversation && c.change === "status") {
        var label = (strings.statuses || {})[c.status] || c.status.replace("_", " ");
        say(t("status", "The status is now “{status}”. Reload to see every change.", { status: label }));
      }
    },
    error: function (e) {
      if (e.client_id && pending[e.client_id]) {
        var frame = pending[e.client_id];
        delete pending[e.client_id];
        if (form) { var box = form.querySelector("textarea"); if (box && !box.value) box.value = frame.body; }
      }
      // A code a person can meet reads in the page's language (chat_strings); a service's
      // refusal of a message ("invalid") is already in it.
      var reason = (e.code !== "invalid" && (strings.errors || {})[e.code]) || e.detail;
      say(t("not_sent", "Not sent: {reason}", { reason: reason }));
    }
  };

  function renderViewers() {
    if (!viewersLine) return;
    var names = [];
    Object.keys(viewers).forEach(function (k) { if (names.indexOf(viewers[k]) < 0) names.push(viewers[k]); });
    viewersLine.textContent = names.length ? "Viewing now: " + names.sort().join(", ") : "";
    viewersLine.hidden = !names.length;
  }

  function markChanged(id) {
    if (!banner) return;
    changed[id] = true;
    var count = Object.keys(changed).length;
    banner.querySelector("[data-chat-count]").textContent =
      count + (count === 1 ? " conversation is new or changed" : " conversations are new or changed");
    banner.hidden = false;
  }

  if (banner) {
    banner.querySelector("button").addEventListener("click", function () {
      changed = {};
      banner.hidden = true;
      if (window.htmx) {
        window.htmx.ajax("GET", window.location.href, { target: "#inbox-rows", swap: "innerHTML" });
      } else {
        window.location.reload();
      }
    });
  }

  if (form) {
    var box = form.querySelector("textarea");
    form.addEventListener("submit", function (event) {
      var files = form.querySelector("input[type=file]");
      var text = box ? box.value.trim() : "";
      if (!text || (files && files.files && files.files.length)) return;  // the form posts
      var internal = !!form.querySelector("input[name=mode][value=note]:checked");
      var frame = { type: "send", conversation: conversation, body: text, client_id: clientId(), internal: internal };
      if (!send(frame)) return;  // no socket: the form posts
      event.preventDefault();
      pending[frame.client_id] = frame;
      box.value = "";
      say("");
    });
    if (box) {
      box.addEventListener("input", function () {
        var now = Date.now();
        if (now - lastTyping < 3000) return;
        lastTyping = now;
        var internal = !!form.querySelector("input[name=mode][value=note]:checked");
        send({ type: "typing", conversation: conversation, internal: internal });
      });
    }
  } else if (mode === "desk") {
    var reply = document.getElementById("body");
    if (reply) {
      reply.addEventListener("input", function () {
        var now = Date.now();
        if (now - lastTyping < 3000) return;
        lastTyping = now;
        var internal = !!document.querySelector("input[name=mode][value=note]:checked");
        send({ type: "typing", conversation: conversation, internal: internal });
      });
    }
  }

  connect();
})();
