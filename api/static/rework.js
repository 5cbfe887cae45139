// Rework station: keyboard only, no page reload per key. Every key is queued and sent in order; each
// answer replaces the station's state and is acknowledged by colour, a toast and a sound, accepted or not.
// A keyboard-wedge scanner types a burst of characters + Enter: characters that arrive while the scan field is
// empty wait QUIET_MS; an Enter makes them a scan, otherwise a short run of key letters is that many keys
// (two F within 40 ms are two false calls, never a lost key), and anything else is typing in the scan field.
(function () {
  "use strict";
  var QUIET_MS = 90;
  var KEYS = "SCLFNRU";
  var scan = document.getElementById("scan");
  var station = document.getElementById("station");
  var texts = document.getElementById("texts").dataset;
  var buffer = "", timer = null, confirmRest = false;
  var queue = Promise.resolve();

  function $(sel) { return station.querySelector(sel); }

  // Scan-to-overlay time: from the Enter of the scan to the image with its outlines on screen.
  document.getElementById("scan-form").addEventListener("submit", function () {
    try { sessionStorage.setItem("eltraceScanAt", String(Date.now())); } catch (e) { /* private mode */ }
  });
  var started = Number(sessionStorage.getItem("eltraceScanAt") || 0);
  function shown() {
    if (started) { document.body.dataset.scanToOverlayMs = String(Date.now() - started); sessionStorage.removeItem("eltraceScanAt"); started = 0; }
    document.body.dataset.overlayReady = "1";
  }
  var img = station.querySelector(".img-wrap img");
  if (img) { if (img.complete && img.naturalWidth) { shown(); } else { img.addEventListener("load", shown); } }
  else if (started) { shown(); }

  var say = window.EltraceKeys.say;

  function rows() { return Array.prototype.slice.call(station.querySelectorAll("#defects tbody tr:not(.done)")); }
  function current() { return station.querySelector("#defects tbody tr.current"); }
  function zoomTo(row) {
    var zoom = $("#zoom"), box = (row.dataset.box || "").split(",").map(Number);
    if (!zoom || box.length !== 4 || zoom.dataset.string !== row.dataset.string) { return; }
    var pad = Math.max(box[2], box[3]) * 0.6;
    zoom.setAttribute("viewBox", [box[0] - pad, box[1] - pad / 3, box[2] + 2 * pad, box[3] + 2 * pad / 3].join(" "));
    var r = $("#zoom-box");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]); r.setAttribute("width", box[2]); r.setAttribute("height", box[3]);
  }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("current"); });
    station.querySelectorAll(".overlay g.current").forEach(function (g) { g.classList.remove("current"); });
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
    var g = document.getElementById("ov-" + row.dataset.defect);
    if (g) { g.classList.add("current"); }
    var cells = row.querySelectorAll("td"), now = $(".now");
    if (now) {  // DOM nodes, never markup from data: the class name came from a device
      var cls = document.createElement("strong");
      cls.textContent = cells[3].textContent;
      var words = (now.dataset.template || "String %(s)s, cell %(c)s: ")
        .replace("%(s)s", cells[1].textContent).replace("%(c)s", cells[2].textContent);
      now.replaceChildren(document.createTextNode(words), cls);
    }
    zoomTo(row);
  }
  function keep() {  // after an answer: the current cell stays in view, the scan field keeps the focus
    var row = current();
    if (row) { row.scrollIntoView({ block: "nearest" }); }
    scan.focus();
  }

  function send(key, lot) {
    queue = queue.then(function () {
      var state = $("#state"), form = $("#dispose-form"), undo = $("#undo-form"), row = current();
      if (!state) { say(false, texts.nothing); return null; }
      if (state.dataset.locked) { say(false, texts.locked); return null; }
      var loop, defect;
      if (key === "U") {
        if (!undo) { say(false, texts.noUndo); return null; }
        loop = undo.dataset.loop; defect = undo.dataset.defect;
      } else {
        if (!form || !row) { say(false, texts.nothing); return null; }
        loop = row.dataset.loop; defect = row.dataset.defect;
      }
      var body = new URLSearchParams({
        csrf_token: station.querySelector("input[name=csrf_token]").value,
        barcode: state.dataset.barcode, station: station.dataset.station,
        loop_id: loop, defect_id: defect, key: key, new_cell_lot: lot || ""
      });
      var back = "/rework?" + new URLSearchParams({ barcode: state.dataset.barcode, station: station.dataset.station });
      return window.EltraceKeys.post("/rework/key", body, back).then(function (res) {
        if (res.answer.html !== undefined) { station.innerHTML = res.answer.html; }
        say(res.ok, res.answer.detail);
        keep();
      });
    }).catch(window.EltraceKeys.offline);
  }

  function act(k) {
    var lotBox = $("#lot-box");
    if (k === "R") {
      var row = current();
      if (!row) { say(false, texts.nothing); return; }
      if (confirmRest) { confirmRest = false; send("R"); return; }
      confirmRest = true;
      say(true, texts.rest.replace("%(s)s", row.dataset.string));
      return;
    }
    if (confirmRest) { confirmRest = false; say(false, texts.cancelled); return; }
    if (k === "C" && lotBox) { lotBox.hidden = false; var lot = $("#lot"); lot.value = ""; lot.focus(); return; }
    send(k);
  }

  function flush() {  // the quiet time passed without an Enter
    var chars = buffer; buffer = ""; timer = null;
    var upper = chars.toUpperCase();
    if (chars.length <= 3 && upper.split("").every(function (c) { return KEYS.indexOf(c) >= 0; })) {
      upper.split("").forEach(act);
    } else {
      scan.value += chars;  // typing a code by hand: it stays in the field
    }
  }

  // A touch or a click on a key button is the same key (no page load either).
  station.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-key]") : null;
    if (!btn) { return; }
    ev.preventDefault();
    act(btn.dataset.key);
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) { return; }
    var lotBox = $("#lot-box");
    if (lotBox && !lotBox.hidden) {
      if (ev.key === "Escape") { lotBox.hidden = true; scan.focus(); say(false, texts.cancelled); ev.preventDefault(); }
      else if (ev.key === "Enter") {
        ev.preventDefault();
        var lot = $("#lot").value.trim();
        if (!lot) { say(false, texts.lotFirst); return; }
        lotBox.hidden = true;
        send("C", lot);
      }
      return;
    }
    if (ev.key === "Escape") {
      clearTimeout(timer); buffer = ""; confirmRest = false;
      scan.value = ""; scan.focus(); ev.preventDefault(); return;
    }
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      var rs = rows(), cur = rs.findIndex(function (r) { return r.classList.contains("current"); });
      var next = rs[(cur + (ev.key === "ArrowDown" ? 1 : rs.length - 1)) % rs.length];
      if (next) { select(next); }
      ev.preventDefault();
      return;
    }
    if (ev.key === "Enter") {
      if (buffer) {  // a scanner's burst: it is a scan
        clearTimeout(timer); timer = null;
        scan.value += buffer; buffer = "";
      }
      return;  // the scan form submits (a new module: the one page load per scan)
    }
    if (ev.key.length !== 1) { return; }
    if (document.activeElement !== scan) { scan.focus(); }
    if (scan.value !== "") { return; }  // the field has text: the person is typing a code
    ev.preventDefault();
    buffer += ev.key;
    clearTimeout(timer);
    timer = setTimeout(flush, QUIET_MS);
  });
})();
