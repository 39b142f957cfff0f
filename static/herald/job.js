// The job page: a header kept current, and the log viewer.
//
// The log is virtualised so a million lines open as fast as ten: the
// browser holds at most KEEP_PAGES pages of PAGE lines (fetched by line
// number from /api/jobs/<id>/log/lines, already HTML-escaped with ANSI
// colours as spans), and draws only the rows in view into a fixed-height
// scroller. Lines are addressed by number, so a refetch replaces rather
// than appends: a reconnect never duplicates or drops a line, and the last,
// still growing line (a progress bar) is re-read until it ends.
(function () {
  "use strict";
  var root = document.getElementById("job");
  var box = document.getElementById("log");
  if (!root || !box) return;
  var jobId = root.dataset.job;
  var spacer = document.getElementById("log-spacer");
  var rowsEl = document.getElementById("log-rows");
  var emptyEl = document.getElementById("log-empty");
  var API = "/api/jobs/" + jobId + "/log/";

  var PAGE = 500;          // lines per request (the server allows up to 1000)
  var KEEP_PAGES = 40;     // pages kept in memory: 20,000 lines at most
  var OVERSCAN = 40;       // rows drawn above and below the view
  var MAX_PX = 8000000;    // browsers cap element heights; beyond, the scrollbar is scaled
  var POLL_MS = 400;       // live output shows within POLL_MS + the writer's flush (0.25 s)
  var LH = 20;             // px per row, also in herald.css (.log .ln, .log .sec)

  var S = {
    total: 0, partial: false, complete: false, status: root.dataset.status,
    sections: [], segments: [], rowCount: 0, folded: {},
    pages: new Map(), pending: {}, tick: 0,
    follow: false, expectTop: -1, lastTop: 0, selection: null,
    query: "", matches: [], matchSet: null, matchIndex: -1, truncated: false,
    duration: null, durationAt: 0, renderQueued: false, failures: 0, drawn: "",
    eta: null, announced: null
  };

  // --- helpers -------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function get(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { var e = new Error("HTTP " + r.status); e.status = r.status; throw e; }
        return r.json();
      });
  }

  function clock(t) {
    if (t == null) return "";
    t = Math.max(0, Math.floor(t));
    var h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  // The job page's one duration formatter, saying it as the server does
  // (builds/durations.py): 45 s, 3 min 5 s, 3 min, 2 h 4 min, 2 h.
  function spoken(t) {
    if (t == null) return "";
    t = Math.max(0, Math.floor(t));
    if (t < 60) return t + " s";
    var m = Math.floor(t / 60), s = t % 60;
    if (m < 60) return m + " min" + (s ? " " + s + " s" : "");
    var h = Math.floor(m / 60); m = m % 60;
    return h + " h" + (m ? " " + m + " min" : "");
  }

  function statusPill(status) {
    return '<span class="status status-' + esc(status) + '" data-status="' + esc(status) + '">' +
      esc(status) + "</span>";
  }

  // --- rows: step headers and lines ---------------------------------------------

  // A segment is a step's run of lines (or the whole log when there are no
  // steps); with steps, each has a header row and may be folded.
  function buildSegments() {
    var segs = [], total = S.total, secs = S.sections;
    if (!secs.length) {
      segs.push({key: "all", header: null, from: 1, to: total});
    } else {
      var firstLine = total + 1;
      for (var i = 0; i < secs.length; i++) if (secs[i].line != null) { firstLine = secs[i].line; break; }
      if (firstLine > 1 && total > 0) {
        segs.push({key: "setup", header: {name: "Set up", status: null, duration: null}, from: 1,
                   to: Math.min(firstLine - 1, total)});
      }
      secs.forEach(function (s, i) {
        var from = 1, to = 0;
        if (s.line != null) {
          from = s.line; to = total;
          for (var j = i + 1; j < secs.length; j++) if (secs[j].line != null) { to = secs[j].line - 1; break; }
          to = Math.min(to, total);
        }
        segs.push({key: "s" + s.number, header: s, from: from, to: to});
      });
    }
    var rows = 0;
    segs.forEach(function (g) {
      g.n = Math.max(0, g.to - g.from + 1);
      g.open = !S.folded[g.key];
      g.row = rows;
      rows += (g.header ? 1 : 0) + (g.open ? g.n : 0);
    });
    S.segments = segs;
    S.rowCount = rows;
  }

  function segment(key) {
    for (var i = 0; i < S.segments.length; i++) if (S.segments[i].key === key) return S.segments[i];
    return null;
  }

  function itemAt(r) {
    var segs = S.segments, lo = 0, hi = segs.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (segs[mid].row <= r) lo = mid; else hi = mid - 1;
    }
    var g = segs[lo], k = r - g.row;
    if (g.header) { if (k === 0) return {seg: g, line: null}; k -= 1; }
    return {seg: g, line: g.from + k};
  }

  function rowOfLine(n) {
    for (var i = 0; i < S.segments.length; i++) {
      var g = S.segments[i];
      if (n >= g.from && n <= g.to) {
        if (!g.open) { S.folded[g.key] = false; buildSegments(); return rowOfLine(n); }
        return g.row + (g.header ? 1 : 0) + (n - g.from);
      }
    }
    return Math.max(S.rowCount - 1, 0);
  }

  // --- geometry ---------------------------------------------------------------------

  function geometry() {
    var h = S.rowCount * LH, vh = box.clientHeight;
    if (h <= MAX_PX) return {h: h, ratio: 1};
    return {h: MAX_PX, ratio: (h - vh) / (MAX_PX - vh)};
  }

  function setScroll(top) {
    box.scrollTop = Math.max(0, top);
    S.expectTop = box.scrollTop;
  }

  function scrollToRow(row, where) {
    var g = geometry();
    spacer.style.height = g.h + "px";
    setScroll((row * LH - box.clientHeight * where) / g.ratio);
  }

  // --- drawing ------------------------------------------------------------------------

  // The server colours 256-colour and true-colour ANSI text with style="…"
  // attributes, which the Content-Security-Policy (style-src 'self', no
  // 'unsafe-inline') forbids in markup. They arrive as data-style instead and
  // are applied through the CSSOM, which the policy allows. Only attributes
  // of the server's own <span> tags match: log text is HTML-escaped.
  function setLogHtml(el, html) {
    el.innerHTML = html.replace(/(<span[^>]*?) style="/g, "$1 data-style=\"");
    el.querySelectorAll("[data-style]").forEach(function (span) {
      span.getAttribute("data-style").split(";").forEach(function (decl) {
        var i = decl.indexOf(":");
        if (i > 0) span.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
      });
      span.removeAttribute("data-style");
    });
  }

  function lineHtml(n, content, time, loading) {
    var cls = "ln";
    if (S.selection && n >= S.selection[0] && n <= S.selection[1]) cls += " sel";
    if (S.matchSet && S.matchSet.has(n)) cls += n === S.matches[S.matchIndex] ? " hit cur" : " hit";
    if (loading) cls += " loading";
    return '<div class="' + cls + '" data-l="' + n + '"><a class="n" href="#L' + n + '">' + n +
      '</a><span class="ts">' + clock(time) + '</span><span class="c">' + content + "</span></div>";
  }

  function headerHtml(g) {
    var s = g.header;
    return '<div class="sec' + (g.open ? " open" : "") + '" data-seg="' + g.key + '">' +
      '<button type="button" class="fold" aria-expanded="' + g.open + '">' + (g.open ? "▾" : "▸") + "</button>" +
      '<span class="sec-name">' + esc(s.name) + "</span>" + (s.status ? statusPill(s.status) : "") +
      '<span class="sec-dur">' + spoken(s.duration) + "</span>" +
      '<span class="sec-lines">' + g.n + " line" + (g.n === 1 ? "" : "s") + "</span></div>";
  }

  function stableLines() {
    // Lines up to here are finished on the server and never change.
    return S.complete ? S.total : S.total - (S.partial ? 1 : 0);
  }

  function queueRender() {
    if (S.renderQueued) return;
    S.renderQueued = true;
    requestAnimationFrame(render);
  }

  function render() {
    S.renderQueued = false;
    var empty = S.rowCount === 0;
    spacer.hidden = empty;
    emptyEl.hidden = !empty;
    if (empty) {
      emptyEl.textContent = S.complete ? "This job printed nothing." :
        S.status === "queued" ? "The log starts when the job does." :
        S.status === "blocked" ? "Nothing runs until the pull request is approved." : "Waiting for output…";
      return;
    }
    var g = geometry();
    spacer.style.height = g.h + "px";
    if (S.follow) setScroll(box.scrollHeight);
    var vh = box.clientHeight, st = box.scrollTop, v = st * g.ratio;
    var first = Math.max(0, Math.floor(v / LH) - OVERSCAN);
    var last = Math.min(S.rowCount - 1, Math.ceil((v + vh) / LH) + OVERSCAN);
    rowsEl.style.transform = "translateY(" + (st + first * LH - v) + "px)";
    var html = [], need = {}, stable = stableLines();
    S.tick++;
    for (var r = first; r <= last; r++) {
      var it = itemAt(r);
      if (it.line == null) { html.push(headerHtml(it.seg)); continue; }
      var p = Math.floor((it.line - 1) / PAGE), k = (it.line - 1) % PAGE;
      var page = S.pages.get(p);
      var content = page ? page.lines[k] : null;
      if (page) page.used = S.tick;
      // Fetch what is missing, and what was still growing when fetched but
      // has ended since (the live poll only re-reads the last page).
      if (content == null || (k >= page.complete && it.line <= stable)) need[p] = true;
      html.push(lineHtml(it.line, content == null ? "" : content, page ? page.times[k] : null, content == null));
    }
    // Rewriting identical rows would only cost time and drop a reader's
    // text selection on every poll.
    var joined = html.join("");
    if (joined !== S.drawn) {
      setLogHtml(rowsEl, joined);
      S.drawn = joined;
      markMatches();
    }
    Object.keys(need).forEach(function (p) { fetchPage(+p); });
    prune();
  }

  function markMatches() {
    if (!S.query || !S.matchSet) return;
    var q = S.query.toLowerCase();
    rowsEl.querySelectorAll(".ln.hit .c").forEach(function (c) {
      var walker = document.createTreeWalker(c, NodeFilter.SHOW_TEXT), nodes = [], n;
      while ((n = walker.nextNode())) nodes.push(n);
      nodes.forEach(function (node) {
        var text = node.nodeValue, lower = text.toLowerCase(), at = lower.indexOf(q);
        if (at < 0) return;
        var frag = document.createDocumentFragment(), pos = 0;
        while (at >= 0) {
          frag.appendChild(document.createTextNode(text.slice(pos, at)));
          var mark = document.createElement("mark");
          mark.textContent = text.slice(at, at + q.length);
          frag.appendChild(mark);
          pos = at + q.length;
          at = lower.indexOf(q, pos);
        }
        frag.appendChild(document.createTextNode(text.slice(pos)));
        node.parentNode.replaceChild(frag, node);
      });
    });
  }

  function prune() {
    if (S.pages.size <= KEEP_PAGES) return;
    var entries = Array.from(S.pages.entries()).sort(function (a, b) { return a[1].used - b[1].used; });
    for (var i = 0; S.pages.size > KEEP_PAGES && i < entries.length; i++) S.pages.delete(entries[i][0]);
  }

  // --- data -------------------------------------------------------------------------------

  function store(d) {
    var stable = d.complete ? d.total : d.total - (d.partial ? 1 : 0);
    var touched = {};
    for (var i = 0; i < d.lines.length; i++) {
      var n = d.start + i, p = Math.floor((n - 1) / PAGE), k = (n - 1) % PAGE;
      var page = S.pages.get(p);
      if (!page) { page = {lines: [], times: [], complete: 0, used: S.tick}; S.pages.set(p, page); }
      page.lines[k] = d.lines[i];
      page.times[k] = d.times[i];
      page.used = S.tick;
      touched[p] = true;
    }
    Object.keys(touched).forEach(function (p) {
      var page = S.pages.get(+p), base = +p * PAGE;
      // Count as finished only lines read contiguously from the page's
      // finished part, and finished on the server at the time of reading.
      if (d.start <= base + page.complete + 1) {
        var upto = Math.min(d.start + d.lines.length - 1, stable) - base;
        page.complete = Math.max(page.complete, Math.min(upto, PAGE));
      }
    });
  }

  function apply(d) {
    S.failures = 0;
    $("log-conn").hidden = true;
    store(d);
    S.total = d.total;
    S.partial = d.partial;
    S.complete = d.complete;
    S.sections = d.sections || [];
    box.style.setProperty("--n-width", (String(S.total).length + 2) + "ch");
    buildSegments();
    updateHeader(d);
    queueRender();
  }

  function fetchPage(p) {
    if (S.pending[p]) return;
    var page = S.pages.get(p);
    var start = p * PAGE + 1 + (page ? page.complete : 0);
    var count = (p + 1) * PAGE - start + 1;
    if (count <= 0) return;
    S.pending[p] = true;
    get(API + "lines?start=" + start + "&count=" + count)
      .then(function (d) { delete S.pending[p]; apply(d); })
      .catch(function () { setTimeout(function () { delete S.pending[p]; queueRender(); }, 1000); });
  }

  function lastPageVisible() {
    var rows = rowsEl.children;
    if (!rows.length) return true;
    var lastShown = rows[rows.length - 1].dataset.l;
    return !lastShown || +lastShown >= S.total - PAGE;
  }

  function poll() {
    if (S.complete) return;
    var url;
    if (S.follow || lastPageVisible()) {
      var p = Math.floor(Math.max(S.total - 1, 0) / PAGE), page = S.pages.get(p);
      var start = p * PAGE + 1 + (page ? page.complete : 0);
      if (start > (p + 1) * PAGE) start = (p + 1) * PAGE + 1;
      var end = Math.floor((start - 1) / PAGE) * PAGE + PAGE;
      url = API + "lines?start=" + start + "&count=" + (end - start + 1);
    } else {
      url = API + "lines?start=1&count=0";  // just the news: status, line count, steps
    }
    get(url).then(function (d) {
      var behind = d.lines.length && d.start + d.lines.length - 1 < d.total;
      apply(d);
      announce(d);
      if (!S.complete) setTimeout(poll, behind ? 30 : document.hidden ? 2000 : POLL_MS);
    }, function (e) {
      if (e.status === 404 || e.status === 403 || e.status === 401) return;
      S.failures++;
      $("log-conn").hidden = false;
      setTimeout(poll, Math.min(500 * S.failures, 5000));
    });
  }

  // --- the header ---------------------------------------------------------------------------

  function updateHeader(d) {
    if (d.status !== S.status) {
      S.status = d.status;
      root.dataset.status = d.status;
      $("job-status").innerHTML = statusPill(d.status);
    }
    showState(d.status, d.complete);
    var reason = $("job-reason");
    reason.textContent = d.reason || "";
    reason.hidden = !d.reason;
    var waiting = $("job-waiting");
    waiting.hidden = !(d.waiting && d.waiting.length);
    if (d.waiting && d.waiting.length) {
      waiting.querySelector("ul").innerHTML = d.waiting.map(function (w) { return "<li>" + esc(w) + "</li>"; }).join("");
    }
    var approval = $("job-approval");
    if (approval && d.status !== "blocked") approval.hidden = true;
    var cancel = $("cancel-form");
    if (cancel && d.complete) cancel.hidden = true;
    S.duration = d.duration;
    S.durationAt = Date.now();
    S.eta = d.eta || null;
    tickDuration();
    drawTimeline(d);
    $("line-count").textContent = S.total.toLocaleString("en") + " line" + (S.total === 1 ? "" : "s");
    (d.sections || []).forEach(function (s) {
      var li = document.querySelector('#steps li[data-step="' + s.number + '"]');
      if (!li) return;
      li.querySelector(".step-status").innerHTML = statusPill(s.status);
      li.querySelector(".step-duration").textContent = spoken(s.duration);
    });
    $("follow").checked = S.follow;
  }

  function tickDuration() {
    var el = $("job-duration");
    var running = !S.complete && S.status === "running";
    tickEta(running);
    if (S.duration == null) { el.textContent = "not started"; return; }
    var t = S.duration + (running ? (Date.now() - S.durationAt) / 1000 : 0);
    el.textContent = (running ? "running for " : "ran ") + spoken(t);
  }

  // --- what the tab and the page say of the job's state -----------------------------------

  // The tab's title starts with the status and its icon shows it, so a
  // build can be watched from another tab (the icons' hashed URLs come
  // from the page: builds/templatetags/live.py).
  var favicon = $("favicon");
  var icons = favicon ? JSON.parse(favicon.dataset.icons || "{}") : {};
  function showState(status, complete) {
    var title = status + " · " + document.title.replace(/^[^·]*· /, "");
    if (document.title !== title) document.title = title;
    if (favicon && icons[status] && favicon.getAttribute("href") !== icons[status]) favicon.href = icons[status];
    // "Cancelling #8" (builds/views.py job_cancel) would contradict the
    // badge once the worker has stopped it.
    if (complete) {
      var num = root.querySelector(".num").textContent;
      document.querySelectorAll(".messages li.cancelling").forEach(function (li) {
        li.textContent = status === "cancelled" ? "Cancelled " + num + "." : num + " ended before it could be cancelled: " + status + ".";
        li.classList.remove("cancelling");
      });
    }
  }

  // "about 40 s left": the server's estimate (builds/durations.py), counted
  // down here between polls, said the server's way (left_text).
  function tickEta(running) {
    var box = $("job-eta");
    if (!box) return;
    if (!running || !S.eta || S.duration == null) { box.hidden = true; return; }
    var elapsed = S.duration + (Date.now() - S.durationAt) / 1000, expected = S.eta.expected;
    var left = expected - elapsed;
    $("eta-bar").value = Math.min(elapsed / expected, 1);
    $("eta-text").textContent = left <= 0 ? "taking longer than usual (about " + spoken(expected) + ")" :
      "about " + spoken(left < 10 ? left : Math.ceil(left / 5) * 5) + " left";
    box.hidden = false;
  }

  // Each step on one bar spanning the job (builds/templatetags/live.py
  // `timeline`, the same arithmetic), moved as steps start and end.
  var SVG = "http://www.w3.org/2000/svg", TL_WIDTH = 1000;
  function drawTimeline(d) {
    var svg = $("timeline");
    if (!svg || !d.started_at) return;
    var start = Date.parse(d.started_at), now = Date.now();
    var total = Math.max(d.duration || (now - start) / 1000, 1), any = false;
    (d.sections || []).forEach(function (s) {
      if (!s.started_at) return;
      any = true;
      var offset = Math.max((Date.parse(s.started_at) - start) / 1000, 0);
      var secs = s.duration != null ? s.duration : Math.max((now - Date.parse(s.started_at)) / 1000, 0);
      var x = Math.min(TL_WIDTH * offset / total, TL_WIDTH - 2);
      var w = Math.max(Math.min(TL_WIDTH * secs / total, TL_WIDTH - x), 2);
      var rect = svg.querySelector('rect[data-step="' + s.number + '"]');
      if (!rect) {
        rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("data-step", s.number);
        rect.setAttribute("y", "0");
        rect.setAttribute("height", "12");
        rect.appendChild(document.createElementNS(SVG, "title"));
        svg.appendChild(rect);
      }
      rect.setAttribute("class", "tl tl-" + s.status);
      rect.setAttribute("x", x.toFixed(1));
      rect.setAttribute("width", w.toFixed(1));
      rect.firstChild.textContent = s.name + ": " + s.status + ", from " + spoken(offset) + " for " + spoken(secs);
    });
    if (any) svg.hidden = false;
  }

  // --- the log's news for screen readers --------------------------------------------------

  // The log box is not a live region: it is redrawn on every scroll and
  // poll, and a reader would hear it all again. The lines that arrived
  // since, and only those, go to #log-news (aria-live=polite), gathered
  // for NEWS_MS so a chatty build is told in a few breaths, not 2.5 a
  // second; past NEWS_LINES a batch just says how many more came.
  var NEWS_LINES = 10, NEWS_MS = 2000, parser = document.createElement("template");
  var news = {texts: [], more: 0, timer: null, last: 0};
  function announce(d) {
    var stable = d.complete ? d.total : d.total - (d.partial ? 1 : 0);
    if (S.announced == null) { S.announced = stable; return; }  // the page's first read: not news
    if (stable <= S.announced) return;
    for (var n = S.announced + 1; n <= stable; n++) {
      var i = n - d.start;
      if (news.texts.length < NEWS_LINES && i >= 0 && i < d.lines.length) {
        parser.innerHTML = d.lines[i];  // a <template>: inert, nothing in it loads or runs
        news.texts.push(parser.content.textContent);
      } else {
        news.more++;
      }
    }
    S.announced = stable;
    if (!news.timer) news.timer = setTimeout(tell, Math.max(0, news.last + NEWS_MS - Date.now()));
  }
  function tell() {
    var texts = news.texts;
    if (news.more) texts.push(news.more + " more line" + (news.more === 1 ? "" : "s"));
    news.texts = []; news.more = 0; news.timer = null; news.last = Date.now();
    var box = $("log-news"), p = document.createElement("p");
    p.textContent = texts.join("\n");
    box.appendChild(p);
    while (box.childNodes.length > 5) box.removeChild(box.firstChild);
  }

  // --- permalinks, folding, following ------------------------------------------------------

  function parseHash() {
    var m = /^#L(\d+)(?:-L?(\d+))?$/.exec(location.hash);
    if (!m) return null;
    var a = +m[1], b = m[2] ? +m[2] : a;
    return a <= b ? [a, b] : [b, a];
  }

  function setFollow(on) {
    S.follow = on;
    $("follow").checked = on;
  }

  // The log fills what is left of the first screen under the header, so
  // the tail (where a job opens) is in sight without scrolling the page.
  function fitBox() {
    var top = box.getBoundingClientRect().top + window.scrollY;
    box.style.height = Math.max(288, window.innerHeight - top - 12) + "px";
  }
  fitBox();
  window.addEventListener("resize", fitBox);

  function showLine(n) {
    setFollow(false);
    if (box.getBoundingClientRect().bottom > window.innerHeight || box.getBoundingClientRect().top < 0) {
      box.scrollIntoView({block: "nearest"});
    }
    n = Math.max(1, Math.min(n, S.total));
    scrollToRow(rowOfLine(n), 1 / 3);
    queueRender();
  }

  function applyHash() {
    S.selection = parseHash();
    if (S.selection) showLine(S.selection[0]);
    queueRender();
  }
  window.addEventListener("hashchange", applyHash);

  rowsEl.addEventListener("click", function (e) {
    var a = e.target.closest("a.n");
    if (a) {
      e.preventDefault();
      var n = +a.parentNode.dataset.l;
      var sel = e.shiftKey && S.selection ? [Math.min(S.selection[0], n), Math.max(S.selection[1], n)] : [n, n];
      S.selection = sel;
      history.replaceState(null, "", "#L" + sel[0] + (sel[1] !== sel[0] ? "-L" + sel[1] : ""));
      setFollow(false);
      queueRender();
      return;
    }
    var head = e.target.closest(".sec");
    if (head) toggleFold(head.dataset.seg);
  });

  function toggleFold(key) {
    var g = segment(key);
    if (!g) return;
    // Keep the header where it is on screen while rows above/below change.
    var before = geometry(), y = g.row * LH - box.scrollTop * before.ratio;
    S.folded[key] = !S.folded[key];
    buildSegments();
    setFollow(false);
    var after = geometry();
    spacer.style.height = after.h + "px";
    setScroll((segment(key).row * LH - y) / after.ratio);
    queueRender();
  }

  document.querySelectorAll("#steps .step-link").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      var g = segment("s" + a.closest("li").dataset.step);
      if (!g) return;
      if (!g.open) { S.folded[g.key] = false; buildSegments(); g = segment(g.key); }
      setFollow(false);
      scrollToRow(g.row, 0);
      box.scrollIntoView({block: "start"});
      queueRender();
    });
  });

  box.addEventListener("scroll", function () {
    var top = box.scrollTop;
    if (Math.abs(top - S.expectTop) > 1) {
      // A person scrolled: up stops following the tail, back to the end resumes it.
      var atEnd = top + box.clientHeight >= box.scrollHeight - 2;
      if (top < S.lastTop && !atEnd) setFollow(false);
      else if (atEnd && !S.complete) setFollow(true);
      S.expectTop = -1;
    }
    S.lastTop = top;
    queueRender();
  }, {passive: true});
  window.addEventListener("resize", queueRender);

  $("follow").addEventListener("change", function (e) {
    setFollow(e.target.checked);
    if (e.target.checked && box.getBoundingClientRect().bottom > window.innerHeight) {
      box.scrollIntoView({block: "end"});
    }
    queueRender();
  });

  var tsBox = $("timestamps");
  function setTimestamps(on) {
    box.classList.toggle("show-ts", on);
    tsBox.checked = on;
    try { localStorage.setItem("herald.timestamps", on ? "1" : ""); } catch (e) { /* private mode */ }
  }
  tsBox.addEventListener("change", function () { setTimestamps(tsBox.checked); });
  try { setTimestamps(!!localStorage.getItem("herald.timestamps")); } catch (e) { /* private mode */ }

  // --- search (on the server: the browser never has the whole log) --------------------------

  function goMatch(i) {
    if (!S.matches.length) return;
    S.drawn = "";
    S.matchIndex = (i + S.matches.length) % S.matches.length;
    $("search-count").textContent = (S.matchIndex + 1) + " of " + S.matches.length + (S.truncated ? "+" : "");
    showLine(S.matches[S.matchIndex]);
  }

  $("log-search").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = $("log-q").value.trim();
    if (!q) { S.query = ""; S.matches = []; S.matchSet = null; S.drawn = ""; $("search-count").textContent = ""; queueRender(); return; }
    if (q === S.query && S.matches.length) { goMatch(S.matchIndex + 1); return; }
    $("search-count").textContent = "searching…";
    get(API + "search?q=" + encodeURIComponent(q)).then(function (d) {
      S.query = q;
      S.matches = d.matches;
      S.truncated = d.truncated;
      S.matchSet = new Set(d.matches);
      S.drawn = "";
      if (!d.matches.length) { $("search-count").textContent = "no match"; queueRender(); return; }
      goMatch(0);
    }, function () { $("search-count").textContent = "search failed"; });
  });
  $("search-next").addEventListener("click", function () { goMatch(S.matchIndex + 1); });
  $("search-prev").addEventListener("click", function () { goMatch(S.matchIndex - 1); });

  // --- start: learn the size, open at the permalink or at the tail ------------------------------

  get(API + "lines?start=1&count=0").then(function (d) {
    apply(d);
    announce(d);  // only what arrives from now on is news
    if (parseHash()) applyHash(); else setFollow(true);
    queueRender();
    if (!S.complete) setTimeout(poll, POLL_MS);
  }, function () {
    $("log-conn").hidden = false;
    setTimeout(function () { location.reload(); }, 5000);
  });

  // --- the keyboard (listed behind "?": the #shortcuts dialog) ------------------------------

  var shortcuts = $("shortcuts");
  function showShortcuts() { if (shortcuts && !shortcuts.open) shortcuts.showModal(); }
  $("show-shortcuts").addEventListener("click", showShortcuts);
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    // Never while typing, nor under an open dialog (Escape closes that natively).
    if (t.closest && t.closest("input, textarea, select, [contenteditable], dialog")) return;
    if (document.querySelector("dialog[open]")) return;
    var done = true;
    if (e.key === "/") { $("log-q").focus(); $("log-q").select(); }
    else if (e.key === "n") goMatch(S.matchIndex + 1);
    else if (e.key === "N") goMatch(S.matchIndex - 1);
    else if (e.key === "f") { setFollow(!S.follow); if (S.follow) queueRender(); }
    else if (e.key === "?") showShortcuts();
    else done = false;
    if (done) e.preventDefault();
  });
})();
