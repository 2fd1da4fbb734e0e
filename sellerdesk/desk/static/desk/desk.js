// sellerdesk desk: keyboard shortcuts for the common moves. Everything also works without it.
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("tr[data-row]")); };
  var current = -1;
  function focusRow(i) {
    var list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (r) { r.classList.remove("selected"); });
    var row = list[current];
    row.classList.add("selected");
    var link = row.querySelector("a");
    if (link) link.focus();
  }
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target && e.target.id === "body") {
      e.preventDefault();
      var form = document.getElementById("reply-form");
      if (form) form.requestSubmit();
      return;
    }
    if (typing(e) || e.altKey || e.ctrlKey || e.metaKey) return;
    var dialog = document.getElementById("shortcuts");
    if (pendingG) {
      pendingG = false;
      if (e.key === "i") { window.location.href = "/desk/"; }
      return;
    }
    switch (e.key) {
      case "j": focusRow(current + 1); break;
      case "k": focusRow(current - 1); break;
      case "o": var list = rows(); if (list[current]) window.location.href = list[current].dataset.href; break;
      case "x": var r = rows()[current]; if (r) { var box = r.querySelector("input[type=checkbox]"); box.checked = !box.checked; } break;
      case "g": pendingG = true; break;
      case "r": case "n":
        var mode = document.querySelector("input[name=mode][value=" + (e.key === "r" ? "reply" : "note") + "]");
        var body = document.getElementById("body");
        if (mode && body) { e.preventDefault(); mode.checked = true; body.focus(); }
        break;
      case "a": var f = document.getElementById("assign-me-form"); if (f) f.requestSubmit(); break;
      case "?": if (dialog && dialog.showModal) dialog.showModal(); break;
      default: return;
    }
  });
})();
