// Relative times: every <time datetime data-ago> (builds/templatetags/
// live.py, `ago`) is kept current while the page is open, and its title
// gives the exact time in the reader's own time zone (the server only
// knows UTC). One timer for the page, no network: it runs again when the
// youngest time on the page next changes its wording, so once everything
// is hours old it wakes hourly. Herald.times() redraws after a part of the
// page was replaced.
window.Herald = window.Herald || {};
(function () {
  "use strict";
  if (!window.Intl || !Intl.RelativeTimeFormat) return;
  var words = new Intl.RelativeTimeFormat("en", {numeric: "auto"});
  var exact = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "long"});
  // Django's naturaltime's steps, so the text does not jump when the
  // script takes over from the server's.
  var UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  var timer = null;

  function wording(seconds) {
    var a = Math.abs(seconds);
    if (a < 1) return "now";
    for (var i = 0; i < UNITS.length; i++) {
      if (a >= UNITS[i][1] || UNITS[i][0] === "second") {
        return words.format(Math.trunc(seconds / UNITS[i][1]), UNITS[i][0]);
      }
    }
  }

  function times() {
    clearTimeout(timer);
    var now = Date.now(), youngest = Infinity;
    document.querySelectorAll("time[data-ago][datetime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var text = wording((at - now) / 1000);
      if (el.textContent !== text) el.textContent = text;
      if (!el.dataset.local) {
        el.title = exact.format(new Date(at));
        el.dataset.local = "1";
      }
      youngest = Math.min(youngest, Math.abs(now - at) / 1000);
    });
    if (youngest === Infinity) return;
    // Seconds change every second, minutes every minute, and so on.
    var every = youngest < 60 ? 1 : youngest < 3600 ? 15 : youngest < 86400 ? 300 : 3600;
    timer = setTimeout(times, every * 1000);
  }
  window.Herald.times = times;
  times();
  document.addEventListener("visibilitychange", function () { if (!document.hidden) times(); });
})();

// A form marked data-confirm="Question?" (cancel, decline, disable, delete)
// asks first, in a <dialog>, without a page load; "No" is the default.
// Without JavaScript the form simply submits.
(function () {
  "use strict";
  var dialog = null;

  function ask(question, yes, then) {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "herald-dialog";
      dialog.id = "confirm-dialog";
      dialog.setAttribute("aria-labelledby", "confirm-text");
      dialog.innerHTML = '<p id="confirm-text"></p><form method="dialog" class="dialog-actions">' +
        '<button value="no" id="confirm-no" autofocus>No</button>' +
        '<button value="yes" id="confirm-yes" class="danger"></button></form>';
      document.body.appendChild(dialog);
    }
    dialog.querySelector("#confirm-text").textContent = question;
    dialog.querySelector("#confirm-yes").textContent = yes;
    dialog.returnValue = "";
    dialog.onclose = function () { then(dialog.returnValue === "yes"); };
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
  }

  document.addEventListener("submit", function (e) {
    var form = e.target, question = form.dataset && form.dataset.confirm;
    if (!question) return;
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    e.preventDefault();
    var submitter = e.submitter;
    var label = submitter ? submitter.textContent.trim() : "";
    ask(question, label ? "Yes, " + label.toLowerCase() : "Yes", function (yes) {
      if (!yes) { if (submitter) submitter.focus(); return; }
      form.dataset.confirmed = "1";
      form.requestSubmit(submitter || undefined);
    });
  });
})();

// Pages marked data-refresh="N" re-read their live part every N seconds
// while visible (the dashboard), without reloading or losing scroll.
(function () {
  "use strict";
  var live = document.querySelectorAll("[data-live][data-refresh]");
  if (!live.length) return;
  var every = Math.max(2, parseInt(live[0].dataset.refresh, 10) || 5) * 1000;

  function refresh() {
    if (document.hidden) return setTimeout(refresh, every);
    fetch(location.href, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        live.forEach(function (el) {
          var fresh = doc.querySelector('[data-live="' + el.dataset.live + '"]');
          if (fresh) el.innerHTML = fresh.innerHTML;
        });
        if (window.Herald.times) window.Herald.times();
      })
      .catch(function () {})
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();

// A part marked data-fill-from="URL" is replaced by the element of the same
// id on that page, once loaded (the run-now form: its fields come from the
// forge, which the repository page itself never waits for).
(function () {
  "use strict";
  document.querySelectorAll("[data-fill-from][id]").forEach(function (el) {
    fetch(el.dataset.fillFrom, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById(el.id);
        if (fresh) el.replaceWith(fresh);
      })
      .catch(function () {});
  });
})();
