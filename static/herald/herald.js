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
