// Live log: fetch chunks after the last sequence seen until the job is complete.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var jobId = root.dataset.job;
  var log = document.getElementById("log");
  var statusBox = document.getElementById("job-status");
  var after = 0;
  var delay = 500;

  function setStatus(status) {
    if (root.dataset.status === status) return;
    root.dataset.status = status;
    statusBox.innerHTML = "";
    var span = document.createElement("span");
    span.className = "status status-" + status;
    span.dataset.status = status;
    span.textContent = status;
    statusBox.appendChild(span);
  }

  function poll() {
    fetch("/api/jobs/" + jobId + "/log?after=" + after, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        data.chunks.forEach(function (c) {
          if (c.seq !== after + 1) return;  // never duplicate or skip
          log.appendChild(document.createTextNode(c.text));
          after = c.seq;
        });
        setStatus(data.status);
        if (data.complete) {
          fetch("/api/jobs/" + jobId + "/", {credentials: "same-origin"}).then(function (r) { return r.json(); })
            .then(function (j) { document.getElementById("job-reason").textContent = j.reason || ""; });
          return;
        }
        setTimeout(poll, data.chunks.length ? 50 : delay);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
