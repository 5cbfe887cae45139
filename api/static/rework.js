// Rework station: keyboard only. A keyboard-wedge scanner types a burst of characters + Enter, so a
// disposition key counts only when it arrives alone (no next key within BURST_MS) and the scan field is empty.
(function () {
  "use strict";
  var BURST_MS = 80;
  var scan = document.getElementById("scan");
  var form = document.getElementById("dispose-form");
  var lotBox = document.getElementById("lot-box");
  var lot = document.getElementById("lot");
  var undo = document.getElementById("undo-form");
  var pending = null, timer = null;

  document.getElementById("scan-form").addEventListener("submit", function () {
    try { sessionStorage.setItem("eltraceScanAt", String(Date.now())); } catch (e) { /* private mode */ }
  });

  // Scan-to-overlay time: from the Enter of the scan to the image with its outlines on screen.
  var img = document.querySelector(".img-wrap img");
  var started = Number(sessionStorage.getItem("eltraceScanAt") || 0);
  function shown() {
    if (started) { document.body.dataset.scanToOverlayMs = String(Date.now() - started); sessionStorage.removeItem("eltraceScanAt"); }
    document.body.dataset.overlayReady = "1";
  }
  if (img) { if (img.complete && img.naturalWidth) { shown(); } else { img.addEventListener("load", shown); } }
  else if (started) { document.body.dataset.scanToOverlayMs = String(Date.now() - started); sessionStorage.removeItem("eltraceScanAt"); }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#defects tbody tr:not(.done)")); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("current"); });
    document.querySelectorAll(".overlay g.current").forEach(function (g) { g.classList.remove("current"); });
    row.classList.add("current");
    var g = document.getElementById("ov-" + row.dataset.defect);
    if (g) { g.classList.add("current"); }
    document.getElementById("f-loop").value = row.dataset.loop;
    document.getElementById("f-defect").value = row.dataset.defect;
    var cells = row.querySelectorAll("td");
    var now = document.querySelector(".now");
    if (now) {  // DOM nodes, never markup from data: the class name came from a device
      var cls = document.createElement("strong");
      cls.textContent = cells[3].textContent;
      var words = (now.dataset.template || "String %(s)s, cell %(c)s: ")  // the page's language
        .replace("%(s)s", cells[1].textContent).replace("%(c)s", cells[2].textContent);
      now.replaceChildren(document.createTextNode(words), cls);
    }
  }
  function act(key) {
    if (key === "U") { if (undo) { undo.requestSubmit(undo.querySelector("button")); } return; }
    if (!form) { return; }
    if (key === "C") { lotBox.hidden = false; lot.value = ""; lot.focus(); return; }
    var btn = form.querySelector('button[data-key="' + key + '"]');
    if (btn) { form.requestSubmit(btn); }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) { return; }
    if (lotBox && !lotBox.hidden) {
      if (ev.key === "Escape") { lotBox.hidden = true; scan.focus(); ev.preventDefault(); }
      else if (ev.key === "Enter") { ev.preventDefault(); if (lot.value.trim()) { form.requestSubmit(form.querySelector('button[data-key="C"]')); } }
      return;
    }
    if (ev.key === "Escape") { scan.value = ""; scan.focus(); ev.preventDefault(); return; }
    if (form && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
      var rs = rows(), cur = rs.findIndex(function (r) { return r.classList.contains("current"); });
      var next = rs[(cur + (ev.key === "ArrowDown" ? 1 : rs.length - 1)) % rs.length];
      if (next) { select(next); }
      ev.preventDefault();
      return;
    }
    if (ev.key.length !== 1) { return; }
    if (document.activeElement !== scan) { scan.focus(); }
    if (pending !== null) {  // a second key within the burst window: it is a scan, keep the first character
      clearTimeout(timer);
      scan.value += pending;
      pending = null;
      return;
    }
    var k = ev.key.toUpperCase();
    if (scan.value === "" && ((form && "SCLFN".indexOf(k) >= 0) || (undo && k === "U"))) {
      ev.preventDefault();
      pending = ev.key;
      timer = setTimeout(function () { pending = null; act(k); }, BURST_MS);
    }
  });
})();
