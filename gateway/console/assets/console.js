// medsettle operator console: actions go to the existing operator API (POST /ops/<action>,
// JSON fields, Idempotency-Key). Every action asks for confirmation first.
(function () {
  "use strict";
  function opId() {
    var r = Math.floor(Math.random() * 0xffffffff).toString(16);
    return "console-" + Date.now() + "-" + r;
  }
  function show(text) {
    var out = document.getElementById("result");
    if (out) { out.textContent = text; }
  }
  function act(button) {
    var action = button.getAttribute("data-action");
    var fields = JSON.parse(button.getAttribute("data-fields") || "{}");
    if (button.hasAttribute("data-ask-reason")) {
      var reason = window.prompt(button.getAttribute("data-ask-reason"), "");
      if (!reason) { return; }
      fields.reason = reason;
    }
    if (!window.confirm(button.getAttribute("data-confirm") || "确认? / Confirm?")) { return; }
    button.disabled = true;
    fetch("/ops/" + action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": opId() },
      body: JSON.stringify(fields)
    }).then(function (r) {
      return r.text().then(function (t) { return [r.status, t]; });
    }).then(function (st) {
      show(st[0] + " " + st[1]);
      if (st[0] === 200) { window.setTimeout(function () { window.location.reload(); }, 800); }
      else { button.disabled = false; }
    }).catch(function (e) { show(String(e)); button.disabled = false; });
  }
  // Action forms (POST /console/act/<action>): confirm, then submit once; the operation id is
  // in the form, so a second submit would be answered with the first result anyway.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (!f || !f.classList || !f.classList.contains("act-form")) { return; }
    if (!window.confirm(f.getAttribute("data-confirm") || "确认? / Confirm?")) { ev.preventDefault(); return; }
    var b = f.querySelector("button");
    if (b) { window.setTimeout(function () { b.disabled = true; }, 0); }
  });
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t && t.classList && t.classList.contains("act")) { ev.preventDefault(); act(t); }
  });
})();
